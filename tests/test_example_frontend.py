"""The task-tracker frontend example (examples/task-tracker: Vite + @urql/core, typed by codegen).

`npm run build` proves codegen from schema.graphql and the typecheck; then, for the built app
(`vite preview`) and for the one-command dev server (`npm start`), a fresh `gateway serve` with a
scripted model and a seeded SQLite file, Vite's proxy pointed at it, and the page driven in headless
Chromium by examples/task-tracker/test/app.test.mjs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "task-tracker"
NODE, NPM = shutil.which("node"), shutil.which("npm")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

pytestmark = [
    pytest.mark.skipif(not (NODE and NPM), reason="node and npm are not installed: no frontend example test"),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)"
    ),
]

SEED = {
    "Project": [{"id": "p1", "name": "Website"}, {"id": "p2", "name": "Mobile app"}],
    "Person": [{"id": "u1", "name": "Ada"}],
    "Task": [
        {"id": "t1", "title": "Fix login", "status": "TODO", "priority": "HIGH", "project": "p1", "assignee": "u1"},
        {"id": "t2", "title": "Write docs", "status": "DONE", "priority": "LOW", "project": "p1"},
        {"id": "t3", "title": "Push notifications", "status": "IN_PROGRESS", "priority": "HIGH", "project": "p2"},
    ],
}

# The scripted model's answers, in the order app.test.mjs asks: a question, a change, and a plan
# naming an unknown field three times (the first try and two repairs) for PLAN_INVALID.
BAD = {"steps": [{"op": "find", "model": "Task", "where": {"colour": {"eq": "red"}}}], "result": 0}
ANSWERS = [
    {"steps": [{"op": "find", "model": "Task", "where": {"priority": {"eq": "HIGH"}}}], "result": 0},
    {
        "steps": [
            {"op": "find", "model": "Project", "where": {"name": {"eq": "Website"}}, "limit": 1},
            {
                "op": "insert",
                "model": "Task",
                "values": [
                    {
                        "title": "Water plants",
                        "status": "TODO",
                        "priority": "LOW",
                        "project": {"$step": 0, "field": "id"},
                    }
                ],
            },
        ],
        "result": 1,
    },
    BAD,
    BAD,
    BAD,
]


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without GATEWAY_* settings a developer may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {**env, **extra}


def _run(cmd: list[str], cwd: Path, timeout: float) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_clean_env())
    assert done.returncode == 0, f"{' '.join(cmd)} in {cwd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def built_app() -> None:
    """`npm ci` where node_modules is missing or older than the lock file, then `npm run build`."""
    installed = APP / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (APP / "package-lock.json").stat().st_mtime:
        _run([NPM, "ci", "--no-audit", "--no-fund"], APP, timeout=600)
    _run([NPM, "run", "build"], APP, timeout=180)  # codegen + tsc --noEmit + vite build
    assert (APP / "dist" / "index.html").exists()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen, Path]]]:
    """Start processes in their own process groups (npm starts children); stop them all at the end."""
    started: list[tuple[subprocess.Popen, IO[str]]] = []

    def start(name: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        path = tmp_path / f"{name}.log"
        log = path.open("w", encoding="utf-8")
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append((proc, log))
        return proc, path

    yield start
    for proc, log in reversed(started):
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)  # the group this test started: the process and its children
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.time() > deadline:
            pytest.fail(f"{what} did not answer {url} in {timeout:.0f} s:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.mark.parametrize("mode", ["preview", "start"])
def test_frontend_against_gateway(
    mode: str, built_app: None, spawn: Callable[..., tuple[subprocess.Popen, Path]], tmp_path: Path
) -> None:
    # A seeded SQLite file and `gateway serve` with the scripted model, plan cache off.
    db = f"sqlite:///{tmp_path / 'gateway.db'}"
    schema = str(ROOT / "schema.graphql")
    (tmp_path / "seed.json").write_text(json.dumps(SEED), encoding="utf-8")
    (tmp_path / "answers.json").write_text(json.dumps(ANSWERS), encoding="utf-8")
    _run(
        [sys.executable, "-m", "gateway.cli", "import", str(tmp_path / "seed.json"), "--db", db, "--schema", schema],
        ROOT,
        timeout=120,
    )
    gateway_port = free_port()
    gateway, gateway_log = spawn(
        "gateway",
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--schema",
            schema,
            "--db",
            db,
            "--model",
            f"scripted:{tmp_path / 'answers.json'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(gateway_port),
        ],
        tmp_path,
        _clean_env(GATEWAY_PLAN_CACHE="false"),
    )
    _wait_ready(f"http://127.0.0.1:{gateway_port}/healthz", gateway, gateway_log, "gateway serve")

    # The app: the built files (`vite preview`) or the README's one command (`npm start`).
    app_port = free_port()
    flags = ["--host", "127.0.0.1", "--port", str(app_port), "--strictPort"]
    vite_cmd = (
        [NPM, "start", "--", *flags]
        if mode == "start"
        else [NODE, str(APP / "node_modules" / "vite" / "bin" / "vite.js"), "preview", *flags]
    )
    vite, vite_log = spawn("vite", vite_cmd, APP, _clean_env(GATEWAY_URL=f"http://127.0.0.1:{gateway_port}"))
    app_url = f"http://127.0.0.1:{app_port}/"
    _wait_ready(app_url, vite, vite_log, f"vite ({mode})")

    done = subprocess.run(
        [NODE, "--test", "test/app.test.mjs"],
        cwd=APP,
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(APP_URL=app_url, CHROMIUM_PATH=CHROMIUM, APP_SCREENSHOT=str(tmp_path / "app.png")),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"node --test test/app.test.mjs failed:\n{output}\n--- vite ---\n{vite_log.read_text()}"
        f"\n--- gateway ---\n{gateway_log.read_text()}"
    )
