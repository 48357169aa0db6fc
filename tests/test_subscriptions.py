"""Live subscriptions over Server-Sent Events and WebSocket: planned once, sent again when a table they read changes."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from conftest import DEMO_SCHEMA, TRACKER_SEED, LiveServer, make_gateway
from gateway import ScriptedProvider, create_app, import_records
from gateway.notify import Backend, Notifier  # internal: the one-flag watch and the outbox bound the work

LIVE_SDL = (
    DEMO_SCHEMA.read_text()
    + """
type Subscription {
  tasks(q: String, limit: Int): [Task!]!
  taskCount(q: String): Int!
}
"""
)
OPEN_TASKS = {
    "steps": [{"op": "find", "model": "Task", "where": {"status": {"ne": "DONE"}}, "orderBy": [{"field": "title"}]}],
    "result": 0,
}
ADD_TASK = {
    "steps": [{"op": "insert", "model": "Task", "values": [{"title": "Call Bob", "status": "TODO"}]}],
    "result": 0,
}
SUBSCRIBE = 'subscription { tasks(q: "open tasks") { title project { name } } }'


def live_server(db: str, tmp_path: Path, **settings: Any) -> tuple[LiveServer, ScriptedProvider]:
    schema = tmp_path / "live.graphql"
    schema.write_text(LIVE_SDL)
    model = ScriptedProvider([])
    server = LiveServer(make_gateway(db, schema, provider=model, **settings)).start()
    import_records(server.gateway.executor, TRACKER_SEED)
    return server, model


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, ScriptedProvider]]:
    server, model = live_server(db_url, tmp_path, max_subscriptions=2)
    yield server, model
    server.stop()


class EventStream:
    """A graphql-sse (distinct connections) subscription, read by its own event loop in a thread."""

    def __init__(self, url: str, query: str, headers: dict[str, str] | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.ready = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self._read(url, query, headers or {}),), daemon=True
        )
        self.thread.start()

    async def _read(self, url: str, query: str, headers: dict[str, str]) -> None:
        self.task = asyncio.current_task()
        name = None
        try:
            async with (
                httpx.AsyncClient(timeout=30) as client,
                client.stream(
                    "POST", url, json={"query": query}, headers={"accept": "text/event-stream", **headers}
                ) as response,
            ):
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: ") and name:
                        data = line[6:].strip()
                        with self.ready:
                            self.events.append((name, json.loads(data) if data else None))
                            self.ready.notify_all()
        except (asyncio.CancelledError, httpx.HTTPError):
            pass

    def wait(self, n: int, timeout: float = 20) -> list[tuple[str, Any]]:
        with self.ready:
            assert self.ready.wait_for(lambda: len(self.events) >= n, timeout), self.events
            return list(self.events)

    def close(self) -> None:
        """Drop the connection, as a browser tab that closes."""
        while self.task is None and self.thread.is_alive():
            time.sleep(0.01)
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=10)


def wait_until(condition: Any, timeout: float = 20) -> None:
    """Wait for the server to reach a state (not a timing assertion: the deadline only stops a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def titles(payload: dict[str, Any]) -> list[str]:
    return [t["title"] for t in payload["data"]["tasks"]]


def test_sse_sends_the_result_then_again_after_a_write(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = live
    model.push(OPEN_TASKS, ADD_TASK)
    stream = EventStream(server.url, SUBSCRIBE)
    try:
        first = stream.wait(1)[0]
        assert first[0] == "next" and titles(first[1]) == ["Fix login", "Push notifications"]
        assert first[1]["data"]["tasks"][0]["project"] == {"name": "Website"}
        created = server.gql('mutation { tasks(q: "add a task: call Bob") { id } }')
        assert "errors" not in created, created
        second = stream.wait(2)[1]
        assert titles(second[1]) == ["Call Bob", "Fix login", "Push notifications"]
        assert len(model.calls) == 2  # planned once: the re-run after the write asked no model
    finally:
        stream.close()
    gw = server.gateway
    wait_until(lambda: gw.subscription_slots.held() == 0 and gw.notifier.watching == 0)


def test_a_write_to_a_table_the_plan_does_not_read_sends_nothing(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = live
    tags_only = {"steps": [{"op": "insert", "model": "Tag", "values": [{"name": "later"}]}], "result": 0}
    count = {
        "steps": [{"op": "aggregate", "model": "Project", "aggregates": [{"fn": "count", "as": "n"}]}],
        "result": 0,
    }
    model.push(count, tags_only, ADD_TASK)
    stream = EventStream(server.url, 'subscription { taskCount(q: "how many projects") }')
    try:
        assert stream.wait(1)[0][1] == {"data": {"taskCount": 2}}
        server.gql('mutation { tags(q: "add a tag: later") { id } }')
        server.gql('mutation { tasks(q: "add a task: call Bob") { id } }')
        # Tag and Task writes: Project counts cannot change; the subscription is not even woken
        [watch] = server.gateway.notifier.watches()
        assert watch.models == {"Project"} and not watch.changed.is_set()
        assert len(stream.events) == 1
    finally:
        stream.close()


def test_a_subscription_whose_plan_writes_is_refused(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = live
    model.push(ADD_TASK)
    stream = EventStream(server.url, 'subscription { tasks(q: "add a task: call Bob") { title } }')
    try:
        events = stream.wait(2)
        assert events[0][1]["errors"][0]["extensions"]["code"] == "POLICY_DENIED"
        assert events[1][0] == "complete"
    finally:
        stream.close()
    assert server.gql('{ tasks(q: "") { title } }')["data"]["tasks"].__len__() == 3  # nothing was written
    assert server.gateway.subscription_slots.held() == 0


def test_more_subscriptions_than_the_limit_get_a_coded_error(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = live
    listing = "subscription { tasks { title } }"  # no q: a listing, no model call
    streams = [EventStream(server.url, listing) for _ in range(2)]
    try:
        for s in streams:
            s.wait(1)
        third = EventStream(server.url, listing)
        events = third.wait(2)
        assert events[0][1]["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        third.close()
    finally:
        for s in streams:
            s.close()
    wait_until(lambda: server.gateway.subscription_slots.held() == 0)
    again = EventStream(server.url, listing)  # closed subscriptions gave their slots back
    try:
        assert "errors" not in again.wait(1)[0][1]
    finally:
        again.close()


def test_a_subscription_sent_as_plain_json_is_told_to_stream(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = live
    body = server.gql("subscription { tasks { title } }")
    assert body["errors"][0]["extensions"]["code"] == "SUBSCRIPTION_NEEDS_STREAM"


def test_an_invalid_subscription_reports_errors_on_the_stream(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = live
    stream = EventStream(server.url, "subscription { tasks { nope } }")
    try:
        events = stream.wait(2)
        assert "nope" in events[0][1]["errors"][0]["message"] and events[1][0] == "complete"
    finally:
        stream.close()


async def _ws_session(url: str, query: str, write: Any, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """graphql-transport-ws by hand: init, subscribe, two results, complete."""
    async with websockets.connect(
        url.replace("http", "ws"), subprotocols=["graphql-transport-ws"], additional_headers=headers or {}
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        received = [json.loads(await ws.recv())]
        await asyncio.to_thread(write)
        received.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        return received


def test_websocket_sends_the_result_then_again_after_a_write(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = live
    model.push(OPEN_TASKS, ADD_TASK)
    got = asyncio.run(
        _ws_session(server.url, SUBSCRIBE, lambda: server.gql('mutation { tasks(q: "add a task: call Bob") { id } }'))
    )
    assert [m["type"] for m in got] == ["next", "next"] and got[0]["id"] == "1"
    assert titles(got[1]["payload"]) == ["Call Bob", "Fix login", "Push notifications"]
    wait_until(lambda: server.gateway.subscription_slots.held() == 0 and server.gateway.notifier.watching == 0)


def test_websocket_protocol_errors_close_with_the_protocol_codes(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = live
    url = server.url.replace("http", "ws")

    async def subscribe_before_init() -> int | None:
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ tags { name } }"}}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code if closed.value.rcvd else None

    async def duplicate_id() -> int | None:
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            await ws.recv()
            for _ in range(2):
                await ws.send(
                    json.dumps(
                        {"id": "a", "type": "subscribe", "payload": {"query": "subscription { tasks { title } }"}}
                    )
                )
            with pytest.raises(websockets.ConnectionClosed) as closed:  # noqa: PT012 - read until the server closes
                while True:
                    await ws.recv()
            return closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(subscribe_before_init()) == 4401
    assert asyncio.run(duplicate_id()) == 4409
    wait_until(lambda: server.gateway.subscription_slots.held() == 0)


def test_websocket_queries_answer_once_and_complete(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = live

    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(server.url.replace("http", "ws"), subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            await ws.recv()
            await ws.send(json.dumps({"id": "q", "type": "subscribe", "payload": {"query": "{ tags { name } }"}}))
            return [json.loads(await ws.recv()), json.loads(await ws.recv())]

    got = asyncio.run(run())
    assert got[0]["payload"]["data"]["tags"] == [{"name": "urgent"}, {"name": "home"}]
    assert got[1] == {"id": "q", "type": "complete"}


@pytest.mark.parametrize("channel", ["auto", "postgres", "redis"])
def test_a_write_on_another_gateway_reaches_the_subscription(channel: str, pg_url: str, tmp_path: Path) -> None:
    """Two gateways on one PostgreSQL store stand for two workers or machines. The store's triggers
    are in place (the SDL has Subscription fields) but skip the gateways' own sessions: the
    writer tells the reader itself."""
    if channel == "redis":
        try:
            import redis

            redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
        except Exception:  # noqa: BLE001 - whatever stops the ping means no Redis here
            pytest.skip("Redis not reachable at 127.0.0.1:6379")
    settings: dict[str, Any] = {"notify": channel}
    if channel == "redis":
        settings["redis_url"] = "redis://127.0.0.1:6379/0"
    reader, reader_model = live_server(pg_url, tmp_path, **settings)
    writer = LiveServer(
        make_gateway(pg_url, tmp_path / "live.graphql", provider=ScriptedProvider([ADD_TASK]), **settings)
    ).start()
    reader_model.push(OPEN_TASKS)
    stream = EventStream(reader.url, SUBSCRIBE)
    try:
        assert titles(stream.wait(1)[0][1]) == ["Fix login", "Push notifications"]
        assert "errors" not in writer.gql('mutation { tasks(q: "add a task: call Bob") { id } }')
        assert titles(stream.wait(2)[1][1]) == ["Call Bob", "Fix login", "Push notifications"]
    finally:
        stream.close()
        writer.stop()
        reader.stop()


class HeldBackend(Backend):
    """A channel whose first message stays on its way until the test lets it go."""

    def __init__(self) -> None:
        self.sent: list[list[str]] = []
        self.sending, self.go = threading.Event(), threading.Event()

    def send(self, message: str) -> None:
        self.sending.set()
        self.go.wait(20)
        self.sent.append(json.loads(message)["models"])

    def listen(self, callback: Any) -> None:
        pass

    def close(self) -> None:
        pass


def test_writes_that_commit_while_a_message_is_on_its_way_leave_in_one_and_none_is_lost_on_close() -> None:
    """A write does not wait for its message to the other gateways (a NOTIFY commits alone, cluster-wide)."""
    backend = HeldBackend()
    notifier = Notifier(backend)
    notifier.publish({"Task"})  # returns at once: the message leaves from the outbox's thread
    assert backend.sending.wait(20)
    notifier.publish({"Tag"})
    notifier.publish({"Project", "Task"})
    backend.go.set()
    notifier.close()  # sends what is pending
    assert backend.sent == [["Task"], ["Project", "Tag", "Task"]]


def test_many_changes_while_a_consumer_lags_cost_one_rerun() -> None:
    """A watch is one flag: a thousand notifications leave one pending re-run, not a queue."""
    notifier = Notifier()

    async def scenario() -> tuple[bool, int]:
        watch = notifier.watch({"Task"})
        for _ in range(1000):
            notifier.publish({"Task"})
        await asyncio.sleep(0)
        pending = watch.changed.is_set()
        watch.changed.clear()
        await asyncio.sleep(0)
        notifier.unwatch(watch)
        return pending, notifier.watching

    assert asyncio.run(scenario()) == (True, 0)


def test_the_sdl_serves_subscription_fields_as_read_only(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = live
    root = server.gateway.catalog.root("subscription", "tasks")
    assert root.readonly and root.models == ("Task",)


# -- writes made outside the gateway ---------------------------------------------------------
def write_outside(db: str, sql: str) -> None:
    """One statement by another program: a plain sqlite3 or psycopg connection, not the gateway's."""
    if db.startswith("sqlite"):
        conn = sqlite3.connect(db.removeprefix("sqlite:///"), timeout=30)
        with conn:
            conn.execute(sql)
        conn.close()
        return
    import psycopg

    with psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as pg:
        pg.execute(sql)


OUTSIDE_TASK = """INSERT INTO "Task"(id, title, status, _gateway_created)
SELECT 't-out', 'Call Bob', 'TODO', coalesce(max(_gateway_created), 0) + 1 FROM "Task\"
"""


def test_a_row_another_program_inserts_reaches_the_subscription(live: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = live
    model.push(OPEN_TASKS)
    stream = EventStream(server.url, SUBSCRIBE)
    try:
        assert titles(stream.wait(1)[0][1]) == ["Fix login", "Push notifications"]
        write_outside(str(server.gateway.engine.url.render_as_string(hide_password=False)), OUTSIDE_TASK)
        second = stream.wait(2)[1]
        assert titles(second[1]) == ["Call Bob", "Fix login", "Push notifications"]
        assert second[1]["data"]["tasks"][0]["project"] is None
    finally:
        stream.close()


def test_gateway_import_in_another_process_reaches_the_subscription(
    live: tuple[LiveServer, ScriptedProvider], tmp_path: Path
) -> None:
    server, model = live
    model.push(OPEN_TASKS)
    seed = tmp_path / "more.json"
    seed.write_text(json.dumps({"Task": [{"title": "Call Bob", "status": "TODO"}]}))
    db = server.gateway.engine.url.render_as_string(hide_password=False)
    stream = EventStream(server.url, SUBSCRIBE)
    try:
        stream.wait(1)
        imported = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "import", str(seed), "--schema", str(tmp_path / "live.graphql")],
            env={**os.environ, "GATEWAY_DB": db},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert imported.returncode == 0, imported.stderr
        assert titles(stream.wait(2)[1][1]) == ["Call Bob", "Fix login", "Push notifications"]
    finally:
        stream.close()


def test_the_store_feed_stops_when_no_one_watches_and_starts_again(
    live: tuple[LiveServer, ScriptedProvider],
) -> None:
    server, _ = live
    gw, db = server.gateway, server.gateway.engine.url.render_as_string(hide_password=False)
    feed = gw.notifier.feed
    assert feed is not None and not feed.running  # nothing watches yet: no poll, no LISTEN connection
    listing = "subscription { tasks { title } }"
    stream = EventStream(server.url, listing)
    stream.wait(1)
    assert feed.running
    stream.close()
    wait_until(lambda: gw.notifier.watching == 0 and not feed.running)
    write_outside(db, OUTSIDE_TASK)  # nothing watches: nothing runs again, nothing reads the store
    again = EventStream(server.url, listing)
    try:
        assert len(again.wait(1)[0][1]["data"]["tasks"]) == 4
        write_outside(db, """DELETE FROM "Task" WHERE id = 't-out'""")
        assert len(again.wait(2)[1][1]["data"]["tasks"]) == 3
    finally:
        again.close()


def test_the_gateways_own_write_runs_a_subscription_again_once(live: tuple[LiveServer, ScriptedProvider]) -> None:
    """The gateway wakes its watches itself; the store's announcement of the same write is not a second wake."""
    server, model = live
    gw = server.gateway
    runs: Counter[str] = Counter()
    run_prepared = gw.run_prepared

    async def counted(p: Any) -> Any:
        runs[p.root.key] += 1
        return await run_prepared(p)

    gw.run_prepared = counted  # type: ignore[method-assign]
    count_tags = {
        "steps": [{"op": "aggregate", "model": "Tag", "aggregates": [{"fn": "count", "as": "n"}]}],
        "result": 0,
    }
    model.push(OPEN_TASKS, count_tags, ADD_TASK)
    tasks = EventStream(server.url, SUBSCRIBE)
    tasks.wait(1)  # planned before the next subscription asks the model
    tags = EventStream(server.url, 'subscription { taskCount(q: "how many tags") }')
    try:
        assert tags.wait(1)[0][1] == {"data": {"taskCount": 2}}
        assert "errors" not in server.gql('mutation { tasks(q: "add a task: call Bob") { id } }')
        assert len(tasks.wait(2)) == 2
        # Another program's write, announced after the gateway's own: once the tag count has
        # been sent again, the store's announcement of the task write has been read too.
        write_outside(
            gw.engine.url.render_as_string(hide_password=False),
            """INSERT INTO "Tag"(id, name, _gateway_created) VALUES ('g3', 'later', 100)""",
        )
        assert tags.wait(2)[1][1] == {"data": {"taskCount": 3}}
        [watch] = [w for w in gw.notifier.watches() if "Task" in w.models]
        assert runs["subscription.tasks"] == 2 and not watch.changed.is_set()
    finally:
        tasks.close()
        tags.close()


def next_notification(listener: Any) -> Any:
    got = list(listener.notifies(timeout=20, stop_after=1))
    assert got, "no notification on gateway_changes"
    return json.loads(got[0].payload)


def test_the_trigger_leaves_the_gateways_writes_to_the_gateway(pg_url: str, tmp_path: Path) -> None:
    """A PostgreSQL transaction that notifies commits alone, cluster-wide, so the gateway's sessions
    skip the trigger's NOTIFY: its write is announced once, by its own message after the commit;
    another program's write by the trigger. The function an earlier version installed (it
    notified for every session) is replaced when a gateway starts."""
    import psycopg

    schema = tmp_path / "live.graphql"
    schema.write_text(LIVE_SDL)
    make_gateway(pg_url, schema).close()
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as pg:
        pg.execute(
            """CREATE OR REPLACE FUNCTION "_gateway_changed"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
            PERFORM pg_notify('gateway_changes', json_build_object('models', TG_ARGV)::text); RETURN NULL; END $$"""
        )
    server, model = live_server(pg_url, tmp_path)
    try:
        with psycopg.connect(admin, autocommit=True) as listener:
            listener.execute("LISTEN gateway_changes")
            model.push(ADD_TASK)
            assert "errors" not in server.gql('mutation { tasks(q: "add a task: call Bob") { id } }')
            # Had the trigger notified, its message (sent at the write's commit) would come first.
            assert next_notification(listener) == {"origin": server.gateway.notifier.origin, "models": ["Tag", "Task"]}
            write_outside(pg_url, OUTSIDE_TASK)
            assert next_notification(listener) == {"models": ["Task"]}
    finally:
        server.stop()


def test_a_store_that_refuses_the_triggers_still_serves_and_gateways_tell_each_other(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A PostgreSQL user that may write the tables but not create functions or triggers on them:
    no trigger announces a write, and the gateways still tell each other on the channel."""
    import psycopg

    owner = make_gateway(pg_url)  # creates the tables (its SDL has no Subscription: no triggers) ...
    create_app(owner)  # ... and the server's own
    owner.close()
    role = f"gw_writer_{os.getpid()}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as pg:
        pg.execute(f"CREATE ROLE {role} LOGIN")
        pg.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
    limited_url = pg_url.replace("postgres@", f"{role}@")
    try:
        reader, reader_model = live_server(limited_url, tmp_path)
        writer = LiveServer(
            make_gateway(limited_url, tmp_path / "live.graphql", provider=ScriptedProvider([ADD_TASK]))
        ).start()
        stream: EventStream | None = None
        try:
            assert "will not be announced" in caplog.text
            reader_model.push(OPEN_TASKS)
            stream = EventStream(reader.url, SUBSCRIBE)
            assert titles(stream.wait(1)[0][1]) == ["Fix login", "Push notifications"]
            assert "errors" not in writer.gql('mutation { tasks(q: "add a task: call Bob") { id } }')
            assert titles(stream.wait(2)[1][1]) == ["Call Bob", "Fix login", "Push notifications"]
        finally:
            if stream is not None:
                stream.close()
            writer.stop()
            reader.stop()
    finally:
        with psycopg.connect(admin, autocommit=True) as pg:
            pg.execute(f"DROP OWNED BY {role}")
            pg.execute(f"DROP ROLE {role}")
