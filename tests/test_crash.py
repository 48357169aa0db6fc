"""A server killed with SIGKILL mid-write leaves a consistent store: acknowledged writes stay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from conftest import ROOT, free_port, make_gateway
from gateway import export_records

PAIRS = 400


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            httpx.get(url.replace("/graphql", "/healthz"), timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def test_sigkill_during_a_stream_of_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    answers = [{"steps": [
        {"op": "insert", "model": "Project", "values": [{"name": f"pair {i}"}]},
        {"op": "insert", "model": "Task", "values": [{"title": f"pair {i}", "status": "TODO",
                                                      "project": {"$step": 0, "field": "id"}}]},
    ], "result": 1} for i in range(PAIRS)]
    script = tmp_path / "answers.json"
    script.write_text(json.dumps(answers))
    port = free_port()
    env = {**os.environ, "GATEWAY_PLAN_CACHE": "false", "GATEWAY_MODEL": f"scripted:{script}",
           "GATEWAY_DB": f"sqlite:///{db}", "GATEWAY_SCHEMA": str(ROOT / "schema.graphql")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/graphql"
    acknowledged: list[str] = []
    try:
        wait_until_up(url, proc)

        def writer() -> None:
            with httpx.Client(timeout=10) as client:
                for i in range(PAIRS):
                    try:
                        r = client.post(url, json={"query": f'mutation {{ tasks(q: "pair {i}") {{ title }} }}'})
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200 and r.json().get("data"):
                        acknowledged.extend(t["title"] for t in r.json()["data"]["tasks"])

        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.time() + 60
        while len(acknowledged) < 40 and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        thread.join(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(acknowledged) >= 40

    gw = make_gateway(f"sqlite:///{db}")  # the next start opens the store without repair
    with gw.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    data = export_records(gw.executor)
    tasks = {t["title"]: t for t in data["Task"]}
    projects = {p["id"]: p["name"] for p in data["Project"]}
    assert set(acknowledged) <= set(tasks)
    # no partial plan: every project has its task and every task its project
    assert sorted(projects.values()) == sorted(tasks)
    assert all(projects[t["project"]] == title for title, t in tasks.items())
    assert len(tasks) < PAIRS  # the kill really happened mid-stream
    gw.close()
