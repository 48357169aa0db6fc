"""A malicious or confused model against the plan checks, on SQLite and PostgreSQL.

Each case plays a plan an adversarial pass found dangerous: @auth the SDL accepts on an
interface, a result shape or an embedded object; ``$step`` references that copy hidden fields;
links that re-parent or unlink more rows than the cap; filters that match every row; values
of the wrong type arriving through references. None may show a hidden value or change a row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import LiveServer, make_gateway
from gateway import ScriptedProvider, export_records, import_records

HR = """
enum Status { OPEN DONE }

interface Private @auth(roles: ["hr"]) { id: ID! }

type Badge implements Private { id: ID! code: String! }

type Address { city: String secret: String @auth(roles: ["hr"]) }

type Person {
  id: ID!
  name: String!
  salary: Int @auth(roles: ["hr"])
  nationalId: String @auth(roles: ["hr"])
  home: Address
  team: Team
  notes: String
}

type Team { id: ID! name: String! lead: Person members: [Person!]! }

type Task { id: ID! title: String! status: Status! owner: Person estimate: Int }

type PayRow @auth(roles: ["hr"]) { name: String total: Int }

type Query {
  people(q: String): [Person!]!
  badges(q: String): [Badge!]!
  pay(q: String): [PayRow!]!
  tasks(q: String): [Task!]!
  teams(q: String): [Team!]!
}

