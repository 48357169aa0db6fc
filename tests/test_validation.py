"""The validation stage on its own: a parsed plan against a catalogue, no store, no HTTP.

Each case names the error it expects, with its path in the plan, so a message the planner
sends back to the model for repair stays precise.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import create_model

from conftest import DEMO_SCHEMA
from gateway import PlanInvalid
from gateway.connectors import Connector  # internal: a connector registered by hand, no module to import
from gateway.plan import parse_plan  # internal: plans are built here as a model would answer them
from gateway.sdl import Catalog, build_catalog, load_sdl  # internal: a catalogue without a store
from gateway.validation import scalar_problem, validate_plan  # internal: the stage under test

SDL = """
enum Level { LOW HIGH }
type Person { id: ID! name: String! age: Int active: Boolean }
type Project { id: ID! name: String! }
type Task {
  id: ID!
  title: String!
  estimate: Int
  score: Float
  level: Level
  owner: Person
  project: Project
  tags: [String!]
  helpers: [Person!]!
}
type Count { level: Level n: Int! }
type Signup { email: String! plan: String }
type Query {
  tasks(q: String): [Task!]!
  stats(q: String): [Count!]!
  total(q: String): Int!
  signups(q: String): [Signup!]!
}
type Mutation { tasks(q: String!): [Task!]! }
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    c = build_catalog(SDL)
    args = create_model("signups_args", since=(str, ...))
    c.connectors = {
        "crm.signups": Connector("crm.signups", lambda since: [], "Signup", "signups", False, 1.0, args),
    }
    return c


def errors(catalog: Catalog, plan: dict[str, Any], root: str | None = None) -> list[str]:
    """The errors validation lists for ``plan`` (empty when it passes)."""
    field = catalog.root(*root.split(".")) if root else None
    try:
        validate_plan(catalog, parse_plan(plan), field)
    except PlanInvalid as e:
        found = list(e.extensions["errors"])
        message = e.message
    else:
        return []
    assert message == "the plan does not fit the schema: " + "; ".join(found[:5])
    return found


def find(where: Any = None, **step: Any) -> dict[str, Any]:
    return {"steps": [{"op": "find", "model": "Task", **({"where": where} if where else {}), **step}], "result": 0}


def test_a_plan_that_fits_passes_unchanged(catalog: Catalog) -> None:
    plan = parse_plan(
        {
            "steps": [
                {"op": "find", "model": "Person", "where": {"name": {"eq": "Ada"}}, "limit": 1},
                {
                    "op": "update",
                    "model": "Task",
                    "where": {"and": [{"level": {"eq": "LOW"}}, {"owner": {"name": {"startsWith": "a"}}}]},
                    "set": {
                        "owner": {"$step": 0, "field": "id"},
                        "estimate": {"fn": "add", "args": [{"field": "estimate"}, 1]},
                        "title": {"fn": "concat", "args": [{"field": "title"}, " (", {"field": "owner.name"}, ")"]},
                    },
                },
            ],
            "result": 1,
        }
    )
    assert validate_plan(catalog, plan, catalog.root("mutation", "tasks")) is plan


def test_a_refusal_is_valid_as_it_is(catalog: Catalog) -> None:
    assert errors(catalog, {"refuse": "no field stores feelings"}, "query.tasks") == []


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        # a String expression into an Int field
        (
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Task",
                        "where": {"title": {"eq": "a"}},
                        "set": {"estimate": {"fn": "concat", "args": ["a", {"field": "title"}]}},
                    }
                ],
                "result": 0,
            },
            ["steps[0].set.estimate: a String value cannot go where Int is expected"],
        ),
        # a function given the wrong type, and the comparison it feeds
        (
            find({"compare": {"left": {"fn": "lower", "args": [{"field": "estimate"}]}, "op": "eq", "right": 3}}),
            [
                "steps[0].where.compare.left.args[0]: lower takes text here, not Int",
                "steps[0].where.compare.right: 3 is not a valid String",
            ],
        ),
        # a title is not an enum value
        (find({"level": {"eq": "MEDIUM"}}), ["steps[0].where.level.eq: 'MEDIUM' is not a Level (one of LOW, HIGH)"]),
        # each item of an `in` list is typed
        (find({"estimate": {"in": [1, "two"]}}), ["steps[0].where.estimate.in[1]: 'two' is not a valid Int"]),
        # branches of a conditional must agree
        (
            find(orderBy=[{"expr": {"if": {"title": {"eq": "a"}}, "then": 1, "else": "x"}, "direction": "asc"}]),
            ["steps[0].orderBy[0].expr: the branches give different types (Int and String)"],
        ),
        # ids know their model: a Person reference cannot be compared with a Project one
        (
            find({"compare": {"left": {"field": "owner"}, "op": "eq", "right": {"field": "project"}}}),
            ["steps[0].where.compare: cannot compare Person id with Project id"],
        ),
        (find({"owner": {"active": {"gt": True}}}), ["steps[0].where.owner.active.gt: gt does not apply to Boolean"]),
        (
            find({"compare": {"left": {"fn": "div", "args": [{"field": "estimate"}, 0]}, "op": "gt", "right": 1}}),
            ["steps[0].where.compare.left.args[1]: division by zero"],
        ),
        (
            find({"compare": {"left": {"field": "owner.nickname"}, "op": "eq", "right": "x"}}),
            ["steps[0].where.compare.left: Person has no field 'nickname' (fields: id, name, age, active)"],
        ),
        (
            find(orderBy=[{"expr": {"field": "helpers.name"}, "direction": "asc"}]),
            ["steps[0].orderBy[0].expr: Task.helpers is a list; use count/sum/avg/min/max over it"],
        ),
    ],
)
def test_expressions_are_typed(catalog: Catalog, plan: dict[str, Any], expected: list[str]) -> None:
    assert errors(catalog, plan) == expected


