"""@defer and @stream: the ready fields first, the model's field when it has answered (multipart/mixed, SSE, merged JSON)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Iterator

import httpx
import pytest

from conftest import Harness, LiveServer, make_gateway, seed_tracker
from gateway import ScriptedProvider

COUNT_TASKS = {"steps": [{"op": "aggregate", "model": "Task", "aggregates": [{"fn": "count", "as": "n"}]}],
               "result": 0}
PAGE = '{ projects { name } ... @defer(label: "slow") { taskCount(q: "how many tasks are there?") } }'


class GatedModel(ScriptedProvider):
    """The scripted model, holding each answer until the test opens the gate."""

    def __init__(self, answers: list[Any]) -> None:
        super().__init__(answers)
        self.gate = threading.Event()
        self.asked = threading.Event()

    async def complete(self, messages: Any, json_schema: Any) -> Any:
        self.asked.set()
        await asyncio.to_thread(self.gate.wait, 30)
        return await super().complete(messages, json_schema)


@pytest.fixture
def gated(db_url: str) -> Iterator[tuple[LiveServer, GatedModel]]:
    model = GatedModel([])
    server = LiveServer(make_gateway(db_url, provider=model)).start()
    seed_tracker(Harness(server, model))
    yield server, model
    model.gate.set()
    server.stop()


def multipart_parts(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse ``multipart/mixed; boundary="-"`` as Apollo and urql do: JSON after each part's headers."""
    in_body = False
    for line in lines:
        if line.startswith("---"):
            in_body = False
        elif line == "" and not in_body:
            in_body = True
        elif in_body and line.startswith("{"):
            yield json.loads(line)


def test_the_ready_field_arrives_before_the_model_answers(gated: tuple[LiveServer, GatedModel]) -> None:
    server, model = gated
    model.push(COUNT_TASKS)
    headers = {"accept": "multipart/mixed;incrementalSpec=v0.2, application/json"}
    with httpx.stream("POST", server.url, json={"query": PAGE}, headers=headers, timeout=30) as response:
        assert response.headers["content-type"].startswith("multipart/mixed")
        parts = multipart_parts(response.iter_lines())
        first = next(parts)
        # the listing field is here while the model has not answered yet (its answer is held back)
        assert not model.gate.is_set()
        assert first["data"] == {"projects": [{"name": "Website"}, {"name": "Mobile app"}]}
        assert first["pending"] == [{"id": "0", "path": [], "label": "slow"}] and first["hasNext"] is True
        assert first["extensions"]["fields"]["projects"]["source"] == "listing"
        model.gate.set()
        second = next(parts)
    assert second["incremental"] == [{"id": "0", "data": {"taskCount": 3}}]
    assert second["completed"] == [{"id": "0"}] and second["hasNext"] is False
    assert second["extensions"]["fields"]["taskCount"]["source"] == "model"


def test_a_client_without_multipart_gets_the_parts_merged(gated: tuple[LiveServer, GatedModel]) -> None:
    server, model = gated
    model.push(COUNT_TASKS)
    model.gate.set()
    body = server.gql(PAGE)
    assert body["data"] == {"projects": [{"name": "Website"}, {"name": "Mobile app"}], "taskCount": 3}
    assert set(body["extensions"]["fields"]) == {"projects", "taskCount"}


def test_stream_sends_the_first_items_then_the_rest(gated: tuple[LiveServer, GatedModel]) -> None:
    server, _ = gated
    query = "{ tasks @stream(initialCount: 1) { title } }"
    with httpx.stream("POST", server.url, json={"query": query}, headers={"accept": "multipart/mixed"},
                      timeout=30) as response:
        parts = list(multipart_parts(response.iter_lines()))
    assert parts[0]["data"] == {"tasks": [{"title": "Fix login"}]} and parts[0]["hasNext"]
    items = [i for p in parts[1:] for inc in p.get("incremental", []) for i in inc["items"]]
    assert items == [{"title": "Write docs"}, {"title": "Push notifications"}]
    assert parts[-1]["hasNext"] is False
    merged = server.gql(query)
    assert merged["data"]["tasks"] == [{"title": "Fix login"}, *items]


def test_defer_over_server_sent_events(gated: tuple[LiveServer, GatedModel]) -> None:
    server, model = gated
    model.push(COUNT_TASKS)
    model.gate.set()
    with httpx.stream("POST", server.url, json={"query": PAGE}, headers={"accept": "text/event-stream"},
                      timeout=30) as response:
        events = [line for line in response.iter_lines() if line.startswith(("event:", "data:"))]
    names = [e for e in events if e.startswith("event:")]
    assert names == ["event: next", "event: next", "event: complete"]
    payloads = [json.loads(e[6:]) for e in events if e.startswith("data: {")]
    assert payloads[0]["pending"][0]["label"] == "slow"
    assert payloads[1]["incremental"][0]["data"] == {"taskCount": 3}


def test_a_query_without_defer_answers_plain_json_to_a_multipart_client(gated: tuple[LiveServer, GatedModel]) -> None:
    server, _ = gated
    response = httpx.post(server.url, json={"query": "{ tags { name } }"},
                          headers={"accept": "multipart/mixed, application/json"}, timeout=30)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["data"]["tags"] == [{"name": "urgent"}, {"name": "home"}]


def test_the_schema_declares_defer_and_stream(gated: tuple[LiveServer, GatedModel]) -> None:
    server, _ = gated
    introspected = server.gql('{ __schema { directives { name } } }')
    names = {d["name"] for d in introspected["data"]["__schema"]["directives"]}
    assert {"defer", "stream"} <= names