type Mutation {
  people(q: String): [Person!]! @maxRows(n: 10)
  teams(q: String): [Team!]! @maxRows(n: 10)
  tasks(q: String): [Task!]!
}
"""

KEYS = "viewer-key:viewer,hr-key:hr|viewer"
VIEWER = {"authorization": "Bearer viewer-key"}
HR_KEY = {"authorization": "Bearer hr-key"}


def seed() -> dict[str, list[dict[str, Any]]]:
    people = [{"id": f"p{i}", "name": f"Person {i}", "salary": 1000 + i, "nationalId": f"NID-{i:04d}",
               "home": {"city": "Lyon", "secret": f"S{i}"}} for i in range(30)]
    return {
        "Team": [{"id": "t1", "name": "Red"}, {"id": "t2", "name": "Blue"}],
        "Person": [{**p, "team": "t1"} for p in people],
        "Badge": [{"id": "b1", "code": "B-1"}],
        "Task": [{"id": f"k{i}", "title": f"task {i}", "status": "OPEN", "owner": "p1", "estimate": i % 3}
                 for i in range(12)],
    }


@pytest.fixture
def hr(db_url: str, tmp_path: Path) -> Any:
    schema = tmp_path / "hr.graphql"
    schema.write_text(HR)
    model = ScriptedProvider([])
    gw = make_gateway(db_url, schema=schema, provider=model, api_keys=KEYS)
    import_records(gw.executor, seed())
    server = LiveServer(gw).start()
    yield server, model
    server.stop()


def ask(server: LiveServer, model: ScriptedProvider, op: str, field: str, q: str, plan: dict[str, Any],
        selection: str = "id", headers: dict[str, str] = VIEWER) -> dict[str, Any]:
    model.route(q, *([plan] * 3))
    return server.gql(f'{op} {{ {field}(q: "{q}") {{ {selection} }} }}', headers=headers)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def no_secret_in(body: dict[str, Any]) -> None:
    text = str(body)
    assert "NID-" not in text and "1001" not in text and "'S1'" not in text, text


@pytest.mark.parametrize("query", [
    "{ badges { id code } }",                    # @auth on the interface a model implements
    "{ people { name home { city secret } } }",  # @auth on a field of an embedded object
])
def test_auth_the_sdl_accepts_is_enforced_on_listings(hr: Any, query: str) -> None:
    server, _model = hr
    body = server.gql(query, headers=VIEWER)
    assert "FORBIDDEN" in codes(body), body
    no_secret_in(body)
    assert "errors" not in server.gql(query, headers=HR_KEY)


def test_auth_on_a_result_shape_is_enforced(hr: Any) -> None:
    server, model = hr
    plan = {"steps": [{"op": "aggregate", "model": "Person", "groupBy": ["name"],
                       "aggregates": [{"fn": "sum", "field": "notes", "as": "total"}]}], "result": 0}
    body = ask(server, model, "query", "pay", "pay per person", plan, "name total")
    assert codes(body) == ["FORBIDDEN"], body


@pytest.mark.parametrize("plan", [
    # copy a hidden value into a visible field
    {"steps": [{"op": "find", "model": "Person", "where": {"name": {"eq": "Person 1"}}},
               {"op": "update", "model": "Person", "where": {"name": {"eq": "Person 2"}},
                "set": {"notes": {"$step": 0, "field": "nationalId"}}}], "result": 1},
    # the whole embedded object, hidden field included
    {"steps": [{"op": "find", "model": "Person", "where": {"name": {"eq": "Person 1"}}},
               {"op": "update", "model": "Person", "where": {"name": {"eq": "Person 2"}},
                "set": {"home": {"$step": 0, "field": "home"}}}], "result": 1},
    # a computed copy
    {"steps": [{"op": "update", "model": "Person", "where": {"name": {"eq": "Person 2"}},
                "set": {"notes": {"fn": "toString", "args": [{"field": "salary"}]}}}], "result": 0},
    # a hidden field as a reference id: a store error would echo it
    {"steps": [{"op": "find", "model": "Person", "where": {"name": {"eq": "Person 1"}}},
               {"op": "update", "model": "Person", "where": {"name": {"eq": "Person 2"}},
                "set": {"team": {"$step": 0, "field": "nationalId"}}}], "result": 1},
])
def test_step_references_and_expressions_cannot_read_hidden_fields(hr: Any, plan: dict[str, Any]) -> None:
    server, model = hr
    before = export_records(server.gateway.executor)
    body = ask(server, model, "mutation", "people", "copy Person 1 into Person 2", plan, "name notes")
    assert codes(body) and codes(body)[0] in ("FORBIDDEN", "PLAN_INVALID"), body
    no_secret_in(body)
    assert export_records(server.gateway.executor) == before


def test_a_hidden_field_cannot_be_a_presence_test_on_a_query(hr: Any) -> None:
    server, model = hr
    plan = {"steps": [{"op": "find", "model": "Person", "where": {"nationalId": {"startsWith": "NID-000"}}}],
            "result": 0}
    assert codes(ask(server, model, "query", "people", "who has an id starting NID-000", plan, "name")) == ["FORBIDDEN"]


@pytest.mark.parametrize("plan", [
    # re-parent every person under a new team through the list reference (30 links > 10)
    {"steps": [{"op": "find", "model": "Person"},
               {"op": "insert", "model": "Team", "values": [{"name": "Green", "members": {"$step": 0, "field": "id"}}]}],
     "result": 1},
    # unlink every member of Red by setting the list to []
    {"steps": [{"op": "update", "model": "Team", "where": {"name": {"eq": "Red"}}, "set": {"members": []}}],
     "result": 0},
])
def test_links_count_toward_the_row_cap(hr: Any, plan: dict[str, Any]) -> None:
    server, model = hr
    before = export_records(server.gateway.executor)
    body = ask(server, model, "mutation", "teams", "team Green takes everyone from Red", plan, "name",
               headers=HR_KEY)
    assert codes(body) == ["POLICY_DENIED"], body
    assert export_records(server.gateway.executor) == before


@pytest.mark.parametrize("where", [
    {"and": []}, {"id": {}}, {"title": {"isNull": False}}, {"or": [{"estimate": {"gte": 1}}, {"estimate": {"lt": 1}}]},
])
def test_filters_that_match_every_row_are_bulk_writes(hr: Any, where: dict[str, Any]) -> None:
    server, model = hr
    before = export_records(server.gateway.executor)
    plan = {"steps": [{"op": "delete", "model": "Task", "where": where}], "result": 0}
    body = ask(server, model, "mutation", "tasks", "delete the tasks", plan, "title")
    assert codes(body) == ["POLICY_DENIED"], body
    assert "@allowBulk" in body["errors"][0]["message"]
    assert export_records(server.gateway.executor) == before


@pytest.mark.parametrize("plan,needle", [
    # a title through a reference into an enum column
    ({"steps": [{"op": "find", "model": "Task", "where": {"title": {"eq": "task 1"}}},
                {"op": "update", "model": "Task", "where": {"title": {"eq": "task 2"}},
                 "set": {"status": {"$step": 0, "field": "title"}}}], "result": 1}, "steps[1].set.status"),
    # text into an Int column
    ({"steps": [{"op": "find", "model": "Task", "where": {"title": {"eq": "task 1"}}},
                {"op": "update", "model": "Task", "where": {"title": {"eq": "task 2"}},
                 "set": {"estimate": {"$step": 0, "field": "title"}}}], "result": 1}, "steps[1].set.estimate"),
    # a Team id into a Person reference
    ({"steps": [{"op": "find", "model": "Team", "where": {"name": {"eq": "Red"}}},
                {"op": "update", "model": "Task", "where": {"title": {"eq": "task 2"}},
                 "set": {"owner": {"$step": 0, "field": "id"}}}], "result": 1}, "Team id"),
    ('{"steps": [{"op": "update", "model": "Task", "where": {"title": {"eq": "task 2"}}, '
     '"set": {"estimate": NaN}}], "result": 0}', "NaN is not a number"),
    ('{"steps": [{"op": "update", "model": "Task", "where": {"title": {"eq": "task 2"}}, '
     '"set": {"estimate": 1e400}}], "result": 0}', "estimate"),
])
def test_values_through_references_are_type_checked_like_literals(hr: Any, plan: Any, needle: str) -> None:
    server, model = hr
    before = export_records(server.gateway.executor)
    body = ask(server, model, "mutation", "tasks", "move task 1 onto task 2 for Red", plan, "title", headers=HR_KEY)
    assert codes(body) == ["PLAN_INVALID"], body
    assert needle in str(body["errors"][0]), body
    assert export_records(server.gateway.executor) == before
    assert "errors" not in server.gql("{ tasks { status estimate } }", headers=VIEWER)
