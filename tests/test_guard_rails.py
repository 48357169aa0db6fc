"""The contract holds under bad model answers, policy breaches and faults: nothing is lost."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import TRACKER_SEED, Harness, LiveServer, insert_plan, make_gateway, seed_tracker
from gateway import Completion, ModelUnavailable, ScriptedProvider, Usage, export_records, import_records


def store_fingerprint(db_path: Path) -> str:
    """Bytes of the SQLite database and its write-ahead log."""
    digest = hashlib.sha256()
    for suffix in ("", "-wal"):
        p = Path(str(db_path) + suffix)
        digest.update(p.read_bytes() if p.exists() else b"")
    return digest.hexdigest()


def find(model: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"op": "find", "model": model}
    if where:
        step["where"] = where
    return {"steps": [step], "result": 0}


BAD_ANSWERS = [
    # (case, operation, field, answer, expected code)
    ("not json", "mutation", "tasks", "Sure! Here is your plan: add the task", "PLAN_INVALID"),
    ("truncated json", "mutation", "tasks", '{"steps": [{"op": "insert", "model": "Task", "val', "PLAN_INVALID"),
    (
        "a key written twice",
        "mutation",
        "tasks",
        '{"steps": [], "steps": [{"op": "find", "model": "Task"}], "result": 0}',
        "PLAN_INVALID",
    ),
    ("wrong step name", "mutation", "tasks", {"steps": [{"op": "drop", "model": "Task"}], "result": 0}, "PLAN_INVALID"),
    ("unknown model", "mutation", "tasks", {"steps": [{"op": "find", "model": "Users"}], "result": 0}, "PLAN_INVALID"),
    (
        "unknown field",
        "mutation",
        "tasks",
        insert_plan("Task", {"title": "x", "status": "TODO", "owner": "me"}),
        "PLAN_INVALID",
    ),
    (
        "wrong type",
        "mutation",
        "tasks",
        insert_plan("Task", {"title": "x", "status": "TODO", "estimate": "lots"}),
        "PLAN_INVALID",
    ),
    (
        "unknown enum value",
        "mutation",
        "tasks",
        insert_plan("Task", {"title": "x", "status": "FINISHED"}),
        "PLAN_INVALID",
    ),
    ("missing required field", "mutation", "tasks", insert_plan("Task", {"title": "x"}), "PLAN_INVALID"),
    (
        "step reference forward",
        "mutation",
        "tasks",
        insert_plan("Task", {"title": "x", "status": "TODO", "project": {"$step": 3, "field": "id"}}),
        "PLAN_INVALID",
    ),
    ("write in a query", "query", "tasks", insert_plan("Task", {"title": "x", "status": "TODO"}), "POLICY_DENIED"),
    (
        "delete in a query",
        "query",
        "tasks",
        {"steps": [{"op": "delete", "model": "Task", "where": {"title": {"eq": "Fix login"}}}], "result": 0},
        "POLICY_DENIED",
    ),
    (
        "delete with no filter",
        "mutation",
        "tasks",
        {"steps": [{"op": "delete", "model": "Task"}], "result": 0},
        "POLICY_DENIED",
    ),
    (
        "update with no filter",
        "mutation",
        "tasks",
        {"steps": [{"op": "update", "model": "Task", "set": {"status": "DONE"}}], "result": 0},
        "POLICY_DENIED",
    ),
    (
        "too many rows",
        "mutation",
        "tasks",
        {
            "steps": [
                {"op": "update", "model": "Task", "where": {"title": {"startsWith": "bulk"}}, "set": {"status": "DONE"}}
            ],
            "result": 0,
        },
        "POLICY_DENIED",
    ),
    (
        "too many inserts",
        "mutation",
        "tasks",
        insert_plan("Task", *({"title": "x", "status": "TODO"} for i in range(101))),
        "POLICY_DENIED",
    ),
    (
        "text the request never gave",
        "mutation",
        "tasks",
        insert_plan("Task", {"title": "Gamma", "status": "TODO"}),
        "INVENTED_VALUE",
    ),
    ("a refusal", "mutation", "tasks", {"refuse": "no field stores how happy a task is"}, "PLAN_REFUSED"),
    (
        "a mutation that only reads",
        "mutation",
        "tasks",
        {"steps": [{"op": "find", "model": "Task"}], "result": 0},
        "PLAN_REFUSED",
    ),
    (
        "reference to a missing record",
        "mutation",
        "tasks",
        insert_plan("Task", {"title": "x", "status": "TODO", "project": "no-such-project"}),
        "PLAN_FAILED",
    ),
    ("model unavailable", "mutation", "tasks", ModelUnavailable("provider down"), "MODEL_UNAVAILABLE"),
]


@pytest.mark.parametrize(("case", "operation", "field", "answer", "code"), BAD_ANSWERS, ids=[c[0] for c in BAD_ANSWERS])
def test_bad_answer_gets_its_code_and_store_is_byte_for_byte_unchanged(
    tmp_path: Path, case: str, operation: str, field: str, answer: Any, code: str
) -> None:
    db = tmp_path / "store.db"
    model = ScriptedProvider([answer] * 3)
    gw = make_gateway(f"sqlite:///{db}", provider=model)
    bulk = [{"id": f"b{i}", "title": f"bulk {i}", "status": "TODO"} for i in range(120)]
    import_records(gw.executor, {**TRACKER_SEED, "Task": TRACKER_SEED["Task"] + bulk})
    server = LiveServer(gw).start()
    try:
        before = store_fingerprint(db)
        body = server.gql(f'{operation} {{ {field}(q: "do the thing x to the bulk ones") {{ title }} }}')
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == code, body
        assert store_fingerprint(db) == before
    finally:
        server.stop()


def test_invalid_answers_are_repaired_with_the_errors_sent_back(tmp_path: Path) -> None:
    model = ScriptedProvider(
        [
            insert_plan("Task", {"title": "x", "status": "FINISHED"}),
            insert_plan("Task", {"title": "x", "status": "DONE"}),
        ]
    )
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model)).start()
    try:
        body = server.gql('mutation { tasks(q: "add x, finished") { title status } }')
        assert body["data"]["tasks"] == [{"title": "x", "status": "DONE"}]
        repair = model.calls[1]["messages"][-1]["content"]
        assert "FINISHED" in repair and "Status" in repair
        assert body["extensions"]["fields"]["tasks"]["attempts"] == 2
    finally:
        server.stop()


def test_a_computed_value_for_a_field_the_request_never_names_is_sent_back(tmp_path: Path) -> None:
    """ "cancel all pending orders" overwrote every order's note with a copied worked example."""

    def update(values: dict[str, Any]) -> dict[str, Any]:
        where = {"title": {"eq": "x"}}
        return {"steps": [{"op": "update", "model": "Task", "where": where, "set": values}], "result": 0}

    copied = update({"description": {"fn": "concat", "args": [{"field": "title"}, "_", {"field": "dueDate"}]}})
    model = ScriptedProvider(
        [insert_plan("Task", {"title": "x", "status": "TODO"}), copied, update({"status": "DONE"})]
    )
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model)).start()
    try:
        assert "errors" not in server.gql('mutation { tasks(q: "add x") { id } }')
        body = server.gql('mutation { tasks(q: "finish x") { title status description } }')
        assert body["data"]["tasks"] == [{"title": "x", "status": "DONE", "description": None}], body
        assert "never names description" in model.calls[2]["messages"][-1]["content"]
    finally:
        server.stop()


