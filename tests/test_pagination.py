"""Pages: a default page size on list fields, `limit` up to a maximum, Relay connections with keyset cursors."""

from __future__ import annotations

import base64
import functools
import json
import random
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import LiveServer, make_gateway
from gateway import ScriptedProvider, export_records, import_records, write_export

CONNECTION_SDL = """
enum Priority { LOW MEDIUM HIGH }
type Task { id: ID! title: String! priority: Priority estimate: Float }
type TaskEdge { node: Task! cursor: String! }
type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type TaskConnection { edges: [TaskEdge!]! pageInfo: PageInfo! }
type Query {
  tasks(q: String, limit: Int): [Task!]!
  taskPage(q: String, first: Int, after: String): TaskConnection!
  openTasks(q: String, first: Int, after: String): TaskConnection!
}
type Mutation { tasks(q: String!): [Task!]! }
"""

PAGE = """query($q: String, $first: Int, $after: String) {
  taskPage(q: $q, first: $first, after: $after) {
    edges { cursor node { id title estimate } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def _tasks(n: int) -> list[dict[str, Any]]:
    """Tasks whose estimates repeat and are sometimes missing, so orderings have ties and NULLs."""
    return [
        {
            "id": f"t{i:03d}",
            "title": f"task {i}",
            "priority": ["LOW", "MEDIUM", "HIGH"][i % 3],
            "estimate": None if i % 4 == 0 else float(i % 3),
        }
        for i in range(n)
    ]


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, ScriptedProvider]]:
    schema = tmp_path / "schema.graphql"
    schema.write_text(CONNECTION_SDL)
    model = ScriptedProvider([])
    server = LiveServer(
        make_gateway(db_url, schema, provider=model, default_page_size=4, max_page_size=10, plan_cache=True)
    ).start()
    import_records(server.gateway.executor, {"Task": _tasks(11)})
    yield server, model
    server.stop()


def test_a_list_field_without_limit_returns_the_default_page(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = served
    body = server.gql("{ tasks { id } }")
    assert len(body["data"]["tasks"]) == 4
    assert body["extensions"]["fields"]["tasks"]["page"] == {"size": 4, "more": True}
    more = server.gql("{ tasks(limit: 10) { id } }")
    assert len(more["data"]["tasks"]) == 10


def test_a_model_plan_without_limit_is_capped_at_the_default_page(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = served
    model.push({"steps": [{"op": "find", "model": "Task", "where": {"priority": {"ne": "HIGH"}}}], "result": 0})
    body = server.gql('{ tasks(q: "tasks that are not high priority") { id } }')
    assert len(body["data"]["tasks"]) == 4 and body["extensions"]["fields"]["tasks"]["page"]["more"] is True


def test_a_limit_over_the_maximum_is_a_coded_error(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = served
    body = server.gql("{ tasks(limit: 11) { id } }")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PAGE_INVALID" and error["extensions"]["maxPageSize"] == 10
    assert "11" in error["message"]


def _walk(server: LiveServer, q: str | None, first: int) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        body = server.gql(PAGE, {"q": q, "first": first, "after": after})
        assert "errors" not in body, body
        page = body["data"]["taskPage"]
        nodes += [e["node"] for e in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]


def test_a_listing_connection_pages_through_every_record_once(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = served
    nodes = _walk(server, None, 3)
    assert [n["id"] for n in nodes] == [f"t{i:03d}" for i in range(11)]


def test_a_planned_ordering_with_ties_and_nulls_pages_without_gaps_or_repeats(
    served: tuple[LiveServer, ScriptedProvider],
) -> None:
    server, model = served
    model.push(
        {
            "steps": [{"op": "find", "model": "Task", "orderBy": [{"field": "estimate", "direction": "desc"}]}],
            "result": 0,
        }
    )
    nodes = _walk(server, "tasks, biggest estimate first", 3)
    ids = [n["id"] for n in nodes]
    assert sorted(ids) == [f"t{i:03d}" for i in range(11)]  # every task exactly once
    estimates = [n["estimate"] for n in nodes if n["estimate"] is not None]
    assert estimates == sorted(estimates, reverse=True)
    assert len(model.calls) == 1  # later pages reuse the cached plan: the cursor is not part of the request


def test_a_record_inserted_before_the_cursor_does_not_shift_the_next_page(
    served: tuple[LiveServer, ScriptedProvider],
) -> None:
    server, _ = served
    first = server.gql(PAGE, {"first": 3})["data"]["taskPage"]
    assert [e["node"]["id"] for e in first["edges"]] == ["t000", "t001", "t002"]
    import_records(server.gateway.executor, {"Task": [{"id": "t000a", "title": "squeezed in"}]})
    second = server.gql(PAGE, {"first": 3, "after": first["pageInfo"]["endCursor"]})["data"]["taskPage"]
    assert [e["node"]["id"] for e in second["edges"]] == ["t003", "t004", "t005"]


def test_the_plans_own_limit_ends_the_pages(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = served
    model.push({"steps": [{"op": "find", "model": "Task", "orderBy": [{"field": "title"}], "limit": 5}], "result": 0})
    nodes = _walk(server, "the first five tasks by title", 2)
    assert len(nodes) == 5


@pytest.mark.parametrize("cursor", ["not a cursor", "eyJuIjogMX0"])
def test_a_cursor_the_gateway_did_not_hand_out_is_refused(
    served: tuple[LiveServer, ScriptedProvider], cursor: str
) -> None:
    server, _ = served
    body = server.gql(PAGE, {"first": 2, "after": cursor})
    assert body["errors"][0]["extensions"]["code"] == "PAGE_INVALID"


def test_a_cursor_of_another_ordering_is_refused(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = served
    listing = server.gql(PAGE, {"first": 2})["data"]["taskPage"]
    model.push({"steps": [{"op": "find", "model": "Task", "orderBy": [{"field": "title"}]}], "result": 0})
    body = server.gql(PAGE, {"q": "tasks by title", "first": 2, "after": listing["pageInfo"]["endCursor"]})
    assert body["errors"][0]["extensions"]["code"] == "PAGE_INVALID"


def test_first_over_the_maximum_is_refused(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = served
    body = server.gql(PAGE, {"first": 50})
    assert body["errors"][0]["extensions"]["code"] == "PAGE_INVALID"


def test_the_sdl_recognises_a_connection(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = served
    root = server.gateway.catalog.root("query", "taskPage")
    assert root.connection is not None and root.connection.node == "Task" and root.models == ("Task",)


def test_export_streams_a_large_table_without_holding_it(tmp_path: Path) -> None:
    gw = make_gateway(f"sqlite:///{tmp_path / 'big.db'}")
    for start in range(0, 20_000, 250):  # main caps one import step (1,000 records, a node budget)
        import_records(
            gw.executor,
            {
                "Project": [
                    {"id": f"p{i:06d}", "name": f"project {i}", "description": "x" * 200}
                    for i in range(start, start + 250)
                ]
            },
        )
    out = tmp_path / "export.json"
    tracemalloc.start()
    with out.open("w", encoding="utf-8") as f:
        write_export(gw.executor, f)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = out.stat().st_size
    assert size > 4_000_000
    assert peak < size / 4, (peak, size)  # rows are written as they are read, never all held at once
    assert json.loads(out.read_text()) == export_records(gw.executor)
    gw.close()


# -- keyset cursors on any ordering, while rows are written between pages ----------------------
Row = dict[str, Any]
Key = list[tuple[Any, bool]]  # a row's values of the ordering, each with "descending"

ORDERINGS: dict[str, tuple[list[dict[str, Any]], Callable[[Row], Key]]] = {
    "length of the title": (
        [{"expr": {"fn": "length", "args": [{"field": "title"}]}}],
        lambda r: [(len(r["title"]), False)],
    ),
    "computed value with nulls, descending": (
        [{"expr": {"fn": "mul", "args": [{"field": "estimate"}, 2]}, "direction": "desc"}],
        lambda r: [(None if r["estimate"] is None else r["estimate"] * 2, True)],
    ),
    "creation order": ([{"field": "$created"}], lambda r: [(r["created"], False)]),
    "newest first": ([{"field": "$created", "direction": "desc"}], lambda r: [(r["created"], True)]),
    "expression then a field with nulls": (
        [{"expr": {"fn": "length", "args": [{"field": "title"}]}, "direction": "desc"}, {"field": "estimate"}],
        lambda r: [(len(r["title"]), True), (r["estimate"], False)],
    ),
}


def _compare(a: Key, b: Key) -> int:
    """The order on every store: NULLs last in either direction."""
    for (x, descending), (y, _) in zip(a, b, strict=True):
        if x == y:
            continue
        if x is None or y is None:
            return 1 if x is None else -1
        return (1 if x < y else -1) if descending else (-1 if x < y else 1)
    return 0


@pytest.fixture
def writable(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, ScriptedProvider]]:
    """Like ``served`` without the plan cache: every request takes the next scripted plan."""
    schema = tmp_path / "schema.graphql"
    schema.write_text(CONNECTION_SDL)
    model = ScriptedProvider([])
    server = LiveServer(make_gateway(db_url, schema, provider=model, default_page_size=4, max_page_size=10)).start()
    yield server, model
    server.stop()


@pytest.mark.parametrize("ordering", list(ORDERINGS))
def test_any_ordering_pages_every_row_once_while_rows_are_inserted_and_deleted(
    writable: tuple[LiveServer, ScriptedProvider], ordering: str
) -> None:
    server, model = writable
    order_by, values = ORDERINGS[ordering]
    rng = random.Random(ordering)
    rows: dict[str, Row] = {}
    created = 0

    def insert(*new: Row) -> None:
        nonlocal created
        import_records(server.gateway.executor, {"Task": [{k: v for k, v in r.items() if k != "created"} for r in new]})
        for r in new:
            created += 1
            rows[r["id"]] = {**r, "created": created}

    def task(n: int) -> Row:
        estimate = rng.choice([None, 0.0, 1.0, 2.5])
        return {"id": f"t{n:03d}", "title": "x" * rng.randint(1, 5), "estimate": estimate}

    def key(r: Row) -> Key:
        return [*values(r), (r["created"], False), (r["id"], False)]

    insert(*(task(n) for n in range(12)))
    plan = {"steps": [{"op": "find", "model": "Task", "orderBy": order_by}], "result": 0}
    after, last, seen, pages = None, None, [], 0
    while True:
        expected = sorted(rows.values(), key=functools.cmp_to_key(lambda a, b: _compare(key(a), key(b))))
        ahead = [r["id"] for r in expected if last is None or _compare(key(r), last) > 0]
        model.push(plan)
        response = server.post(PAGE, {"q": f"tasks by {ordering}", "first": 3, "after": after})
        assert "$key" not in response.text  # the ordering values travel only inside the cursor
        page = response.json()["data"]["taskPage"]
        got = [e["node"]["id"] for e in page["edges"]]
        assert got == ahead[:3], (pages, got, ahead)
        assert page["pageInfo"]["hasNextPage"] is (len(ahead) > 3)
        seen += got
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after, last = page["pageInfo"]["endCursor"], key(rows[got[-1]])
        if pages <= 6:  # others write between pages: new rows anywhere, the cursor's row or a later one gone
            insert(task(100 + 2 * pages), task(101 + 2 * pages))
            doomed = got[-1] if pages % 2 else rng.choice(ahead[3:])
            model.push({"steps": [{"op": "delete", "model": "Task", "where": {"id": {"eq": doomed}}}], "result": 0})
            deleted = server.gql(f'mutation {{ tasks(q: "delete task {doomed}") {{ id }} }}')
            assert deleted["data"]["tasks"] == [{"id": doomed}]
            del rows[doomed]
    assert len(seen) == len(set(seen)) and pages >= 4


def _forge(cursor: str, change: Callable[[dict[str, Any]], Any]) -> str:
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    text = json.dumps(change(payload), allow_nan=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _set(index: int, value: Any) -> Callable[[dict[str, Any]], Any]:
    def change(p: dict[str, Any]) -> dict[str, Any]:
        p["v"][index] = value
        return p

    return change


FORGERIES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "text for a number": _set(0, "long"),
    "a number past 64 bits": _set(0, 10**30),
    "not a number": _set(0, float("nan")),
    "a number for the id": _set(2, 7),
    "an expression for a value": _set(0, {"fn": "now"}),
    "a list for a value": _set(2, ["t001"]),
    "text that is not Unicode": _set(2, "\ud800"),
    "a value missing": lambda p: {**p, "v": p["v"][:-1]},
    "no values": lambda p: {k: v for k, v in p.items() if k != "v"},
    "a negative position": lambda p: {**p, "n": -5},
    "a position that is not a number": lambda p: {**p, "n": True},
    "not an object": lambda p: [p],
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_tampered_cursor_is_a_coded_error(served: tuple[LiveServer, ScriptedProvider], forgery: str) -> None:
    server, model = served
    plan = {"steps": [{"op": "find", "model": "Task", "orderBy": ORDERINGS["length of the title"][0]}], "result": 0}
    model.push(plan)
    q = "tasks by the length of their title"
    first = server.gql(PAGE, {"q": q, "first": 2})["data"]["taskPage"]
    response = server.post(
        PAGE, {"q": q, "first": 2, "after": _forge(first["pageInfo"]["endCursor"], FORGERIES[forgery])}
    )
    assert response.status_code < 500
    assert response.json()["errors"][0]["extensions"]["code"] == "PAGE_INVALID"


def test_a_cursor_nested_too_deep_to_read_is_a_coded_error(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = served
    deep = base64.urlsafe_b64encode(b"[" * 100_000).decode()
    response = server.post(PAGE, {"first": 2, "after": deep})
    assert response.status_code < 500
    assert response.json()["errors"][0]["extensions"]["code"] == "PAGE_INVALID"


def test_a_nul_character_in_a_cursor_never_reaches_postgresql(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = served
    first = server.gql(PAGE, {"first": 2})["data"]["taskPage"]
    forged = _forge(first["pageInfo"]["endCursor"], _set(1, "t001\x00"))
    response = server.post(PAGE, {"first": 2, "after": forged})
    assert response.status_code < 500
    body = response.json()
    if server.gateway.executor.sqlite:  # SQLite compares such text like any other
        assert [e["node"]["id"] for e in body["data"]["taskPage"]["edges"]] == ["t002", "t003"]
    else:
        assert body["errors"][0]["extensions"]["code"] == "PAGE_INVALID"


def test_a_cursor_of_another_expression_ordering_is_refused(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = served
    by_length = ORDERINGS["length of the title"][0]
    model.push({"steps": [{"op": "find", "model": "Task", "orderBy": by_length}], "result": 0})
    page = server.gql(PAGE, {"q": "tasks by title length", "first": 2})["data"]["taskPage"]
    by_lower = [{"expr": {"fn": "lower", "args": [{"field": "title"}]}}]
    model.push({"steps": [{"op": "find", "model": "Task", "orderBy": by_lower}], "result": 0})
    body = server.gql(PAGE, {"q": "tasks by lower-case title", "first": 2, "after": page["pageInfo"]["endCursor"]})
    assert body["errors"][0]["extensions"]["code"] == "PAGE_INVALID"
    assert "another field or ordering" in body["errors"][0]["message"]


def test_a_cursor_of_another_field_is_refused(served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = served
    page = server.gql(PAGE, {"first": 2})["data"]["taskPage"]
    other = PAGE.replace("taskPage(", "openTasks(")
    body = server.gql(other, {"first": 2, "after": page["pageInfo"]["endCursor"]})
    assert body["errors"][0]["extensions"]["code"] == "PAGE_INVALID"


# -- nested lists: the same default page, per parent, and `limit` for more ----------------------
NESTED_SDL = """
type Project { id: ID! name: String! tasks(limit: Int): [Task!]! }
type Tag { id: ID! name: String! tasks: [Task!]! }
type Task { id: ID! title: String! project: Project tags(limit: Int): [Tag!]! }
type Query {
  projects(q: String, limit: Int): [Project!]!
  tags(q: String): [Tag!]!
}
type Mutation { projects(q: String!): [Project!]! }
"""


@pytest.fixture
def nested(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, ScriptedProvider]]:
    schema = tmp_path / "schema.graphql"
    schema.write_text(NESTED_SDL)
    model = ScriptedProvider([])
    server = LiveServer(make_gateway(db_url, schema, provider=model, default_page_size=4, max_page_size=10)).start()
    import_records(
        server.gateway.executor,
        {
            "Project": [{"id": "big", "name": "Big"}, {"id": "small", "name": "Small"}],
            "Tag": [{"id": f"g{i}", "name": f"tag {i}"} for i in range(3)],
        },
    )
    # created out of id order, so the page follows creation order rather than ids
    tasks = [
        {"id": f"b{9 - i}", "title": f"big {i}", "project": "big", "tags": ["g0", "g1", "g2"] if i < 6 else ["g0"]}
        for i in range(7)
    ]
    tasks += [{"id": f"s{i}", "title": f"small {i}", "project": "small", "tags": []} for i in range(2)]
    import_records(server.gateway.executor, {"Task": tasks})
    yield server, model
    server.stop()


def test_a_nested_list_returns_the_default_page_per_parent(nested: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = nested
    body = server.gql("{ projects { id tasks { id } } }")
    assert "errors" not in body, body
    tasks = {p["id"]: [t["id"] for t in p["tasks"]] for p in body["data"]["projects"]}
    assert tasks == {"big": ["b9", "b8", "b7", "b6"], "small": ["s0", "s1"]}
    assert body["extensions"]["fields"]["projects"]["pages"] == {"tasks": {"size": 4, "more": True}}


def test_a_nested_limit_asks_for_more_up_to_the_maximum(nested: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = nested
    body = server.gql("query($n: Int) { projects { id tasks(limit: $n) { id tags(limit: 1) { id } } } }", {"n": 10})
    assert "errors" not in body, body
    big = body["data"]["projects"][0]
    assert [t["id"] for t in big["tasks"]] == ["b9", "b8", "b7", "b6", "b5", "b4", "b3"]
    assert all(len(t["tags"]) == 1 for t in big["tasks"])
    assert body["extensions"]["fields"]["projects"]["pages"] == {
        "tasks": {"size": 10, "more": False},
        "tasks.tags": {"size": 1, "more": True},
    }


def test_a_nested_list_through_a_join_table_is_paged_too(nested: tuple[LiveServer, ScriptedProvider]) -> None:
    server, _ = nested
    body = server.gql("{ tags { id tasks { id } } }")
    counts = {t["id"]: len(t["tasks"]) for t in body["data"]["tags"]}
    assert counts == {"g0": 4, "g1": 4, "g2": 4}
    assert body["extensions"]["fields"]["tags"]["pages"] == {"tasks": {"size": 4, "more": True}}


def test_a_nested_limit_over_the_maximum_is_refused_and_writes_nothing(
    nested: tuple[LiveServer, ScriptedProvider],
) -> None:
    server, model = nested
    model.push({"steps": [{"op": "insert", "model": "Project", "values": [{"name": "New"}]}], "result": 0})
    body = server.gql('mutation { projects(q: "add a project New") { id tasks(limit: 11) { id } } }')
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PAGE_INVALID" and error["extensions"]["maxPageSize"] == 10
    names = [p["name"] for p in server.gql("{ projects { name } }")["data"]["projects"]]
    assert names == ["Big", "Small"]
    assert model.calls == []  # refused before the model was asked
