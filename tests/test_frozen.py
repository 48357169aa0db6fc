"""Frozen, reviewed plans: `gateway plans freeze` writes a lock file, `serve --frozen` answers only from it.

A frozen gateway makes no model call and loads no model: a request that matches a frozen plan
or template runs, anything else is ``PLAN_NOT_FROZEN``. A lock file that is malformed or was
made for another SDL stops start-up with a clear message.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect
from test_plan_cache import URGENT, ask, source, start, titles
from typer.testing import CliRunner

from conftest import DEMO_SCHEMA, Harness, LiveServer, make_gateway, seed_tracker
from gateway import ScriptedProvider
from gateway.cli import app  # internal: the `gateway` command run in-process (typer's CliRunner)

DONE_COUNT = {
    "steps": [
        {
            "op": "aggregate",
            "model": "Task",
            "where": {"status": {"eq": "DONE"}},
            "aggregates": [{"fn": "count", "as": "count"}],
        }
    ],
    "result": 0,
    "params": {},
}
MARK_DONE = {
    "steps": [{"op": "update", "model": "Task", "where": {"title": {"eq": "Fix login"}}, "set": {"status": "DONE"}}],
    "result": 0,
    "params": {"title": "Fix login"},
}
HIGH = {"steps": [{"op": "find", "model": "Task", "where": {"priority": {"eq": "HIGH"}}}], "result": 0, "params": {}}
runner = CliRunner()


def learn(db: str) -> None:
    """Teach a cache some plans over HTTP, reject one, and stop."""
    h = start(db, ScriptedProvider([URGENT, DONE_COUNT, MARK_DONE, HIGH]))
    seed_tracker(h)
    ask(h, "tasks tagged urgent")
    h.server.gql('{ taskCount(q: "how many tasks are done") }')
    ask(h, "mark 'Fix login' done", op="mutation")
    ask(h, "high priority tasks")
    cache = h.gateway.plan_cache
    cache.reject(next(e.id for e in cache.list() if e.text == "high priority tasks"))
    h.server.stop()


def freeze(db: str, out: Path, *more: str, schema: Path = DEMO_SCHEMA) -> Any:
    return runner.invoke(app, ["plans", "freeze", "--output", str(out), "--schema", str(schema), "--db", db, *more])


def test_freeze_writes_a_stable_reviewable_lock_file(db_url: str, tmp_path: Path) -> None:
    learn(db_url)
    today = {
        "steps": [{"op": "find", "model": "Task", "where": {"dueDate": {"eq": dt.date.today().isoformat()}}}],
        "result": 0,
        "params": {},
    }
    h = start(db_url, ScriptedProvider([today]))
    ask(h, "tasks due today")
    h.server.stop()
    lock = tmp_path / "plans.lock.json"
    result = freeze(db_url, lock)
    assert result.exit_code == 0, result.output
    assert "'tasks due today': uses today's date, so it is not frozen" in " ".join(result.output.split())
    text = lock.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["version"] == 1 and len(doc["sdl"]) == 16
    summary = [(p["field"], p["kind"], p.get("template", p["request"]), p["reading"]) for p in doc["plans"]]
    assert summary == [
        (
            "mutation.tasks",
            "exact",
            "mark 'Fix login' done",
            'updated Tasks where title is "Fix login": set status to DONE',
        ),
        (
            "mutation.tasks",
            "template",
            "mark '{title}' done",
            'updated Tasks where title is "Fix login": set status to DONE',
        ),
        ("query.taskCount", "exact", "how many tasks are done", "counted Tasks where status is DONE"),
        ("query.tasks", "exact", "tasks tagged urgent", "found Tasks where tags.name is urgent, ordered by title"),
        ("query.tasks", "template", "tasks tagged {tag}", "found Tasks where tags.name is urgent, ordered by title"),
    ]  # the rejected plan is left out
    template = doc["plans"][4]
    assert template["params"] == {"tag": "urgent"} and template["plan"] == URGENT
    assert template["slots"] == {
        "tag": {"param": "tag", "type": "text", "words": 1, "path": ["steps", 0, "where", "tags", "name", "eq"]}
    }
    assert freeze(db_url, tmp_path / "again.json").exit_code == 0
    assert (tmp_path / "again.json").read_text(encoding="utf-8") == text  # stable: a diff shows only changes
    approved = freeze(db_url, tmp_path / "approved.json", "--approved-only")
    assert json.loads((tmp_path / "approved.json").read_text(encoding="utf-8"))["plans"] == [], approved.output


def test_a_frozen_gateway_serves_only_its_plans_with_no_model(db_url: str, tmp_path: Path) -> None:
    learn(f"sqlite:///{tmp_path / 'dev.db'}")
    lock = tmp_path / "plans.lock.json"
    assert freeze(f"sqlite:///{tmp_path / 'dev.db'}", lock).exit_code == 0
    model = ScriptedProvider([HIGH])
    h = Harness(LiveServer(make_gateway(db_url, provider=model, frozen=str(lock))).start(), model)
    try:
        seed_tracker(h)
        body = ask(h, "tasks tagged urgent")
        assert titles(body) == ["Fix login", "Push notifications"] and source(body) == ("frozen", "exact")
        home = ask(h, "tasks tagged home")
        assert titles(home) == ["Push notifications"] and source(home) == ("frozen", "template")
        count = h.server.gql('{ taskCount(q: "how many tasks are done") }')
        assert count["data"] == {"taskCount": 1}
        assert count["extensions"]["fields"]["taskCount"]["reading"] == "counted Tasks where status is DONE"
        done = ask(h, "mark 'Write docs' done", selection="title status", op="mutation")
        assert done["data"]["tasks"] == [{"title": "Write docs", "status": "DONE"}]
        before = h.server.gql("{ tasks { title status } }")["data"]
        for q, op in (
            ("high priority tasks", "query"),
            ("delete every task", "mutation"),
            ("Tasks tagged urgent", "query"),
        ):
            body = ask(h, q, op=op)
            assert body["errors"][0]["extensions"]["code"] == "PLAN_NOT_FROZEN", body
            assert body["data"] is None
        assert h.server.gql("{ tasks { title status } }")["data"] == before
        assert h.server.gql("{ projects(limit: 1) { name } }")["data"] == {"projects": [{"name": "Website"}]}
        assert model.calls == [] and h.gateway._planner is None  # no model call, no model loaded
        assert "_gateway_plans" not in inspect(h.gateway.engine).get_table_names()
    finally:
        h.server.stop()


def test_freeze_plans_the_literal_requests_of_a_documents_manifest(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    h = start(db, ScriptedProvider([]))
    seed_tracker(h)
    h.server.stop()
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(
        json.dumps(
            {
                "a1": 'query Urgent { tasks(q: "tasks tagged urgent") { title project { name } } }',
                "b2": "mutation Done { tasks(q: \"mark 'Fix login' done\") { title status } }",
                "c3": "query Ask($q: String!) { tasks(q: $q) { title } }",
                "d4": "query All { projects(limit: 5) { name } }",
            }
        ),
        encoding="utf-8",
    )
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps([URGENT, MARK_DONE]), encoding="utf-8")
    lock = tmp_path / "plans.lock.json"
    result = freeze(db, lock, "--documents", str(manifest), "--model", f"scripted:{answers}")
    assert result.exit_code == 0, result.output
    assert "c3 query.tasks: q or an argument is a variable" in result.output
    plans = json.loads(lock.read_text(encoding="utf-8"))["plans"]
    assert [(p["field"], p["request"], p["status"]) for p in plans] == [
        ("mutation.tasks", "mark 'Fix login' done", "learned"),
        ("query.tasks", "tasks tagged urgent", "learned"),
    ]
    # planned, never run: the mutation changed nothing
    gw = make_gateway(db, frozen=str(lock))
    try:
        from gateway import export_records

        assert {t["title"]: t["status"] for t in export_records(gw.executor)["Task"]}["Fix login"] == "TODO"
    finally:
        gw.close()


def test_freeze_refuses_a_bad_manifest_or_a_request_it_cannot_plan(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    lock = tmp_path / "plans.lock.json"
    bad = tmp_path / "bad.json"
    bad.write_text('["not", "a manifest"]', encoding="utf-8")
    result = freeze(db, lock, "--documents", str(bad))
    assert result.exit_code == 1 and "hash -> document" in " ".join(result.output.split()) and not lock.exists()
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"a": '{ tasks(q: "tasks in the moon base") { title } }'}), encoding="utf-8")
    answers = tmp_path / "answers.json"
    invalid = {"steps": [{"op": "find", "model": "MoonBase"}], "result": 0, "params": {}}
    answers.write_text(json.dumps([invalid] * 3), encoding="utf-8")
    result = freeze(db, lock, "--documents", str(manifest), "--model", f"scripted:{answers}")
    assert result.exit_code == 1 and "PLAN_INVALID" in result.output and not lock.exists()


def serve_frozen(lock: Path, schema: Path = DEMO_SCHEMA, db: str = "sqlite:///:memory:") -> Any:
    return runner.invoke(app, ["serve", "--frozen", str(lock), "--schema", str(schema), "--db", db])


def test_a_bad_lock_file_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'dev.db'}"
    learn(db)
    lock = tmp_path / "plans.lock.json"
    assert freeze(db, lock).exit_code == 0
    doc = json.loads(lock.read_text(encoding="utf-8"))

    other_sdl = tmp_path / "other.graphql"
    other_sdl.write_text(
        DEMO_SCHEMA.read_text(encoding="utf-8").replace("  role: String\n", "  role: String\n  x: Int\n"),
        encoding="utf-8",
    )
    result = serve_frozen(lock, schema=other_sdl)
    assert result.exit_code == 2 and "was made for another SDL" in " ".join(result.output.split()), result.output

    cases: list[tuple[str, str]] = [
        ("{ not json", "is not valid JSON"),
        (json.dumps({"plans": []}), "is not a plans lock file"),
        (
            json.dumps({**doc, "plans": [{**doc["plans"][0], "plan": {"steps": [{"op": "find", "model": "Nope"}]}}]}),
            "plan 1 (mutation.tasks",
        ),
        (
            json.dumps({**doc, "plans": [{**doc["plans"][4], "template": "tasks tagged {tag} now"}]}),
            "does not give back its own plan",
        ),
        (
            json.dumps(
                {
                    **doc,
                    "plans": [
                        {
                            **doc["plans"][4],
                            "slots": {"tag": {"param": "tag", "type": "text", "path": ["steps", 0, "limit"]}},
                        }
                    ],
                }
            ),
            "plan 1 (query.tasks",
        ),
        (json.dumps({**doc, "plans": [{**doc["plans"][0], "field": "query.nothing"}]}), "no root field"),
    ]
    for i, (text, message) in enumerate(cases):
        bad = tmp_path / f"bad{i}.json"
        bad.write_text(text, encoding="utf-8")
        result = serve_frozen(bad)
        assert result.exit_code == 2 and message in " ".join(result.output.split()), (message, result.output)
    missing = serve_frozen(tmp_path / "absent.json")
    assert missing.exit_code == 2 and "cannot read the lock file" in " ".join(missing.output.split())


def test_a_frozen_gateway_has_no_planner(tmp_path: Path) -> None:
    from gateway import PlanNotFrozen

    db = f"sqlite:///{tmp_path / 'store.db'}"
    lock = tmp_path / "empty.lock.json"
    assert freeze(db, lock).exit_code == 0  # an empty cache freezes to an empty, valid lock file
    gw = make_gateway(db, frozen=str(lock))
    try:
        with pytest.raises(PlanNotFrozen):
            _ = gw.planner
    finally:
        gw.close()