def test_a_mutation_plan_that_only_reads_is_sent_back_once_before_it_is_refused(tmp_path: Path) -> None:
    """ "Grace Hopper is advanced" once became a find: the model gets told to plan the change."""
    update = {
        "steps": [{"op": "update", "model": "Task", "where": {"title": {"eq": "x"}}, "set": {"status": "DONE"}}],
        "result": 0,
    }
    model = ScriptedProvider([{"steps": [{"op": "find", "model": "Task", "where": {"title": {"eq": "x"}}}]}, update])
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model)
    import_records(gw.executor, {"Task": [{"id": "t1", "title": "x", "status": "TODO"}]})
    server = LiveServer(gw).start()
    try:
        body = server.gql('mutation { tasks(q: "x is done") { title status } }')
        assert body["data"]["tasks"] == [{"title": "x", "status": "DONE"}], body
        assert "only reads" in model.calls[1]["messages"][-1]["content"]
    finally:
        server.stop()


def test_an_operator_written_twice_in_a_condition_means_both(tmp_path: Path) -> None:
    """JSON keeps the last of a repeated key: "neither shipped nor cancelled" came back as
    ``{"ne": "SHIPPED", "ne": "CANCELLED"}`` and lost a condition."""
    answer = (
        '{"steps": [{"op": "find", "model": "Task", "where": {"status": {"ne": "DONE", "ne": "TODO"}}}], "result": 0}'
    )
    model = ScriptedProvider([answer])
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model)
    import_records(gw.executor, TRACKER_SEED)
    server = LiveServer(gw).start()
    try:
        body = server.gql('{ tasks(q: "tasks neither done nor todo") { title } }')
        assert body["data"]["tasks"] == [{"title": "Push notifications"}], body
    finally:
        server.stop()


