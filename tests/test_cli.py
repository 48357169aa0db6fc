"""The `gateway` command as a user runs it: check, import, export, ask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import DEMO_SCHEMA, TRACKER_SEED


def gateway(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "GATEWAY_SCHEMA": str(DEMO_SCHEMA), **env}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_check_prints_models_and_fails_on_a_bad_schema(tmp_path: Path) -> None:
    ok = gateway("check", cwd=tmp_path)
    assert ok.returncode == 0 and "model Task -> table Task" in ok.stdout and "Tag_tasks__Task_tags" in ok.stdout
    bad = tmp_path / "bad.graphql"
    bad.write_text("type Query {\n  a: Int\n}\n")
    result = gateway("check", "--schema", str(bad), cwd=tmp_path)
    assert result.returncode != 0 and "line 2" in result.stderr


def test_import_export_round_trip_and_refusal(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(TRACKER_SEED))
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    imported = gateway("import", str(seed), "--db", db, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "3 Task" in imported.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Task": [{"title": "no status"}]}))
    refused = gateway("import", str(bad), "--db", db, cwd=tmp_path)
    assert refused.returncode == 1 and "status" in refused.stderr
    out = tmp_path / "out.json"
    assert gateway("export", "--db", db, "--output", str(out), cwd=tmp_path).returncode == 0
    exported = json.loads(out.read_text())
    assert sorted(t["title"] for t in exported["Task"]) == ["Fix login", "Push notifications", "Write docs"]
    printed = gateway("export", "--db", db, cwd=tmp_path)
    assert json.loads(printed.stdout) == exported


def test_ask_runs_one_request_and_prints_json(tmp_path: Path) -> None:
    script = tmp_path / "answers.json"
    script.write_text(
        json.dumps(
            [
                {
                    "steps": [
                        {
                            "op": "find",
                            "model": "Task",
                            "where": {"tags": {"name": {"eq": "urgent"}}},
                            "orderBy": [{"field": "title", "direction": "asc"}],
                        }
                    ],
                    "result": 0,
                }
            ]
        )
    )
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(TRACKER_SEED))
    db = f"sqlite:///{tmp_path / 'ask.db'}"
    assert gateway("import", str(seed), "--db", db, cwd=tmp_path).returncode == 0
    result = gateway(
        "ask", "tasks tagged urgent", "--field", "tasks", "--db", db, "--model", f"scripted:{script}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert [t["title"] for t in body["data"]["tasks"]] == ["Fix login", "Push notifications"]
    assert body["extensions"]["fields"]["tasks"]["plan"]["steps"][0]["op"] == "find"


def test_a_store_that_is_down_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    result = gateway("export", "--db", "postgresql+psycopg://bob:hunter2@127.0.0.1:1/nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot use the store at postgresql+psycopg://bob:***@127.0.0.1:1/nowhere" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_ask_a_mutation(tmp_path: Path) -> None:
    script = tmp_path / "answers.json"
    script.write_text(
        json.dumps([{"steps": [{"op": "insert", "model": "Tag", "values": [{"name": "garden"}]}], "result": 0}])
    )
    db = f"sqlite:///{tmp_path / 'm.db'}"
    result = gateway(
        "ask",
        "add a tag garden",
        "--field",
        "tags",
        "--mutation",
        "--db",
        db,
        "--model",
        f"scripted:{script}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data"]["tags"][0]["name"] == "garden"
    listed = gateway("export", "--db", db, cwd=tmp_path)
    assert [t["name"] for t in json.loads(listed.stdout)["Tag"]] == ["garden"]
