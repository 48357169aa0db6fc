"""graphql-sse's single connection mode: a reserved stream carries every operation, POSTs answer 202."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_subscriptions import ADD_TASK, OPEN_TASKS, live_server, titles, wait_until

from conftest import LiveServer
from gateway import ScriptedProvider

TOKEN = "x-graphql-event-stream-token"
SUBSCRIBE = 'subscription { tasks(q: "open tasks") { title } }'


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, ScriptedProvider]]:
    server, model = live_server(db_url, tmp_path, max_subscriptions=2)
    yield server, model
    server.stop()


def reserve(server: LiveServer) -> str:
    response = httpx.put(server.url)
    assert response.status_code == 201, response.text
    return response.text


def operation(server: LiveServer, token: str, op_id: str, query: str) -> httpx.Response:
    body = {"query": query, "extensions": {"operationId": op_id}}
    return httpx.post(server.url, json=body, headers={TOKEN: token}, timeout=30)


class SingleStream:
    """The one event stream of a reservation, read by its own event loop in a thread."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[tuple[str, Any]] = []
        self.status: int | None = None
        self.ready = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._read(url, token),), daemon=True)
        self.thread.start()
        with self.ready:
            assert self.ready.wait_for(lambda: self.status is not None, 20)

    async def _read(self, url: str, token: str) -> None:
        self.task = asyncio.current_task()
        name = None
        try:
            async with (
                httpx.AsyncClient(timeout=30) as client,
                client.stream("GET", url, headers={"accept": "text/event-stream", TOKEN: token}) as response,
            ):
                with self.ready:
                    self.status = response.status_code
                    self.ready.notify_all()
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: ") and name:
                        with self.ready:
                            self.events.append((name, json.loads(line[6:])))
                            self.ready.notify_all()
        except (asyncio.CancelledError, httpx.HTTPError):
            pass
        finally:
            with self.ready:
                self.status = self.status or -1
                self.ready.notify_all()

    def wait(self, n: int, timeout: float = 20) -> list[tuple[str, Any]]:
        with self.ready:
            assert self.ready.wait_for(lambda: len(self.events) >= n, timeout), self.events
            return list(self.events)

    def close(self) -> None:
        """Drop the connection, as a browser tab that closes."""
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=10)


def test_one_stream_carries_a_subscription_and_a_query_by_operation_id(
    live: tuple[LiveServer, ScriptedProvider],
) -> None:
    server, model = live
    model.push(OPEN_TASKS, ADD_TASK)
    token = reserve(server)
    stream = SingleStream(server.url, token)
    try:
        assert stream.status == 200
        assert operation(server, token, "live", SUBSCRIBE).status_code == 202
        first = stream.wait(1)[0]
        assert first[0] == "next" and first[1]["id"] == "live"
        assert titles(first[1]["payload"]) == ["Fix login", "Push notifications"]
        assert operation(server, token, "once", "{ projects { name } }").status_code == 202
        created = server.gql('mutation { tasks(q: "add a task: call Bob") { id } }')
        assert "errors" not in created, created
        wait_until(lambda: sum(1 for e in stream.events if e[1]["id"] == "live") == 2)
        once = [e for e in stream.events if e[1]["id"] == "once"]
        assert once[0][0] == "next" and {"name": "Website"} in once[0][1]["payload"]["data"]["projects"]
        assert once[1] == ("complete", {"id": "once"})
        live_events = [e[1]["payload"] for e in stream.events if e[1]["id"] == "live"]
        assert titles(live_events[1]) == ["Call Bob", "Fix login", "Push notifications"]
        stopped = httpx.delete(server.url, params={"operationId": "live"}, headers={TOKEN: token})
        assert stopped.status_code == 200
        wait_until(lambda: server.gateway.subscription_slots.held() == 0)
    finally:
        stream.close()


def test_a_request_refused_before_running_answers_over_http(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = live
    token = reserve(server)
    stream = SingleStream(server.url, token)
    try:
        refused = operation(server, token, "bad", "subscription { nothing }")
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        missing = httpx.post(server.url, json={"query": "{ projects { name } }"}, headers={TOKEN: token})
        assert missing.status_code == 400 and missing.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert operation(server, token, "ok", "{ projects { name } }").status_code == 202
        assert [e[0] for e in stream.wait(2)] == ["next", "complete"]  # nothing was sent for the refusals
    finally:
        stream.close()


def test_tokens_streams_and_operation_ids_are_single_use(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = live
    unknown = operation(server, "not-a-token", "x", "{ projects { name } }")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["extensions"]["code"] == "STREAM_NOT_FOUND"
    token = reserve(server)
    stream = SingleStream(server.url, token)
    try:
        second = httpx.get(server.url, headers={"accept": "text/event-stream", TOKEN: token})
        assert second.status_code == 409 and second.json()["errors"][0]["extensions"]["code"] == "STREAM_CONFLICT"
        model.push(OPEN_TASKS)
        assert operation(server, token, "live", SUBSCRIBE).status_code == 202
        again = operation(server, token, "live", SUBSCRIBE)
        assert again.status_code == 409 and again.json()["errors"][0]["extensions"]["code"] == "STREAM_CONFLICT"
        stream.wait(1)
    finally:
        stream.close()
    # the closed stream ended its operations and spent its token: nothing is left behind
    wait_until(lambda: server.gateway.subscription_slots.held() == 0 and server.gateway.notifier.watching == 0)
    spent = operation(server, token, "later", "{ projects { name } }")
    assert spent.status_code == 404


def test_a_caller_holds_a_bounded_number_of_reservations(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = live
    first, _second = reserve(server), reserve(server)  # GATEWAY_MAX_SUBSCRIPTIONS is 2 here
    over = httpx.put(server.url)
    assert over.status_code == 429 and over.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_STREAMS"
    stream = SingleStream(server.url, first)
    stream.close()  # a stream that ends spends its reservation
    deadline = time.monotonic() + 20
    while httpx.put(server.url).status_code != 201:
        assert time.monotonic() < deadline
        time.sleep(0.05)
