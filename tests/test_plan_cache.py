"""The plan cache over real HTTP: repeated and same-template requests need no model call.

Also: the cache survives a restart, a schema change drops exactly the plans it affects,
Redis shares plans between gateways, ``gateway plans`` manages them, the prompt never carries
data rows, and ``@index``/``@unique`` fields are indexed in the store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect
from typer.testing import CliRunner

from conftest import DEMO_SCHEMA, TRACKER_SEED, Harness, LiveServer, make_gateway, seed_tracker
from gateway import ScriptedProvider, import_records
from gateway.cli import app  # internal: the CLI run in-process

REDIS_URL = "redis://127.0.0.1:6379/0"

URGENT = {
    "steps": [
        {
            "op": "find",
            "model": "Task",
            "where": {"tags": {"name": {"eq": "urgent"}}},
            "orderBy": [{"field": "title", "direction": "asc"}],
        }
    ],
    "result": 0,
    "params": {"tag": "urgent"},
}
BY_TITLE = {
    "steps": [{"op": "find", "model": "Task", "where": {"title": {"contains": "login"}}}],
    "result": 0,
    "params": {"text": "login"},
}
ADA = {
    "steps": [{"op": "find", "model": "Person", "where": {"name": {"eq": "Ada"}}}],
    "result": 0,
    "params": {"name": "Ada"},
}
TAGGED = "{ tasks(q: $q) { title } }"


def ask(h: Harness, q: str, field: str = "tasks", selection: str = "title", op: str = "query") -> dict[str, Any]:
    return h.server.gql(f"{op} Q($q: String!) {{ {field}(q: $q) {{ {selection} }} }}", {"q": q})


def titles(body: dict[str, Any], field: str = "tasks") -> list[str]:
    assert "errors" not in body, body
    return [t["title"] for t in body["data"][field]]


def source(body: dict[str, Any], field: str = "tasks") -> tuple[str, str | None]:
    trace = body["extensions"]["fields"][field]
    return trace["source"], trace.get("cache")


def start(db: str, model: ScriptedProvider, schema: str | Path = DEMO_SCHEMA, **settings: Any) -> Harness:
    return Harness(
        LiveServer(make_gateway(db, schema=schema, provider=model, plan_cache=True, **settings)).start(), model
    )


@pytest.fixture
def cached(db_url: str) -> Iterator[Harness]:
    """The demo schema with the plan cache on, seeded with the small tracker."""
    h = start(db_url, ScriptedProvider([]))
    seed_tracker(h)
    yield h
    h.server.stop()


@pytest.fixture
def redis_prefix(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis key prefix of this test's own, deleted afterwards; skip when Redis is absent."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    prefix = f"gwtest:{uuid.uuid4().hex[:10]}:"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


# -- hits -----------------------------------------------------------------------------------
def test_a_repeated_request_makes_no_model_call(cached: Harness) -> None:
    cached.model.push(URGENT)
    first = ask(cached, "tasks tagged urgent")
    assert titles(first) == ["Fix login", "Push notifications"] and source(first) == ("model", None)
    for q in ("tasks tagged urgent", "  tasks   tagged urgent. ", "tasks tagged urgent?"):
        again = ask(cached, q)
        assert titles(again) == ["Fix login", "Push notifications"]
        assert source(again) == ("cache", "exact")
        assert again["extensions"]["fields"]["tasks"]["plan"] == first["extensions"]["fields"]["tasks"]["plan"]
    assert len(cached.model.calls) == 1


def test_a_repeat_is_answered_from_memory_without_reading_the_store(
    cached: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.cache.plan_cache.MEMO_TTL_S", 3600.0)  # no clock in this test
    plan_reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "_gateway_plans" in statement and statement.lstrip().upper().startswith("SELECT"):
            plan_reads.append(statement)

    event.listen(cached.gateway.engine, "before_cursor_execute", count)
    try:
        cached.model.push(URGENT)
        first = ask(cached, "tasks tagged urgent")
        home = ask(cached, "tasks tagged home")  # a template: read from the store once
        assert source(home) == ("cache", "template") and plan_reads
        plan_reads.clear()
        for _ in range(3):
            again, home_again = ask(cached, "tasks tagged urgent"), ask(cached, "tasks tagged home")
            assert titles(again) == titles(first) and source(again) == ("cache", "exact")
            assert titles(home_again) == titles(home) and source(home_again) == ("cache", "template")
            assert (
                home_again["extensions"]["fields"]["tasks"]["reading"]
                == home["extensions"]["fields"]["tasks"]["reading"]
            )
        assert plan_reads == []
    finally:
        event.remove(cached.gateway.engine, "before_cursor_execute", count)
    assert len(cached.model.calls) == 1


def test_requests_differing_in_a_literal_share_one_plan(cached: Harness) -> None:
    cached.model.push(URGENT)
    assert titles(ask(cached, "tasks tagged urgent")) == ["Fix login", "Push notifications"]
    home = ask(cached, "tasks tagged home")
    assert titles(home) == ["Push notifications"]
    assert source(home) == ("cache", "template")
    assert home["extensions"]["fields"]["tasks"]["plan"]["params"] == {"tag": "home"}
    assert titles(ask(cached, "tasks tagged nothing-like-this")) == []
    assert len(cached.model.calls) == 1


def test_a_quoted_literal_may_change_its_length(cached: Harness) -> None:
    cached.model.push(
        {
            "steps": [{"op": "find", "model": "Task", "where": {"title": {"eq": "Fix login"}}}],
            "result": 0,
            "params": {"title": "Fix login"},
        }
    )
    assert titles(ask(cached, "the task called 'Fix login'")) == ["Fix login"]
    assert titles(ask(cached, "the task called 'Push notifications'")) == ["Push notifications"]
    assert len(cached.model.calls) == 1


def test_a_number_literal_binds_as_a_number(cached: Harness) -> None:
    cached.model.push(
        {
            "steps": [
                {
                    "op": "find",
                    "model": "Task",
                    "where": {"estimate": {"gte": 3}},
                    "orderBy": [{"field": "title", "direction": "asc"}],
                }
            ],
            "result": 0,
            "params": {"min": 3},
        }
    )
    assert titles(ask(cached, "tasks of at least 3 points")) == ["Fix login", "Push notifications"]
    body = ask(cached, "tasks of at least 5 points")
    assert titles(body) == ["Push notifications"]
    assert body["extensions"]["fields"]["tasks"]["plan"]["steps"][0]["where"] == {"estimate": {"gte": 5}}
    assert len(cached.model.calls) == 1


# -- misses ---------------------------------------------------------------------------------
def test_near_misses_call_the_model(cached: Harness) -> None:
    cached.model.push(URGENT)
    ask(cached, "tasks tagged urgent")
    both = {
        "steps": [{"op": "find", "model": "Task", "where": {"tags": {"name": {"in": ["urgent", "home"]}}}}],
        "result": 0,
        "params": {},
    }
    cached.model.push(both, URGENT, URGENT)
    # two words where the template's slot had one: not guessed to be one tag
    assert source(ask(cached, "tasks tagged urgent and home")) == ("model", None)
    # more text after the slot
    assert source(ask(cached, "tasks tagged urgent first")) == ("model", None)
    # the fixed text of exact keys and templates keeps its case
    assert source(ask(cached, "Tasks tagged urgent")) == ("model", None)
    assert len(cached.model.calls) == 4


def test_a_bound_value_that_fails_validation_calls_the_model(cached: Harness) -> None:
    done = {
        "steps": [{"op": "find", "model": "Task", "where": {"status": {"eq": "DONE"}}}],
        "result": 0,
        "params": {"status": "DONE"},
    }
    cached.model.push(done)
    assert titles(ask(cached, "tasks with status DONE")) == ["Write docs"]
    todo = ask(cached, "tasks with status TODO")
    assert titles(todo) == ["Fix login"] and source(todo) == ("cache", "template")
    cached.model.push(
        {"steps": [{"op": "find", "model": "Task", "where": {"status": {"ne": "DONE"}}}], "result": 0, "params": {}}
    )
    # BLOCKED is not a Status: the template matches the text but the bound plan is refused
    body = ask(cached, "tasks with status BLOCKED")
    assert source(body) == ("model", None) and len(cached.model.calls) == 2


def test_literals_the_planner_did_not_list_stay_fixed(cached: Harness) -> None:
    plan = {
        "steps": [
            {
                "op": "find",
                "model": "Task",
                "where": {"and": [{"tags": {"name": {"eq": "urgent"}}}, {"estimate": {"gt": 4}}]},
            }
        ],
        "result": 0,
        "params": {"tag": "urgent"},
    }
    cached.model.push(plan)
    assert titles(ask(cached, "tasks tagged urgent bigger than 4")) == ["Push notifications"]
    assert source(ask(cached, "tasks tagged home bigger than 4")) == ("cache", "template")
    cached.model.push({**plan, "params": {}})
    assert source(ask(cached, "tasks tagged home bigger than 2")) == ("model", None)


def test_a_plan_that_failed_is_not_cached(cached: Harness) -> None:
    failing = {
        "steps": [
            {"op": "find", "model": "Project", "where": {"name": {"eq": "Nope"}}},
            {
                "op": "insert",
                "model": "Task",
                "values": [{"title": "x", "status": "TODO", "project": {"$step": 0, "field": "id"}}],
            },
        ],
        "result": 1,
        "params": {},
    }
    cached.model.push(failing, failing)
    for _ in range(2):
        body = ask(cached, "add x to project Nope", op="mutation")
        assert body["errors"][0]["extensions"]["code"] == "PLAN_FAILED"
    assert len(cached.model.calls) == 2
    assert cached.gateway.plan_cache.list() == []


def test_a_plan_that_used_todays_date_is_reused_only_today(cached: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    today = dt.date.today()
    plan = {
        "steps": [{"op": "find", "model": "Task", "where": {"dueDate": {"eq": today.isoformat()}}}],
        "result": 0,
        "params": {},
    }
    cached.model.push(plan, plan)
    ask(cached, "tasks due today")
    assert source(ask(cached, "tasks due today")) == ("cache", "exact")

    class Tomorrow(dt.date):
        @classmethod
        def today(cls) -> dt.date:
            return today + dt.timedelta(days=1)

    monkeypatch.setattr("gateway.cache.plan_cache.dt.date", Tomorrow)
    assert source(ask(cached, "tasks due today")) == ("model", None)
    assert len(cached.model.calls) == 2


def test_connector_call_plans_are_cached_and_bound_too(tmp_path: Path) -> None:
    schema = tmp_path / "schema.graphql"
    schema.write_text(
        "type Signup { email: String! plan: String signedUpAt: String! country: String }\n"
        "type Note { id: ID! text: String! }\n"
        "type Query { signups(q: String): [Signup!] notes(q: String): [Note!]! }\n",
        encoding="utf-8",
    )
    model = ScriptedProvider(
        [
            {
                "steps": [{"op": "call", "connector": "async.signups", "args": {"since": "2026-11-01", "limit": 2}}],
                "result": 0,
                "params": {"since": "2026-11-01"},
            }
        ]
    )
    h = start(
        f"sqlite:///{tmp_path / 's.db'}",
        model,
        schema=schema,
        connectors=str(Path(__file__).parent / "connector_fixtures.py"),
    )
    try:
        for since, kind in (("2026-11-01", None), ("2026-11-01", "exact"), ("2026-10-05", "template")):
            body = ask(h, f"signups since {since}", field="signups", selection="email signedUpAt")
            assert body["data"]["signups"] == [
                {"email": f"user{i}@example.com", "signedUpAt": since} for i in range(2)
            ], body
            assert source(body, "signups") == (("model", None) if kind is None else ("cache", kind))
        assert len(model.calls) == 1
    finally:
        h.server.stop()


# -- persistence and invalidation -----------------------------------------------------------
def test_the_cache_survives_a_restart(db_url: str) -> None:
    h = start(db_url, ScriptedProvider([URGENT]))
    seed_tracker(h)
    ask(h, "tasks tagged urgent")
    h.server.stop()
    again = start(db_url, ScriptedProvider([]))
    try:
        assert titles(ask(again, "tasks tagged urgent")) == ["Fix login", "Push notifications"]
        assert titles(ask(again, "tasks tagged home")) == ["Push notifications"]
        assert again.model.calls == []
    finally:
        again.server.stop()


def test_requests_in_flight_together_read_a_stored_plan_once(tmp_path: Path) -> None:
    """After a restart nothing is in memory: eight requests at once for a stored plan read it
    from the store once (the others await that read) and run the same plan."""
    db = f"sqlite:///{tmp_path / 'store.db'}"
    query = '{ tasks(q: "tasks tagged urgent") { title } }'
    first = make_gateway(db, provider=ScriptedProvider([URGENT]), plan_cache=True)
    import_records(first.executor, TRACKER_SEED)
    assert asyncio.run(first.execute(query)).data == {
        "tasks": [{"title": "Fix login"}, {"title": "Push notifications"}]
    }
    first.close()
    model = ScriptedProvider([])
    gw = make_gateway(db, provider=model, plan_cache=True)
    plan_reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "_gateway_plans" in statement and statement.lstrip().upper().startswith("SELECT"):
            plan_reads.append(statement)

    async def together() -> list[Any]:
        return list(await asyncio.gather(*(gw.execute(query) for _ in range(8))))

    event.listen(gw.engine, "before_cursor_execute", count)
    try:
        results = asyncio.run(together())
    finally:
        gw.close()
    assert [r.data for r in results] == [{"tasks": [{"title": "Fix login"}, {"title": "Push notifications"}]}] * 8
    assert {r.extensions["fields"]["tasks"]["source"] for r in results} == {"cache"}
    assert len(plan_reads) == 1 and model.calls == []


def test_a_schema_change_drops_exactly_the_plans_it_affects(db_url: str, tmp_path: Path) -> None:
    h = start(db_url, ScriptedProvider([BY_TITLE, ADA]))
    seed_tracker(h)
    ask(h, "tasks about login")
    ask(h, "people called Ada", field="people", selection="name")
    h.server.stop()

    sdl = DEMO_SCHEMA.read_text(encoding="utf-8")
    person_changed = tmp_path / "person.graphql"
    person_changed.write_text(sdl.replace("  role: String\n", "  role: String\n  phone: String\n"), encoding="utf-8")
    h = start(db_url, ScriptedProvider([ADA]), schema=person_changed)
    try:
        assert source(ask(h, "tasks about login")) == ("cache", "exact")  # Task did not change
        body = ask(h, "people called Ada", field="people", selection="name")
        assert source(body, "people") == ("model", None)  # Person did
        assert len(h.model.calls) == 1
        assert source(ask(h, "people called Ada", field="people", selection="name"), "people") == ("cache", "exact")
    finally:
        h.server.stop()

    task_changed = tmp_path / "task.graphql"
    task_changed.write_text(
        person_changed.read_text(encoding="utf-8").replace("  dueDate: String\n", "  dueDate: String\n  url: String\n"),
        encoding="utf-8",
    )
    h = start(db_url, ScriptedProvider([BY_TITLE]), schema=task_changed)
    try:
        assert source(ask(h, "tasks about login")) == ("model", None)
        assert source(ask(h, "people called Ada", field="people", selection="name"), "people") == ("cache", "exact")
        assert len(h.model.calls) == 1
    finally:
        h.server.stop()


# -- Redis ----------------------------------------------------------------------------------
def test_redis_shares_plans_between_gateways(db_url: str, tmp_path: Path, redis_prefix: str) -> None:
    a = start(db_url, ScriptedProvider([URGENT]), redis_url=REDIS_URL, redis_prefix=redis_prefix)
    b = start(
        f"sqlite:///{tmp_path / 'other.db'}", ScriptedProvider([]), redis_url=REDIS_URL, redis_prefix=redis_prefix
    )
    try:
        seed_tracker(a)
        seed_tracker(b)
        assert titles(ask(a, "tasks tagged urgent")) == ["Fix login", "Push notifications"]
        exact = ask(b, "tasks tagged urgent")
        assert titles(exact) == ["Fix login", "Push notifications"] and source(exact) == ("cache", "exact")
        template = ask(b, "tasks tagged home")
        assert titles(template) == ["Push notifications"] and source(template) == ("cache", "template")
        assert a.model.calls and not b.model.calls
        assert b.gateway.plan_cache.store.entries() == []  # b's own store never saw them: they came from Redis
    finally:
        a.server.stop()
        b.server.stop()


def test_an_unreachable_redis_falls_back_to_the_store(tmp_path: Path) -> None:
    h = start(f"sqlite:///{tmp_path / 'store.db'}", ScriptedProvider([URGENT]), redis_url="redis://127.0.0.1:9/0")
    try:
        seed_tracker(h)
        assert titles(ask(h, "tasks tagged urgent")) == ["Fix login", "Push notifications"]
        assert source(ask(h, "tasks tagged home")) == ("cache", "template")
        assert len(h.model.calls) == 1
    finally:
        h.server.stop()


# -- gateway plans --------------------------------------------------------------------------
def test_gateway_plans_list_show_clear(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_REDIS_URL", raising=False)
    h = start(db_url, ScriptedProvider([URGENT, ADA]))
    seed_tracker(h)
    ask(h, "tasks tagged urgent")
    ask(h, "people called Ada", field="people", selection="name")
    h.server.stop()
    runner = CliRunner()
    where = ["--schema", str(DEMO_SCHEMA), "--db", db_url]

    listed = runner.invoke(app, ["plans", "list", *where])
    assert listed.exit_code == 0, listed.output
    assert "tasks tagged urgent" in listed.output and "tasks tagged {tag}" in listed.output
    assert "people called {name}" in listed.output and "4 plan(s)" in listed.output
    assert "stale" not in listed.output
    template_id = next(line.split()[0] for line in listed.output.splitlines() if "{tag}" in line)

    shown = runner.invoke(app, ["plans", "show", template_id, *where])
    assert shown.exit_code == 0, shown.output
    entry = json.loads(shown.output)
    assert entry["kind"] == "template" and entry["field"] == "query.tasks"
    assert entry["plan"]["steps"][0]["where"] == {"tags": {"name": {"eq": "urgent"}}}
    assert entry["slots"] == {
        "tag": {"param": "tag", "path": ["steps", 0, "where", "tags", "name", "eq"], "type": "text", "words": 1}
    }
    assert entry["reading"] == "found Tasks where tags.name is urgent, ordered by title"
    assert runner.invoke(app, ["plans", "show", "nope", *where]).exit_code == 1

    cleared = runner.invoke(app, ["plans", "clear", "--field", "tasks", *where])
    assert cleared.exit_code == 0 and "cleared 2 plan(s)" in cleared.output
    after = runner.invoke(app, ["plans", "list", *where]).output
    assert "tasks tagged" not in after and "2 plan(s)" in after
    assert "cleared 2 plan(s)" in runner.invoke(app, ["plans", "clear", *where]).output
    assert "0 plan(s)" in runner.invoke(app, ["plans", "list", *where]).output


# -- prompt and indexes ---------------------------------------------------------------------
def test_the_prompt_carries_no_data_rows(db_url: str) -> None:
    model = ScriptedProvider([URGENT, URGENT])
    h = Harness(LiveServer(make_gateway(db_url, provider=model)).start(), model)
    try:
        seed_tracker(h)
        ask(h, "tasks tagged urgent")
        many = [{"id": f"x{i}", "title": f"Row number {i}", "status": "TODO"} for i in range(300)]
        import_records(h.gateway.executor, {"Task": many})
        ask(h, "tasks tagged urgent")
        small, large = (c["messages"] for c in model.calls)
        assert small == large
        text = json.dumps(large)
        assert "Row number" not in text and "Fix login" not in text
    finally:
        h.server.stop()


def test_index_and_unique_directives_create_indexes(db_url: str) -> None:
    gw = make_gateway(db_url)
    try:
        insp = inspect(gw.engine)

        def indexed(table: str) -> dict[str, bool]:
            return {
                ix["column_names"][0]: bool(ix["unique"])
                for ix in insp.get_indexes(table)
                if len(ix["column_names"]) == 1
            }

        task, person, project, tag = (indexed(t) for t in ("Task", "Person", "Project", "Tag"))
        assert task["title"] is False  # @index
        assert person["name"] is False and person["email"] is True  # @index, @unique
        assert project["name"] is True and tag["name"] is True  # @unique
        assert "description" not in task and "role" not in person
        # references are indexed too, for the nested selection's batched queries
        assert "project" in task and "assignee" in task
        assert "_gateway_plans" not in insp.get_table_names()  # plan cache off: no table
        import_records(gw.executor, {"Tag": TRACKER_SEED["Tag"]})
        from gateway import GatewayError

        with pytest.raises(GatewayError):
            import_records(gw.executor, {"Tag": [{"id": "g9", "name": "urgent"}]})
    finally:
        gw.close()
