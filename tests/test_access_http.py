"""API keys and @auth over HTTP: each role sees only what it is allowed; no key, no data (units: test_access.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, make_gateway
from gateway import ScriptedProvider, import_records

SDL = """
type Team { id: ID! name: String! members: [Employee!] }
type Employee @auth(roles: ["hr", "admin"]) {
  id: ID!
  name: String!
  salary: Int @auth(roles: ["admin"])
  team: Team
}
type Query {
  teams(q: String): [Team!]!
  employees(q: String): [Employee!]
}
type Mutation {
  employees(q: String!): [Employee!] @auth(roles: ["admin"])
}
"""
KEYS = "k-admin:admin,k-hr:hr,k-guest:guest"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, ScriptedProvider]]:
    schema = tmp_path / "schema.graphql"
    schema.write_text(SDL)
    model = ScriptedProvider([])
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}", schema=schema, provider=model, api_keys=KEYS)
    import_records(
        gw.executor,
        {
            "Team": [{"id": "t1", "name": "Core"}],
            "Employee": [{"id": "e1", "name": "Grace", "salary": 123456, "team": "t1"}],
        },
    )
    s = LiveServer(gw).start()
    yield s, model
    s.stop()


def ask(server: LiveServer, query: str, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return server.post(query, headers=headers)


@pytest.mark.parametrize("key", [None, "wrong-key", "K-ADMIN", "k-admi"])
def test_missing_or_wrong_key_gets_401_and_no_data(server, key) -> None:
    s, model = server
    resp = ask(s, "{ teams { name } }", key)
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    assert "data" not in resp.json() and "Core" not in resp.text
    assert model.calls == []


def test_x_api_key_header_is_accepted(server) -> None:
    s, _ = server
    resp = s.post("{ teams { name } }", headers={"x-api-key": "k-guest"})
    assert resp.json()["data"] == {"teams": [{"name": "Core"}]}


def test_guest_sees_teams_but_not_their_members(server) -> None:
    s, _ = server
    ok = ask(s, "{ teams { name } }", "k-guest").json()
    assert ok["data"] == {"teams": [{"name": "Core"}]}
    nested = ask(s, "{ teams { name members { name } } }", "k-guest").json()
    assert nested["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "Grace" not in json.dumps(nested)
    root = ask(s, "{ employees { name } }", "k-guest").json()
    assert root["data"] == {"employees": None} and root["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_hr_sees_employees_but_not_salaries(server) -> None:
    s, _ = server
    ok = ask(s, "{ employees { name team { name } } }", "k-hr").json()
    assert ok["data"] == {"employees": [{"name": "Grace", "team": {"name": "Core"}}]}
    salary = ask(s, "{ employees { name salary } }", "k-hr").json()
    assert salary["errors"][0]["extensions"]["code"] == "FORBIDDEN" and "123456" not in json.dumps(salary)


def test_admin_sees_everything(server) -> None:
    s, _ = server
    body = ask(s, "{ employees { name salary } teams { members { name } } }", "k-admin").json()
    assert body["data"] == {
        "employees": [{"name": "Grace", "salary": 123456}],
        "teams": [{"members": [{"name": "Grace"}]}],
    }


def test_a_plan_cannot_filter_on_what_the_role_cannot_see(server) -> None:
    """Whatever the model is talked into, access is enforced on the plan."""
    s, model = server
    model.push({"steps": [{"op": "find", "model": "Employee", "where": {"salary": {"gt": 100000}}}], "result": 0})
    body = ask(s, '{ employees(q: "who earns over 100k?") { name } }', "k-hr").json()
    assert body["data"] == {"employees": None} and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    model.push({"steps": [{"op": "find", "model": "Team", "where": {"members": {"salary": {"gt": 1}}}}], "result": 0})
    body = ask(s, '{ teams(q: "teams with well paid people") { name } }', "k-guest").json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN" and body["data"] is None


def test_mutation_needs_its_role(server) -> None:
    s, model = server
    plan = {
        "steps": [{"op": "update", "model": "Employee", "where": {"name": {"eq": "Grace"}}, "set": {"salary": 1}}],
        "result": 0,
    }
    model.push(plan)
    denied = ask(s, 'mutation { employees(q: "cut Grace to 1") { name } }', "k-hr").json()
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert model.calls == []  # refused before the model is asked
    allowed = ask(s, 'mutation { employees(q: "set Grace to 1") { name salary } }', "k-admin").json()
    assert allowed["data"] == {"employees": [{"name": "Grace", "salary": 1}]}


def test_keys_file(tmp_path: Path) -> None:
    schema = tmp_path / "schema.graphql"
    schema.write_text(SDL)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"file-key": ["admin"]}))
    s = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", schema=schema, api_keys_file=str(keys))).start()
    try:
        assert s.post("{ teams { name } }", headers={"authorization": "Bearer file-key"}).status_code == 200
        assert s.post("{ teams { name } }", headers={"authorization": "Bearer k-admin"}).status_code == 401
    finally:
        s.stop()
