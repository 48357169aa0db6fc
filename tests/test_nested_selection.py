"""Nested selections: loaded in the plan's own transaction, under models and shapes alike.

A response is one snapshot of the store: a write another client commits while a read plan
runs shows in none of its records, nested ones included. A connector of the test writes
through its own connection in the middle of the plan (after the root records are read,
before the nested selection is), so the timing is fixed by the plan, not by sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import LiveServer, make_gateway
from gateway import ScriptedProvider, import_records

SCHEMA = """
type Project { id: ID! name: String! }
type Task { id: ID! title: String! project: Project details: Details }
type Details { reviewer: Project note: String }
type PerProject { project: Project tasks: Int! }
type Lead { email: String! project: Project related: [Project!] }
type Stamp { done: Boolean! }
type Query {
  tasks(q: String): [Task!]!
  perProject(q: String!): [PerProject!]!
  leads(q: String!): [Lead!]!
}
"""

CONNECTORS = '''
import os

from sqlalchemy import create_engine, text

from gateway import connector


@connector("other.rename", returns="Stamp")
def rename() -> list[dict]:
    """Another client renames the project p1 and commits, through its own connection."""
    engine = create_engine(os.environ["NESTED_TEST_DB"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE \\"Project\\" SET name = 'Renamed' WHERE id = 'p1'"))
    engine.dispose()
    return [{"done": True}]


@connector("crm.leads", returns="Lead")
def leads() -> list[dict]:
    """Records of an outside system that point at stored projects by id."""
    return [{"email": "ada@example.com", "project": "p2", "related": ["p2", "p1", "gone"]}]
'''

SEED = {
    "Project": [{"id": "p1", "name": "Website"}, {"id": "p2", "name": "Mobile app"}],
    "Task": [
        {"id": "t1", "title": "Fix login", "project": "p1", "details": {"reviewer": "p2", "note": "soon"}},
        {"id": "t2", "title": "Write docs", "project": "p1"},
        {"id": "t3", "title": "Ship", "project": "p2"},
    ],
}


@pytest.fixture
def served(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveServer, ScriptedProvider]]:
    monkeypatch.setenv("NESTED_TEST_DB", db_url)
    schema = tmp_path / "schema.graphql"
    schema.write_text(SCHEMA)
    module = tmp_path / "nested_connectors.py"
    module.write_text(CONNECTORS)
    model = ScriptedProvider([])
    server = LiveServer(make_gateway(db_url, schema=schema, provider=model, connectors=str(module))).start()
    import_records(server.gateway.executor, SEED)
    yield server, model
    server.stop()


def find_tasks_then_rename() -> dict:
    return {
        "steps": [
            {"op": "find", "model": "Task", "orderBy": [{"field": "title", "direction": "asc"}]},
            {"op": "call", "connector": "other.rename", "args": {}},
        ],
        "result": 0,
    }


def test_a_write_committed_during_a_read_plan_shows_in_none_of_its_nested_records(served) -> None:
    server, model = served
    model.push(find_tasks_then_rename())
    body = server.gql('{ tasks(q: "tasks with their project") { title project { name } } }')
    assert "errors" not in body, body
    assert body["data"]["tasks"] == [
        {"title": "Fix login", "project": {"name": "Website"}},
        {"title": "Ship", "project": {"name": "Mobile app"}},
        {"title": "Write docs", "project": {"name": "Website"}},
    ]
    # the other client's write did commit: the next request sees it
    after = server.gql("{ tasks { title project { name } } }")["data"]["tasks"]
    assert {t["project"]["name"] for t in after} == {"Renamed", "Mobile app"}


def test_aggregate_rows_load_the_records_they_group_by_from_the_same_snapshot(served) -> None:
    server, model = served
    model.push(
        {
            "steps": [
                {
                    "op": "aggregate",
                    "model": "Task",
                    "groupBy": ["project"],
                    "aggregates": [{"fn": "count", "field": None, "as": "tasks"}],
                    "orderBy": [{"field": "tasks", "direction": "desc"}],
                },
                {"op": "call", "connector": "other.rename", "args": {}},
            ],
            "result": 0,
        }
    )
    body = server.gql('{ perProject(q: "tasks per project") { tasks project { id name } } }')
    assert "errors" not in body, body
    assert body["data"]["perProject"] == [
        {"tasks": 2, "project": {"id": "p1", "name": "Website"}},
        {"tasks": 1, "project": {"id": "p2", "name": "Mobile app"}},
    ]


def test_connector_records_load_the_stored_records_they_reference(served) -> None:
    server, model = served
    model.push({"steps": [{"op": "call", "connector": "crm.leads", "args": {}}], "result": 0})
    body = server.gql('{ leads(q: "the leads") { email project { name } related { id name } } }')
    assert "errors" not in body, body
    assert body["data"]["leads"] == [
        {
            "email": "ada@example.com",
            "project": {"name": "Mobile app"},
            # in the connector's order; an id with no stored record is left out
            "related": [{"id": "p2", "name": "Mobile app"}, {"id": "p1", "name": "Website"}],
        }
    ]


def test_embedded_objects_load_the_records_they_reference(served) -> None:
    server, _ = served
    body = server.gql("{ tasks { title details { note reviewer { name } } } }")
    assert "errors" not in body, body
    by_title = {t["title"]: t["details"] for t in body["data"]["tasks"]}
    assert by_title["Fix login"] == {"note": "soon", "reviewer": {"name": "Mobile app"}}
    assert by_title["Write docs"] is None
