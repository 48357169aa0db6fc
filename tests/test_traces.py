"""Traces of model calls, exported for fine-tuning the embedded model on a large model's plans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import LiveServer, insert_plan, make_gateway
from gateway import ScriptedProvider


def test_traces_record_calls_and_export_only_plans_that_ran(tmp_path: Path) -> None:
    traces = tmp_path / "traces.jsonl"
    model = ScriptedProvider([
        insert_plan("Task", {"title": "x", "status": "WRONG"}),           # invalid, then repaired
        insert_plan("Task", {"title": "Water plants", "status": "TODO"}),
        insert_plan("Task", {"title": "y", "status": "TODO", "project": "missing"}),  # valid, fails to run
    ])
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model, traces=str(traces))).start()
    try:
        assert server.gql('mutation { tasks(q: "add water plants") { title } }')["data"]
        assert server.gql('mutation { tasks(q: "add y to a missing project") { title } }')["errors"]
    finally:
        server.stop()
    lines = [json.loads(line) for line in traces.read_text().splitlines()]
    calls = [e for e in lines if e["kind"] == "call"]
    assert len(calls) == 3 and calls[0]["plan"] is None and calls[0]["errors"]
    assert calls[1]["plan"]["steps"][0]["values"][0]["title"] == "Water plants"
    assert all(c["messages"][-1]["role"] == "user" and "tokens" in c and "latencyMs" in c for c in calls)
    outcomes = [e["outcome"] for e in lines if e["kind"] == "outcome"]
    assert outcomes == ["ok", "PLAN_FAILED"]

    out = tmp_path / "finetune.jsonl"
    env = {**os.environ, "GATEWAY_TRACES": str(traces)}
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "traces", "export", "--output", str(out)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    examples = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(examples) == 1
    roles = [m["role"] for m in examples[0]["messages"]]
    assert roles[0] == "system" and roles[-2:] == ["user", "assistant"]
    assert "add water plants" in examples[0]["messages"][-2]["content"]
    assert json.loads(examples[0]["messages"][-1]["content"])["steps"][0]["values"][0]["status"] == "TODO"
