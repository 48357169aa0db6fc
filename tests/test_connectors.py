"""Connectors: typed functions the planner may call, checked like everything else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import ROOT, LiveServer, make_gateway
from gateway import ScriptedProvider

EXAMPLE = ROOT / "examples" / "internal_tool"
sys.path.insert(0, str(EXAMPLE))

import fake_analytics  # noqa: E402

SCHEMA = """
type Signup { email: String! plan: String signedUpAt: String! country: String }
type Note { id: ID! text: String! }
type Query { signups(q: String): [Signup!] notes(q: String): [Note!]! }
type Mutation { signups(q: String!): [Signup!] notes(q: String!): [Note!] }
"""


@pytest.fixture
def analytics(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    api = fake_analytics.start(0)
    url = f"http://127.0.0.1:{api.server_address[1]}"
    monkeypatch.setenv("ANALYTICS_URL", url)
    yield url
    api.shutdown()


def serve(tmp_path: Path, connectors: str, model: ScriptedProvider) -> LiveServer:
    schema = tmp_path / "schema.graphql"
    schema.write_text(SCHEMA)
    return LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", schema=schema, provider=model,
                                   connectors=connectors)).start()


def test_example_tool_answers_from_the_analytics_api(tmp_path: Path, analytics: str, monkeypatch) -> None:
    import connectors as example_connectors  # the example module reads ANALYTICS_URL at import

    monkeypatch.setattr(example_connectors, "ANALYTICS_URL", analytics)
    model = ScriptedProvider([{"steps": [
        {"op": "call", "connector": "analytics.signups", "args": {"since": "2026-11-16", "until": "2026-11-22"}},
        {"op": "filter", "step": 0, "where": {"plan": {"eq": "pro"}},
         "orderBy": [{"field": "signedUpAt", "direction": "desc"}]},
    ], "result": 1, "params": {"plan": "pro"}}])
    server = serve(tmp_path, str(EXAMPLE / "connectors.py"), model)
    try:
        body = server.gql('{ signups(q: "emails that signed up last week on the pro plan") { email signedUpAt } }')
        assert body["data"]["signups"] == [{"email": "grace@example.com", "signedUpAt": "2026-11-20"},
                                           {"email": "ada@example.com", "signedUpAt": "2026-11-16"}]
        system = model.calls[0]["messages"][0]["content"]
        assert "analytics.signups(since: string" in system and "-> [Signup]" in system
        schema = model.calls[0]["schema"]
        calls = [s for s in schema["anyOf"][0]["properties"]["steps"]["items"]["anyOf"]
                 if s["properties"]["op"].get("const") == "call"]
        assert calls[0]["properties"]["args"]["required"] == ["since"]
    finally:
        server.stop()


@pytest.mark.parametrize("plan,code", [
    ({"steps": [{"op": "call", "connector": "bad.raises", "args": {"since": "2026-11-01"}}]}, "CONNECTOR_ERROR"),
    ({"steps": [{"op": "call", "connector": "bad.hangs", "args": {"since": "2026-11-01"}}]}, "CONNECTOR_TIMEOUT"),
    ({"steps": [{"op": "call", "connector": "bad.wrong_type", "args": {"since": "2026-11-01"}}]},
     "CONNECTOR_RESULT_INVALID"),
    ({"steps": [{"op": "call", "connector": "no.such", "args": {}}]}, "PLAN_INVALID"),
    ({"steps": [{"op": "call", "connector": "async.signups", "args": {"since": 5, "extra": 1}}]}, "PLAN_INVALID"),
    ({"steps": [{"op": "call", "connector": "crm.add_contact", "args": {"email": "x@example.com"}}]}, "POLICY_DENIED"),
])
def test_misbehaving_connector_fails_its_field_and_others_still_resolve(tmp_path: Path, plan: dict, code: str) -> None:
    model = ScriptedProvider([])
    model.route("signups please", *[plan] * 3)
    server = serve(tmp_path, "connector_fixtures", model)
    try:
        body = server.gql('{ signups(q: "signups please") { email } notes { text } }')
        assert body["data"] == {"signups": None, "notes": []}
        assert body["errors"][0]["extensions"]["code"] == code, body
    finally:
        server.stop()


def test_failed_connector_rolls_back_the_writes_before_it(tmp_path: Path) -> None:
    model = ScriptedProvider([{"steps": [
        {"op": "insert", "model": "Note", "values": [{"text": "written before the call"}]},
        {"op": "call", "connector": "bad.raises", "args": {"since": "2026-11-01"}}], "result": 1}])
    server = serve(tmp_path, "connector_fixtures", model)
    try:
        body = server.gql('mutation { signups(q: "note it (written before the call), then ask the API") { email } }')
        assert body["errors"][0]["extensions"]["code"] == "CONNECTOR_ERROR"
        assert server.gql("{ notes { text } }")["data"]["notes"] == []
    finally:
        server.stop()


def test_a_side_effecting_call_must_be_the_last_step(tmp_path: Path) -> None:
    model = ScriptedProvider([{"steps": [
        {"op": "call", "connector": "crm.add_contact", "args": {"email": "new@example.com"}},
        {"op": "insert", "model": "Note", "values": [{"text": "added a contact"}]}], "result": 0}])
    server = serve(tmp_path, "connector_fixtures", model)
    try:
        body = server.gql('mutation { signups(q: "add the contact, then note it: added a contact") { email } }')
        assert body["errors"][0]["extensions"]["code"] == "POLICY_DENIED"
        assert "last step" in body["errors"][0]["message"]
        assert server.gql("{ notes { text } }")["data"]["notes"] == []
    finally:
        server.stop()


def test_async_and_side_effecting_connectors_on_a_mutation(tmp_path: Path) -> None:
    model = ScriptedProvider([
        {"steps": [{"op": "call", "connector": "async.signups", "args": {"since": "2026-11-01", "limit": 3}},
                   {"op": "filter", "step": 0, "where": {"email": {"startsWith": "user1"}}}], "result": 1},
        {"steps": [{"op": "call", "connector": "crm.add_contact", "args": {"email": "new@example.com"}}], "result": 0},
    ])
    server = serve(tmp_path, "connector_fixtures", model)
    try:
        assert server.gql('{ signups(q: "recent") { email } }')["data"]["signups"] == [{"email": "user1@example.com"}]
        added = server.gql('mutation { signups(q: "add new@example.com to the CRM") { email } }')
        assert added["data"]["signups"] == [{"email": "new@example.com"}]
    finally:
        server.stop()
