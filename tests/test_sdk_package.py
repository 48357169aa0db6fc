"""The TypeScript SDK: its plan types are generated from the gateway's plan schema, its committed
build matches its source, and it installs with the one command the README gives."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.plan import generic_json_schema  # internal: the plan schema the SDK's types come from

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "sdk"
NODE, NPM = shutil.which("node"), shutil.which("npm")
needs_node = pytest.mark.skipif(not (NODE and NPM), reason="node and npm are not installed")


def test_the_committed_plan_schema_is_the_gateways() -> None:
    committed = json.loads((SDK / "schema" / "plan.schema.json").read_text(encoding="utf-8"))
    assert committed == generic_json_schema(), "run `npm run gen-types` in sdk/"


def _npm(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert NPM is not None
    return subprocess.run(
        [NPM, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


@pytest.fixture(scope="module")
def sdk_dev_packages() -> None:
    installed = SDK / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (SDK / "package-lock.json").stat().st_mtime:
        done = _npm("ci", "--no-audit", "--no-fund", cwd=SDK)
        assert done.returncode == 0, done.stderr


@needs_node
def test_the_plan_types_are_generated_from_the_current_schema(sdk_dev_packages: None) -> None:
    done = _npm("run", "gen-types", "--", "--check", cwd=SDK, env={"PYTHON": sys.executable})
    assert done.returncode == 0, done.stdout + done.stderr


@needs_node
def test_the_committed_build_is_the_build_of_the_source(sdk_dev_packages: None, tmp_path: Path) -> None:
    done = _npm("exec", "--", "tsc", "-p", "tsconfig.json", "--outDir", str(tmp_path), cwd=SDK)
    assert done.returncode == 0, done.stdout + done.stderr
    built = sorted(p.name for p in tmp_path.iterdir())
    assert built == sorted(p.name for p in (SDK / "dist").iterdir())
    _, mismatched, errors = filecmp.cmpfiles(tmp_path, SDK / "dist", built, shallow=False)
    assert not mismatched and not errors, f"run `npm run build` in sdk/ and commit dist/: {mismatched or errors}"


@needs_node
def test_the_sdk_installs_into_a_fresh_project_without_a_build_step(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0", "type": "module"}', encoding="utf-8")
    done = _npm("install", "--no-audit", "--no-fund", str(SDK), cwd=app)
    assert done.returncode == 0, done.stderr
    assert NODE is not None
    script = (
        "import { createClient, askDocument } from 'llm-graphql-gateway-sdk';"
        "console.log(typeof createClient, askDocument('tasks', 'id'));"
    )
    run = subprocess.run(
        [NODE, "--input-type=module", "-e", script], cwd=app, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [
        "function",
        "query",
        "Ask($q:",
        "String!)",
        "{",
        "tasks(q:",
        "$q)",
        "{",
        "id",
        "}",
        "}",
    ]
