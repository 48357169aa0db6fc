"""MCP tools at /mcp, driven by the official SDK's own client over a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from conftest import free_port, make_gateway
from gateway.llm.scripted import ScriptedProvider
from gateway.seed import export_records, import_records
from gateway.server import create_app
from gateway.service import Gateway

SDL = '''
"""A note someone wrote."""
type Note {
  id: ID!
  text: String!
  pinned: Boolean
}

type Secret @auth(roles: ["admin"]) {
  id: ID!
  code: String!
}

type Query {
  "Notes, newest first."
  notes(q: String, limit: Int): [Note!]!
  secrets(q: String): [Secret!]!
}

type Mutation {
  notes(q: String!): [Note!]!
}
'''
KEYS = "root-key:admin,viewer-key:viewer"
FIND_PINNED = {"steps": [{"op": "find", "model": "Note", "where": {"pinned": {"eq": True}}}], "result": 0,
               "params": {}}
NOTES_DOC = "query PinnedNotes($n: Int) { notes(limit: $n) { text } }"


class Served:
    """The full app (lifespan on: the MCP session manager runs in it) on a free loopback port."""

    def __init__(self, gateway: Gateway, model: ScriptedProvider) -> None:
        self.gateway, self.model = gateway, model
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.server = uvicorn.Server(uvicorn.Config(create_app(gateway), host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(tmp_path: Path, **settings: Any) -> Served:
    schema = tmp_path / "schema.graphql"
    schema.write_text(SDL, encoding="utf-8")
    model = ScriptedProvider([])
    gateway = make_gateway(f"sqlite:///{tmp_path / 'store.db'}", schema=schema, provider=model, **settings)
    import_records(gateway.executor, {"Note": [{"id": "n1", "text": "buy milk", "pinned": True},
                                               {"id": "n2", "text": "call Ada", "pinned": False}],
                                      "Secret": [{"id": "s1", "code": "1234"}]})
    return Served(gateway, model)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = serve(tmp_path, api_keys=KEYS)
    yield s
    s.stop()


async def session_run(url: str, key: str | None, work: Any) -> Any:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await work(session)


def run(url: str, work: Any, key: str | None = "root-key") -> Any:
    return asyncio.run(session_run(url, key, work))


def payload(result: Any) -> Any:
    return json.loads(result.content[0].text)


def test_each_root_field_is_a_tool_with_its_description_type_and_inputs(served: Served) -> None:
    async def work(session: ClientSession) -> Any:
        return {t.name: t for t in (await session.list_tools()).tools}

    tools = run(served.url, work)
    assert set(tools) == {"query_notes", "query_secrets", "mutation_notes"}
    notes = tools["query_notes"]
    assert notes.description.startswith("Notes, newest first.") and "[Note!]!" in notes.description
    assert set(notes.input_schema["properties"]) == {"q", "limit", "selection"}
    assert notes.input_schema["properties"]["limit"]["type"] == "integer"
    assert notes.input_schema["required"] == []
    assert tools["mutation_notes"].input_schema["required"] == ["q"]


def test_tool_calls_list_and_plan_like_graphql_requests(served: Served) -> None:
    served.model.push(FIND_PINNED)

    async def work(session: ClientSession) -> Any:
        listing = await session.call_tool("query_notes", {"limit": 1, "selection": "id text"})
        asked = await session.call_tool("query_notes", {"q": "pinned notes", "selection": "text pinned"})
        return listing, asked

    listing, asked = run(served.url, work)
    assert not listing.is_error and payload(listing) == [{"id": "n1", "text": "buy milk"}]
    assert not asked.is_error and payload(asked) == [{"text": "buy milk", "pinned": True}]
    assert asked.structured_content == {"result": [{"text": "buy milk", "pinned": True}]}
    assert len(served.model.calls) == 1


def test_a_tool_beyond_the_callers_roles_is_hidden_and_refused(served: Served) -> None:
    before = export_records(served.gateway.executor)

    async def work(session: ClientSession) -> Any:
        names = {t.name for t in (await session.list_tools()).tools}
        return names, await session.call_tool("query_secrets", {"q": "all secrets"})

    names, refused = run(served.url, work, key="viewer-key")
    assert "query_secrets" not in names and "query_notes" in names
    assert refused.is_error and payload(refused)["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert served.model.calls == [] and export_records(served.gateway.executor) == before

    async def as_admin(session: ClientSession) -> Any:
        return await session.call_tool("query_secrets", {"selection": "code"})

    assert payload(run(served.url, as_admin, key="root-key")) == [{"code": "1234"}]


def test_without_a_valid_key_mcp_answers_401(served: Served) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"authorization": "Bearer guess"}):
        resp = httpx.post(served.url, json=body, headers={"accept": "application/json, text/event-stream", **headers})
        assert resp.status_code == 401 and resp.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_policy_and_limits_hold_for_tools(tmp_path: Path) -> None:
    s = serve(tmp_path, max_fields=3)
    try:
        bulk_delete = {"steps": [{"op": "delete", "model": "Note"}], "result": 0, "params": {}}
        s.model.push(bulk_delete)
        before = export_records(s.gateway.executor)

        async def work(session: ClientSession) -> Any:
            deleted = await session.call_tool("mutation_notes", {"q": "delete every note", "selection": "id"})
            wide = await session.call_tool("query_notes", {"selection": "id text pinned __typename"})
            unknown = await session.call_tool("query_nothing", {})
            return deleted, wide, unknown

        deleted, wide, unknown = run(s.url, work, key=None)
        assert deleted.is_error and payload(deleted)["errors"][0]["extensions"]["code"] == "POLICY_DENIED"
        assert export_records(s.gateway.executor) == before
        assert wide.is_error and payload(wide)["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert unknown.is_error and payload(unknown)["errors"][0]["extensions"]["code"] == "TOOL_NOT_FOUND"
    finally:
        s.stop()


def test_trusted_documents_are_tools_and_trusted_only_offers_nothing_else(tmp_path: Path) -> None:
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(json.dumps({hashlib.sha256(NOTES_DOC.encode()).hexdigest(): NOTES_DOC}), encoding="utf-8")
    s = serve(tmp_path, documents=str(manifest), trusted_documents_only=True)
    try:
        async def work(session: ClientSession) -> Any:
            tools = {t.name: t for t in (await session.list_tools()).tools}
            called = await session.call_tool("document_PinnedNotes", {"n": 1})
            field = await session.call_tool("query_notes", {})
            return tools, called, field

        tools, called, field = run(s.url, work, key=None)
        assert list(tools) == ["document_PinnedNotes"]
        assert tools["document_PinnedNotes"].input_schema["properties"] == {"n": {"type": "integer"}}
        assert NOTES_DOC in tools["document_PinnedNotes"].description
        assert not called.is_error and payload(called) == {"notes": [{"text": "buy milk"}]}
        assert field.is_error and payload(field)["errors"][0]["extensions"]["code"] == "TOOL_NOT_FOUND"
    finally:
        s.stop()
