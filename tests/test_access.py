"""The access stage on its own: API keys, roles, and ``@auth`` on every part of a plan.

No store and no HTTP (those are in test_access_http.py): keys are parsed and plans are checked
directly, so each part of a plan that reads a field is shown to be checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import create_model

from gateway import ConfigInvalid, Forbidden
from gateway.access import Access, ApiKeys, allowed, presented_key  # internal: the stage under test
from gateway.connectors import Connector  # internal: a connector registered by hand, no module to import
from gateway.plan import parse_plan  # internal: plans are built here as a model would answer them
from gateway.sdl import Catalog, build_catalog  # internal: a catalogue without a store

SDL = """
type Team { id: ID! name: String! members: [Employee!]! budget: Int @auth(roles: ["finance"]) }
type Employee @auth(roles: ["hr"]) {
  id: ID!
  name: String!
  salary: Int @auth(roles: ["admin"])
  team: Team
  profile: Profile
}
type Profile { city: String phone: String @auth(roles: ["admin"]) }
type Payout @auth(roles: ["finance"]) { amount: Int! }
type Query {
  teams(q: String): [Team!]!
  employees(q: String): [Employee!]! @auth(roles: ["hr", "admin"])
  payouts(q: String): [Payout!]!
}
type Mutation { teams(q: String!): [Team!]! }
"""
HR = frozenset({"hr"})


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    c = build_catalog(SDL)
    c.connectors = {"bank.payouts": Connector("bank.payouts", lambda: [], "Payout", "", False, 1.0, create_model("A"))}
    return c


@pytest.fixture(scope="module")
def access(catalog: Catalog) -> Access:
    return Access(catalog)


# -- keys ------------------------------------------------------------------------------------
def test_keys_map_to_their_roles_and_nothing_else_matches() -> None:
    keys = ApiKeys.load("k-admin:admin|hr, k-none:", None)
    assert keys is not None
    assert keys.roles_for("k-admin") == {"admin", "hr"}
    assert keys.roles_for("k-none") == frozenset()  # a known key without roles: not the same as no key
    for wrong in (None, "", "k-admi", "K-ADMIN", "k-admin ", "k-adminx"):
        assert keys.roles_for(wrong) is None, wrong


def test_no_configuration_means_open_access() -> None:
    assert ApiKeys.load(None, None) is None and ApiKeys.load("", None) is None


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("k1", "entry 1 is not key:role|role"),
        ("k1:admin,k2", "entry 2 is not key:role|role"),
        (":admin", "entry 1 is not key:role|role"),
        ("k1:ad min", "role names are letters"),
        ("k 1:admin", "may not be empty or hold spaces"),
        ("k1:admin,k1:hr", "configured twice with different roles"),
    ],
)
def test_a_malformed_key_list_is_refused_never_open(spec: str, says: str) -> None:
    with pytest.raises(ConfigInvalid, match=says):
        ApiKeys.load(spec, None)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("[]", "a non-empty JSON object"),
        ("{}", "a non-empty JSON object"),
        ('{"k": "admin"}', "a JSON list of strings"),
        ('{"k": [1]}', "a JSON list of strings"),
        ("{not json", "cannot read the API keys file"),
    ],
)
def test_a_malformed_keys_file_is_refused(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ConfigInvalid, match=says):
        ApiKeys.load(None, str(path))


def test_a_keys_file_and_a_key_list_add_up(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"file-key": ["finance"], "k1": ["admin"]}))
    keys = ApiKeys.load("k1:admin", str(path))
    assert keys is not None and keys.roles_for("file-key") == {"finance"} and keys.roles_for("k1") == {"admin"}
    with pytest.raises(ConfigInvalid, match="configured twice"):
        ApiKeys.load("k1:hr", str(path))
    with pytest.raises(ConfigInvalid, match="cannot read"):
        ApiKeys.load(None, str(tmp_path / "missing.json"))


def test_the_key_comes_from_bearer_or_x_api_key() -> None:
    assert presented_key({"authorization": "Bearer abc "}) == "abc"
    assert presented_key({"authorization": "bearer abc"}) == "abc"
    assert presented_key({"x-api-key": "xyz"}) == "xyz"
    assert presented_key({"authorization": "Basic abc"}) is None
    assert presented_key({}) is None


def test_a_rule_allows_any_of_its_roles() -> None:
    assert allowed(set(), None)
    assert allowed({"hr", "x"}, ("admin", "hr"))
    assert not allowed({"guest"}, ("admin", "hr"))
    assert not allowed(set(), ())


# -- root fields -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "roles", "ok"),
    [
        ("query.teams", set(), True),
        ("query.employees", {"hr"}, True),
        ("query.employees", {"guest"}, False),  # the field's own rule
        ("query.employees", {"admin"}, False),  # the field allows admin, its type Employee does not
        ("query.payouts", {"hr"}, False),  # the rule of the shape it returns
        ("query.payouts", {"finance"}, True),
    ],
)
def test_a_root_field_needs_its_roles_and_its_types(access: Access, field: str, roles: set[str], ok: bool) -> None:
    root = access.catalog.root(*field.split("."))
    if ok:
        access.check_root(root, frozenset(roles))
    else:
        with pytest.raises(Forbidden):
            access.check_root(root, frozenset(roles))


# -- plans -----------------------------------------------------------------------------------
def plan(*steps: dict[str, Any], result: int = 0) -> dict[str, Any]:
    return {"steps": list(steps), "result": result}


FORBIDDEN_TO_HR: list[tuple[str, dict[str, Any], str]] = [
    (
        "a filter",
        plan({"op": "find", "model": "Employee", "where": {"salary": {"gt": 1}}}),
        "Employee.salary needs one of the roles ['admin']",
    ),
    (
        "a filter through a list reference",
        plan({"op": "find", "model": "Team", "where": {"members": {"salary": {"gt": 1}}}}),
        "Employee.salary",
    ),
    ("an ordering", plan({"op": "find", "model": "Employee", "orderBy": [{"field": "salary"}]}), "Employee.salary"),
    (
        "a path through a reference",
        plan({"op": "find", "model": "Employee", "orderBy": [{"expr": {"field": "team.budget"}}]}),
        "Team.budget",
    ),
    (
        "a computed value",
        plan(
            {
                "op": "update",
                "model": "Team",
                "where": {"name": {"eq": "Core"}},
                "set": {"name": {"fn": "toString", "args": [{"field": "budget"}]}},
            }
        ),
        "Team.budget",
    ),
    (
        "a step reference",
        plan(
            {"op": "find", "model": "Employee", "limit": 1},
            {"op": "find", "model": "Team", "where": {"name": {"eq": {"$step": 0, "field": "salary"}}}},
            result=1,
        ),
        "Employee.salary",
    ),
    (
        "a grouping",
        plan(
            {"op": "aggregate", "model": "Employee", "groupBy": ["salary"], "aggregates": [{"fn": "count", "as": "n"}]}
        ),
        "Employee.salary",
    ),
    (
        "a measure",
        plan({"op": "aggregate", "model": "Team", "aggregates": [{"fn": "sum", "field": "budget", "as": "n"}]}),
        "Team.budget",
    ),
    ("a written value", plan({"op": "insert", "model": "Team", "values": [{"name": "x", "budget": 3}]}), "Team.budget"),
    (
        "a copied embedded object",
        plan({"op": "insert", "model": "Employee", "values": [{"name": "x", "profile": {"city": "Oslo"}}]}),
        "Profile.phone",
    ),
    ("a connector's records", plan({"op": "call", "connector": "bank.payouts", "args": {}}), "Payout needs"),
    (
        "a filter over a connector's records",
        plan({"op": "call", "connector": "bank.payouts", "args": {}}, {"op": "filter", "step": 0}, result=1),
        "Payout needs",
    ),
]


@pytest.mark.parametrize(("part", "answer", "says"), FORBIDDEN_TO_HR, ids=[p for p, _, _ in FORBIDDEN_TO_HR])
def test_every_part_of_a_plan_is_checked(access: Access, part: str, answer: dict[str, Any], says: str) -> None:
    parsed = parse_plan(answer)
    with pytest.raises(Forbidden) as e:
        access.check_plan(parsed, HR)
    assert says in e.value.message
    # the roles the rule names may do it
    access.check_plan(parsed, frozenset({"hr", "admin", "finance"}))


def test_plans_within_the_roles_pass(access: Access) -> None:
    for answer in (
        plan({"op": "find", "model": "Employee", "where": {"name": {"eq": "Ada"}}, "orderBy": [{"field": "name"}]}),
        plan({"op": "find", "model": "Team", "where": {"members": {"name": {"eq": "Ada"}}}}),
        plan({"op": "aggregate", "model": "Employee", "groupBy": ["team"], "aggregates": [{"fn": "count", "as": "n"}]}),
    ):
        access.check_plan(parse_plan(answer), HR)


def test_a_model_hidden_from_the_role_cannot_be_reached_through_a_reference(access: Access) -> None:
    answer = parse_plan(plan({"op": "find", "model": "Team", "where": {"members": {"name": {"eq": "Ada"}}}}))
    with pytest.raises(Forbidden, match="Employee needs one of the roles"):
        access.check_plan(answer, frozenset({"guest"}))
    access.check_plan(parse_plan(plan({"op": "find", "model": "Team"})), frozenset({"guest"}))
