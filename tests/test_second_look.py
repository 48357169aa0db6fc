"""A valid plan that misreads the request in a way the gateway can see goes back to the model
once; whatever comes back is judged by the ordinary checks, and the first plan stays the
fallback. The model is scripted at the provider boundary; the store is a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from conftest import make_gateway
from gateway import Gateway, ScriptedProvider, import_records

SDL = """
type Team {
  id: ID!
  name: String!
  members: [Employee!]!
}

enum Level {
  JUNIOR
  SENIOR
}

type Employee {
  id: ID!
  name: String!
  title: String
  level: Level
  hiredOn: String!
  dueReview: String
  team: Team
}

type Query {
  employees(q: String!): [Employee!]!
  headcount(q: String!): Int!
}

type Mutation {
  employees(q: String!): [Employee!]!
}
"""

SEED: dict[str, list[dict[str, Any]]] = {
    "Team": [{"id": "t1", "name": "Platform"}, {"id": "t2", "name": "Mobile"}],
    # stored (created) in another order than hired
    "Employee": [
        {"id": "e1", "name": "Ana", "hiredOn": "2024-05-01", "team": "t1"},
        {"id": "e2", "name": "Ben", "hiredOn": "2019-02-01", "team": "t1"},
        {"id": "e3", "name": "Cy", "hiredOn": "2022-09-01", "team": "t2"},
    ],
}

BY_CREATION = {
    "steps": [{"op": "find", "model": "Employee", "orderBy": [{"field": "$created", "direction": "desc"}], "limit": 2}],
    "result": 0,
}
BY_HIRE_DATE = {
    "steps": [{"op": "find", "model": "Employee", "orderBy": [{"field": "hiredOn", "direction": "desc"}], "limit": 2}],
    "result": 0,
}


@pytest.fixture
def gateway(tmp_path: Path) -> Any:
    schema = tmp_path / "schema.graphql"
    schema.write_text(SDL)
    model = ScriptedProvider([])
    gw = make_gateway(f"sqlite:///{tmp_path / 'store.db'}", schema=schema, provider=model)
    import_records(gw.executor, SEED)
    yield gw, model
    gw.close()


def ask(gw: Gateway, field: str, request: str, selection: str = "") -> dict[str, Any]:
    return asyncio.run(gw.execute(f"{{ {field}(q: {request!r}) {selection} }}".replace("'", '"'))).formatted()


def last_turn(call: dict[str, Any]) -> str:
    return str(call["messages"][-1]["content"])


def test_creation_order_for_a_stored_date_is_asked_again_and_the_correction_runs(gateway: Any) -> None:
    gw, model = gateway
    model.push(BY_CREATION, BY_HIRE_DATE)
    body = ask(gw, "employees", "the two most recently hired employees", "{ name }")
    assert body.get("errors") is None
    assert body["data"]["employees"] == [{"name": "Ana"}, {"name": "Cy"}]
    assert len(model.calls) == 2
    doubt = last_turn(model.calls[1])
    assert '{"field": "hiredOn", "direction": "desc"}' in doubt.replace('\\"', '"')
    assert "or the same plan if it is right" in doubt


def test_the_same_plan_again_is_accepted(gateway: Any) -> None:
    gw, model = gateway
    model.push(BY_CREATION, BY_CREATION)
    body = ask(gw, "employees", "the two most recently hired employees", "{ name }")
    assert body.get("errors") is None
    assert body["data"]["employees"] == [{"name": "Cy"}, {"name": "Ben"}]  # what the model insisted on
    assert len(model.calls) == 2


def test_an_invalid_second_look_falls_back_to_the_first_valid_plan(gateway: Any) -> None:
    gw, model = gateway
    broken = {"steps": [{"op": "find", "model": "Employee", "orderBy": [{"field": "hired", "direction": "desc"}]}]}
    model.push(BY_CREATION, {**broken, "result": 0}, {**broken, "result": 1})
    body = ask(gw, "employees", "the two most recently hired employees", "{ name }")
    assert body.get("errors") is None
    assert body["data"]["employees"] == [{"name": "Cy"}, {"name": "Ben"}]
    assert len(model.calls) == 3


@pytest.mark.parametrize(
    "request_text",
    ["the two employees added last", "the newest two employees by creation", "the first two employees"],
)
def test_no_second_look_when_the_request_asks_for_creation_order_or_names_no_past_date(
    gateway: Any, request_text: str
) -> None:
    gw, model = gateway
    model.push(BY_CREATION)
    body = ask(gw, "employees", request_text, "{ name }")
    assert body.get("errors") is None and len(model.calls) == 1


def test_age_words_point_at_the_one_past_date_not_a_due_date(gateway: Any) -> None:
    gw, model = gateway
    model.push(BY_CREATION, BY_HIRE_DATE)
    body = ask(gw, "employees", "the two newest employees", "{ name }")
    assert body["data"]["employees"] == [{"name": "Ana"}, {"name": "Cy"}]
    assert "hiredOn" in last_turn(model.calls[1]) and "dueReview" not in last_turn(model.calls[1])


def test_a_count_of_the_record_the_request_names_is_asked_again(gateway: Any) -> None:
    gw, model = gateway
    count = {"fn": "count", "field": None, "as": "count"}
    teams = {"op": "aggregate", "model": "Team", "where": {"name": {"eq": "Platform"}}, "aggregates": [count]}
    staff = {
        "op": "aggregate",
        "model": "Employee",
        "where": {"team": {"name": {"eq": "Platform"}}},
        "aggregates": [count],
    }
    model.push({"steps": [teams], "result": 0}, {"steps": [staff], "result": 0})
    body = ask(gw, "headcount", "how many people work in the Platform team")
    assert body.get("errors") is None and body["data"]["headcount"] == 2
    assert "Employee (through team)" in last_turn(model.calls[1])


def test_a_value_of_an_enum_the_request_says_and_the_plan_never_uses_is_asked_again(gateway: Any) -> None:
    """ "promote Aiko Tanaka to senior" wrote "Senior" into the title, not the level SENIOR."""
    gw, model = gateway

    def promote(values: dict[str, Any]) -> dict[str, Any]:
        where = {"name": {"eq": "Ana"}}
        return {"steps": [{"op": "update", "model": "Employee", "where": where, "set": values}], "result": 0}

    model.push(promote({"title": "Senior"}), promote({"level": "SENIOR"}))
    body = asyncio.run(gw.execute('mutation { employees(q: "promote Ana to senior") { name title level } }'))
    assert body.formatted()["data"]["employees"] == [{"name": "Ana", "title": None, "level": "SENIOR"}]
    assert "the Level value SENIOR" in last_turn(model.calls[1])


def test_a_name_that_holds_an_enum_word_is_not_doubted(gateway: Any) -> None:
    gw, model = gateway
    where = {"team": {"name": {"eq": "Junior Devs"}}}
    model.push({"steps": [{"op": "find", "model": "Employee", "where": where}], "result": 0})
    body = ask(gw, "employees", "employees of the Junior Devs team", "{ name }")
    assert body.get("errors") is None and body["data"]["employees"] == [] and len(model.calls) == 1