def test_field_operators_fit_the_field_kind(catalog: Catalog) -> None:
    found = errors(catalog, find({"estimate": {"contains": "3"}, "helpers": {"eq": "x"}, "tags": {"gt": "a"}}))
    assert found == [
        "steps[0].where.estimate.contains: contains applies to text fields, not estimate",
        'steps[0].where.helpers.eq: helpers is a list of Person; filter its records by nesting, e.g. {"helpers": '
        '{"id": {"eq": ...}}}, or use isNull',
        "steps[0].where.tags.gt: gt does not apply to list field tags; use contains or size",
    ]
    assert errors(catalog, find({"tags": {"contains": "x"}, "helpers": {"isNull": True}})) == []


def test_step_references_point_back_and_are_typed_by_model(catalog: Catalog) -> None:
    assert errors(catalog, find({"title": {"eq": {"$step": 0, "field": "id"}}})) == [
        "steps[0].where.title.eq: $step must name an earlier step (0..-1), got 0"
    ]
    two = {
        "steps": [
            {"op": "find", "model": "Task"},
            {"op": "find", "model": "Task", "where": {"title": {"eq": {"$step": 0, "field": "nope"}}}},
        ],
        "result": 0,
    }
    assert errors(catalog, two) == ["steps[1].where.title.eq: step 0 has no field 'nope'"]
    wrong_model = {
        "steps": [
            {"op": "find", "model": "Project", "limit": 1},
            {"op": "insert", "model": "Task", "values": [{"title": "x", "owner": {"$step": 0, "field": "id"}}]},
        ],
        "result": 1,
    }
    assert errors(catalog, wrong_model) == [
        "steps[1].values[0].owner: a Project id value cannot go where Person id is expected"
    ]
    right_model = {**wrong_model, "steps": [{"op": "find", "model": "Person", "limit": 1}, wrong_model["steps"][1]]}
    assert errors(catalog, right_model) == []


def test_a_step_reference_to_an_aggregate_has_the_measure_type(catalog: Catalog) -> None:
    plan = {
        "steps": [
            {"op": "aggregate", "model": "Task", "aggregates": [{"fn": "avg", "field": "estimate", "as": "mean"}]},
            {"op": "find", "model": "Task", "where": {"title": {"eq": {"$step": 0, "field": "mean"}}}},
        ],
        "result": 1,
    }
    assert errors(catalog, plan) == ["steps[1].where.title.eq: a Float value cannot go where String is expected"]


def test_every_error_is_listed_with_its_path_not_only_the_first(catalog: Catalog) -> None:
    plan = {
        "steps": [
            {
                "op": "update",
                "model": "Task",
                "where": {"title": {"eq": "a"}},
                "set": {"id": "x", "estimate": {"fn": "rowNumber", "orderBy": [{"field": "title"}]}},
            },
            {"op": "find", "model": "Task", "orderBy": [{"expr": {"fn": "rowNumber"}, "direction": "asc"}]},
            {"op": "insert", "model": "Task", "values": [{"estimate": "3"}]},
            {"op": "find", "model": "Nope"},
        ],
        "result": 0,
    }
    assert errors(catalog, plan) == [
        "steps[0].set.id: id cannot be changed",
        "steps[1].orderBy[0].expr: rowNumber, respectively and byKey give values to the rows of an update's set",
        "steps[2].values[0].estimate: '3' is not a valid Int",
        "steps[2].values[0].title: Task.title is required",
        "steps[3].model: unknown model 'Nope' (models: Person, Project, Task)",
    ]