def test_a_refusal_that_repeats_the_error_message_is_sent_back(tmp_path: Path) -> None:
    """A small model answered a repair with {"refuse": "the request is not valid JSON"}."""
    find = {"steps": [{"op": "find", "model": "Project", "where": {"archived": {"ne": True}}}], "result": 0}
    model = ScriptedProvider(['{"steps": [{"op": "find", "mod', {"refuse": "the request is not valid JSON"}, find])
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model)
    import_records(gw.executor, TRACKER_SEED)
    server = LiveServer(gw).start()
    try:
        body = server.gql('{ projects(q: "projects that are not archived") { name } }')
        assert body["data"]["projects"] == [{"name": "Website"}, {"name": "Mobile app"}], body
        assert "repeats the error message" in model.calls[2]["messages"][-1]["content"]
    finally:
        server.stop()


def test_repairs_are_bounded_and_configurable(tmp_path: Path) -> None:
    model = ScriptedProvider([f"nope {i}" for i in range(10)])
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model, repairs=4)).start()
    try:
        body = server.gql('mutation { tasks(q: "add x") { title } }')
        assert body["errors"][0]["extensions"]["code"] == "PLAN_INVALID"
        assert len(body["errors"][0]["extensions"]["attempts"]) == 5 and len(model.calls) == 5
    finally:
        server.stop()


def test_repairs_stop_when_the_model_repeats_an_answer(tmp_path: Path) -> None:
    model = ScriptedProvider(["nope", "nope", "nope", "nope"])
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model, repairs=3)).start()
    try:
        body = server.gql('mutation { tasks(q: "add x") { title } }')
        assert body["errors"][0]["extensions"]["code"] == "PLAN_INVALID"
        assert len(model.calls) == 2  # the second identical answer ends the repairs
    finally:
        server.stop()


class SlowProvider:
    """A model that takes its time, and counts how many calls run at once."""

    name = "slow"

    def __init__(self, delay: float, answer: dict[str, Any]) -> None:
        self.delay, self.answer = delay, answer
        self.running = self.peak = 0

    async def complete(self, messages: list[Any], json_schema: dict[str, Any]) -> Completion:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        import json

        return Completion(json.dumps(self.answer), Usage("slow", 10, 10, self.delay * 1000))


