"""The runnable examples work against a live gateway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT, LiveServer, insert_plan, make_gateway
from gateway import ScriptedProvider


def test_python_notebook_client(tmp_path: Path) -> None:
    model = ScriptedProvider([])
    model.route("plumber", insert_plan("Task", {"title": "Call the plumber", "status": "TODO", "priority": "HIGH"}))
    model.route("high priority tasks", {"steps": [{"op": "find", "model": "Task",
                                                   "where": {"priority": {"eq": "HIGH"}}}], "result": 0})
    model.route("delete every task", {"steps": [{"op": "delete", "model": "Task"}], "result": 0})
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model)).start()
    try:
        result = subprocess.run([sys.executable, str(ROOT / "examples" / "python_client" / "notebook.py"),
                                 "--url", server.url], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert 'added: [{"id":' in out and "Call the plumber" in out and "plan ops: ['insert']" in out
        assert 'high priority: [{"title": "Call the plumber", "status": "TODO"}]' in out
        assert "all titles: ['Call the plumber']" in out
        assert "refused: POLICY_DENIED" in out
    finally:
        server.stop()