@pytest.mark.parametrize(
    ("plan", "root", "expected"),
    [
        ({"steps": [{"op": "find", "model": "Project"}], "result": 0}, "query.tasks", "tasks returns Task; step 0"),
        ({"steps": [{"op": "find", "model": "Task"}], "result": 3}, "query.tasks", "result must be a step index"),
        (
            {"steps": [{"op": "aggregate", "model": "Task", "aggregates": [{"fn": "count", "as": "n"}]}], "result": 0},
            "query.tasks",
            "tasks returns Task records, not an aggregate",
        ),
        (
            {"steps": [{"op": "find", "model": "Task"}], "result": 0},
            "query.total",
            "the result step must be an aggregate",
        ),
        (
            {"steps": [{"op": "call", "connector": "crm.signups", "args": {"since": "2026-01-01"}}], "result": 0},
            "query.stats",
            "stats returns Count; step 0 gives Signup records",
        ),
    ],
)
def test_the_result_step_fits_the_field(catalog: Catalog, plan: dict[str, Any], root: str, expected: str) -> None:
    found = errors(catalog, plan, root)
    assert len(found) == 1 and found[0].startswith("result: ") and expected in found[0], found


def test_aggregates_are_typed(catalog: Catalog) -> None:
    plan = {
        "steps": [
            {
                "op": "aggregate",
                "model": "Task",
                "groupBy": ["tags"],
                "aggregates": [{"fn": "sum", "field": "title", "as": "n"}, {"fn": "count", "as": "n"}],
            }
        ],
        "result": 0,
    }
    assert errors(catalog, plan, "query.stats") == [
        "steps[0].groupBy: cannot group Task by 'tags'",
        "steps[0].aggregates[0]: sum needs a number, not String",
        "steps[0].aggregates[1]: duplicate output name 'n'",
    ]


def test_connector_steps_are_checked_against_the_connector(catalog: Catalog) -> None:
    unknown = {"steps": [{"op": "call", "connector": "crm.nope", "args": {}}], "result": 0}
    assert errors(catalog, unknown) == ["steps[0].connector: unknown connector 'crm.nope' (crm.signups)"]
    bad_args = {"steps": [{"op": "call", "connector": "crm.signups", "args": {"since": 3}}], "result": 0}
    assert errors(catalog, bad_args) == ["steps[0].args: since: Input should be a valid string"]
    filtered = {
        "steps": [
            {"op": "find", "model": "Task", "limit": 1},
            {"op": "call", "connector": "crm.signups", "args": {"since": "2026-01-01"}},
            {"op": "filter", "step": 1, "where": {"email": {"eq": {"$step": 0, "field": "title"}}}},
            {"op": "filter", "step": 0},
        ],
        "result": 2,
    }
    assert errors(catalog, filtered, "query.signups") == [
        "steps[2].where.email.eq: a filter over connector records compares its fields with plain values",
        "steps[3].step: a filter step takes the records of an earlier call step",
    ]


@pytest.mark.parametrize(
    ("type_name", "good", "bad"),
    [
        ("Int", [0, -5, 2**31 - 1], [2**31, 1.5, True, "3"]),
        ("Float", [1, 2.5, -1e10], [float("inf"), float("nan"), 1e301, False, "2.5"]),
        ("Boolean", [True, False], [0, "true"]),
        ("ID", ["a1", 7], [True, 1.5]),
        ("Level", ["LOW", "HIGH"], ["low", "MEDIUM", 1]),
        ("String", ["x", ""], [1, "\ud800"]),
    ],
)
def test_scalar_problem_accepts_exactly_the_type(catalog: Catalog, type_name: str, good: list, bad: list) -> None:
    for value in good:
        assert scalar_problem(catalog, type_name, value) is None, value
    for value in bad:
        assert scalar_problem(catalog, type_name, value), value


def test_the_word_null_compared_as_text_says_how_to_test_for_a_missing_value() -> None:
    catalog = load_sdl(DEMO_SCHEMA)
    plan = {"steps": [{"op": "find", "model": "Task", "where": {"dueDate": {"ne": "null"}}}], "result": 0}
    with pytest.raises(PlanInvalid) as e:
        validate_plan(catalog, parse_plan(plan), catalog.root("query", "tasks"))
    assert '{"dueDate": {"isNull": false}}' in str(e.value.extensions["errors"])


def test_has_over_a_list_reference_says_to_count_or_filter() -> None:
    catalog = load_sdl(DEMO_SCHEMA)
    where = {"compare": {"left": {"fn": "has", "args": [{"field": "tasks"}, "x"]}, "op": "eq", "right": True}}
    plan = {"steps": [{"op": "find", "model": "Project", "where": where}], "result": 0}
    with pytest.raises(PlanInvalid) as e:
        validate_plan(catalog, parse_plan(plan), catalog.root("query", "projects"))
    assert '{"fn": "count", "args": [{"field": "tasks"}]}' in str(e.value.extensions["errors"])
