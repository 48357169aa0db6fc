"""Start-up warm-up: `serve` has the model read every root field's fixed prompt part before the
first request, so a first-time request reads only its own tokens. The model is a fake at the
provider boundary that records what it was asked to read; the app runs its real lifespan."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from conftest import make_gateway
from gateway import Completion, Usage, create_app


class WarmableModel:
    """Answers every request with a listing plan and records the prompts it was asked to warm."""

    name = "fake:warmable"

    def __init__(self) -> None:
        self.warmed: list[list[dict[str, str]]] = []
        self.asked: list[list[dict[str, str]]] = []

    def warm(self, messages: list[dict[str, str]]) -> bool:
        self.warmed.append(messages)
        return True

    async def complete(self, messages: list[dict[str, str]], json_schema: dict[str, Any]) -> Completion:
        self.asked.append(messages)
        return Completion('{"steps": [{"op": "find", "model": "Task"}], "result": 0}', Usage(self.name))


def test_serve_reads_every_fields_prompt_prefix_at_start_up(tmp_path: Path) -> None:
    model = WarmableModel()
    gw = make_gateway(f"sqlite:///{tmp_path / 'w.db'}", provider=model)
    with TestClient(create_app(gw)) as client:  # runs the lifespan, as uvicorn does
        deadline = time.time() + 10
        while len(model.warmed) < len(gw.catalog.root_fields) and time.time() < deadline:
            time.sleep(0.02)
        body = client.post("/graphql", json={"query": '{ tasks(q: "all tasks") { id } }'}).json()
    assert "errors" not in body, body
    assert len(model.warmed) == len(gw.catalog.root_fields)
    # the warmed prefix is exactly what the field's real request starts with
    asked = model.asked[-1]
    warmed = [m for m in model.warmed if m[0] == asked[0]]
    assert warmed and warmed[0][:-1] == asked[:-1]


def test_warm_up_is_off_when_the_setting_says_so(tmp_path: Path) -> None:
    model = WarmableModel()
    gw = make_gateway(f"sqlite:///{tmp_path / 'w.db'}", provider=model, warm_prompts=False)
    with TestClient(create_app(gw)) as client:
        client.get("/healthz")
        time.sleep(0.2)
    assert model.warmed == []