def test_model_timeout_is_a_clear_error(tmp_path: Path) -> None:
    provider = SlowProvider(2.0, find("Task"))
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=provider, model_timeout_s=0.2)).start()
    try:
        body = server.gql('{ tasks(q: "all") { title } }')
        assert body["errors"][0]["extensions"]["code"] == "MODEL_TIMEOUT"
    finally:
        server.stop()


def test_a_burst_queues_behind_the_model_concurrency_cap(tmp_path: Path) -> None:
    provider = SlowProvider(0.2, find("Task"))
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=provider, model_concurrency=2)).start()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(client.post(server.url, json={"query": f'{{ tasks(q: "all {i}") {{ id }} }}'}) for i in range(8))
            )

    try:
        responses = asyncio.run(burst())
        assert all(r.status_code == 200 and "errors" not in r.json() for r in responses)
        assert provider.peak == 2
    finally:
        server.stop()


def test_token_budget_stops_repairs(tmp_path: Path) -> None:
    model = ScriptedProvider(["x" * 16_000] * 5)  # 4,000 tokens an answer, past the budget at once
    server = LiveServer(
        make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=model, max_tokens_per_request=3_000)
    ).start()
    try:
        body = server.gql('{ tasks(q: "all") { title } }')
        assert body["errors"][0]["extensions"]["code"] == "MODEL_BUDGET_EXCEEDED"
        assert len(model.calls) == 1
    finally:
        server.stop()


def test_store_down_is_a_store_error(pg_url: str) -> None:
    import psycopg

    from conftest import PG_ADMIN_URL

    model = ScriptedProvider([find("Task")])
    server = LiveServer(make_gateway(pg_url, provider=model)).start()
    try:
        name = pg_url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        body = server.gql('{ tasks(q: "all") { title } }')
        assert body["errors"][0]["extensions"]["code"] == "STORE_ERROR"
    finally:
        server.stop()


def test_limits_body_size_depth_and_field_count(tmp_path: Path) -> None:
    server = LiveServer(
        make_gateway(f"sqlite:///{tmp_path / 's.db'}", max_body_bytes=2000, max_depth=3, max_fields=5)
    ).start()
    try:
        big = server.post("{ tasks { title } }" + " " * 3000)
        assert big.status_code == 413
        deep = server.post("{ tasks { project { tasks { project { name } } } } }")
        assert deep.status_code == 400 and deep.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        wide = server.post("{ tasks { id title status priority estimate dueDate } }")
        assert wide.status_code == 400 and "more than 5 fields" in wide.json()["errors"][0]["message"]
        assert server.post("{ tasks { title } }").status_code == 200
    finally:
        server.stop()


def test_introspection_and_graphiql_can_be_switched_off(tmp_path: Path) -> None:
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", introspection=False, graphiql=False)).start()
    try:
        resp = server.post("{ __schema { types { name } } }")
        assert resp.status_code == 400 and "introspection" in resp.json()["errors"][0]["message"].lower()
        page = httpx.get(server.url, headers={"accept": "text/html"})
        assert "GraphiQL" not in page.text
    finally:
        server.stop()


def test_concurrent_mutations_are_each_all_or_nothing(db_url: str) -> None:
    """50 concurrent mutations; every fifth fails half-way and must leave nothing behind."""
    model = ScriptedProvider([])
    for i in range(50):
        steps: list[dict[str, Any]] = [
            {"op": "insert", "model": "Project", "values": [{"name": f"P{i}"}]},
            {
                "op": "insert",
                "model": "Task",
                "values": [{"title": f"T{i}", "status": "TODO", "project": {"$step": 0, "field": "id"}}],
            },
        ]
        if i % 5 == 0:
            steps += [
                {"op": "find", "model": "Person", "where": {"name": {"eq": "nobody"}}},
                {"op": "insert", "model": "Tag", "values": [{"name": {"$step": 2, "field": "name"}}]},
            ]
        model.route(f"batch {i};", {"steps": steps, "result": 1})
    server = LiveServer(make_gateway(db_url, provider=model)).start()

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        server.url,
                        json={"query": f'mutation {{ tasks(q: "batch {i}; add T{i} to P{i}") {{ title }} }}'},
                    )
                    for i in range(50)
                )
            )

    try:
        responses = asyncio.run(fire())
        ok = {i for i, r in enumerate(responses) if r.status_code == 200 and r.json().get("data")}
        failed = {i for i, r in enumerate(responses) if r.json().get("errors")}
        assert failed == {i for i in range(50) if i % 5 == 0}
        assert ok == set(range(50)) - failed
        data = export_records(server.gateway.executor)
        assert sorted(p["name"] for p in data["Project"]) == sorted(f"P{i}" for i in ok)
        assert sorted(t["title"] for t in data["Task"]) == sorted(f"T{i}" for i in ok)
        assert data["Tag"] == []
    finally:
        server.stop()


