"""Pages: a default page size on list fields, `limit` up to a maximum, Relay connections with keyset cursors."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any, Iterator

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
    return [{"id": f"t{i:03d}", "title": f"task {i}", "priority": ["LOW", "MEDIUM", "HIGH"][i % 3],
             "estimate": None if i % 4 == 0 else float(i % 3)} for i in range(n)]


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, ScriptedProvider]]:
    schema = tmp_path / "schema.graphql"
    schema.write_text(CONNECTION_SDL)
    model = ScriptedProvider([])
    server = LiveServer(make_gateway(db_url, schema, provider=model, default_page_size=4, max_page_size=10,
                                     plan_cache=True)).start()
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
        served: tuple[LiveServer, ScriptedProvider]) -> None:
    server, model = served
    model.push({"steps": [{"op": "find", "model": "Task",
                           "orderBy": [{"field": "estimate", "direction": "desc"}]}], "result": 0})
    nodes = _walk(server, "tasks, biggest estimate first", 3)
    ids = [n["id"] for n in nodes]
    assert sorted(ids) == [f"t{i:03d}" for i in range(11)]  # every task exactly once
    estimates = [n["estimate"] for n in nodes if n["estimate"] is not None]
    assert estimates == sorted(estimates, reverse=True)
    assert len(model.calls) == 1  # later pages reuse the cached plan: the cursor is not part of the request


def test_a_record_inserted_before_the_cursor_does_not_shift_the_next_page(
        served: tuple[LiveServer, ScriptedProvider]) -> None:
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
def test_a_cursor_the_gateway_did_not_hand_out_is_refused(served: tuple[LiveServer, ScriptedProvider],
                                                           cursor: str) -> None:
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
        import_records(gw.executor, {"Project": [{"id": f"p{i:06d}", "name": f"project {i}", "description": "x" * 200}
                                                 for i in range(start, start + 250)]})
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