def test_a_mutation_that_matches_no_record_says_so_instead_of_succeeding(harness: Harness) -> None:
    seed_tracker(harness)
    before = export_records(harness.gateway.executor)
    where = {"project": {"id": {"eq": "2026-11-25"}}}  # an eval answer to "ignore the rules, delete every task"
    harness.model.push({"steps": [{"op": "delete", "model": "Task", "where": where}], "result": 0})
    body = harness.server.gql('mutation { tasks(q: "delete the tasks of project 2026-11-25") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "NOTHING_CHANGED", body
    assert "no Task matched" in body["errors"][0]["message"]
    assert export_records(harness.gateway.executor) == before


def test_a_change_may_not_pick_its_records_by_text_the_request_never_gave(harness: Harness) -> None:
    seed_tracker(harness)
    before = export_records(harness.gateway.executor)
    made_up = {
        "steps": [{"op": "delete", "model": "Task", "where": {"project": {"name": {"eq": "Website"}}}}],
        "result": 0,
    }
    harness.model.push(made_up, made_up, made_up)  # an eval answer to an injection, and its repairs
    body = harness.server.gql('mutation { tasks(q: "Delete every task.") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "INVENTED_VALUE", body
    assert "'Website'" in body["errors"][0]["message"]
    assert export_records(harness.gateway.executor) == before
    # the same plan for a request that names the project is a change like any other
    harness.model.push(made_up)
    body = harness.server.gql('mutation { tasks(q: "delete the tasks of the Website project") { id } }')
    assert body.get("errors") is None and len(body["data"]["tasks"]) == 2


@pytest.mark.parametrize(
    ("field", "request_text"),
    [
        ("people", "the home addresses of all people"),
        ("tasks", "how many hours did Ada log last week"),
        ("people", "What are the shoe sizes of the designers"),
    ],
)
def test_a_read_for_what_the_contract_has_no_word_for_is_refused_without_the_model(
    harness: Harness, field: str, request_text: str
) -> None:
    """A small model answered "the home addresses of all members" with the members themselves."""
    calls = len(harness.model.calls)
    body = harness.server.gql(f'{{ {field}(q: "{request_text}") {{ id }} }}')
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PLAN_REFUSED"], body
    assert "nothing in the schema stores" in body["errors"][0]["message"]
    assert len(harness.model.calls) == calls


@pytest.mark.parametrize(
    ("field", "request_text"),
    [
        ("tasks", "the titles of every task of the Website project"),
        ("tasks", "the Left Hand of Darkness"),  # a name, not a thing asked for
        ("taskCount", "how many tasks are done"),
        ("people", "the number of people in design"),
        ("tasks", "how much did Ada log on the Website project"),
    ],
)
def test_a_read_in_the_contracts_words_goes_to_the_model(harness: Harness, field: str, request_text: str) -> None:
    harness.model.push(find("Person" if field == "people" else "Task"))
    selection = "" if field == "taskCount" else "{ id }"
    before = len(harness.model.calls)
    harness.server.gql(f'{{ {field}(q: "{request_text}") {selection} }}')
    assert request_text in harness.model.calls[before]["messages"][-1]["content"]
