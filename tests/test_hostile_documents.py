"""Hostile GraphQL documents: limits cost linear time, count introspection, and stall no one.

Played through the real HTTP server. Request timeouts here are hang guards (the old exponential
check ran for minutes on these documents), not timing assertions.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from graphql import get_introspection_query

from conftest import LiveServer, make_gateway
from gateway import ScriptedProvider

GQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    s = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", provider=ScriptedProvider([]))).start()
    yield s
    s.stop()


def post(server: LiveServer, query: str, timeout: float = 60) -> httpx.Response:
    return httpx.post(server.url, json={"query": query}, headers={"accept": GQL_RESPONSE}, timeout=timeout)


def doubling_fragments(levels: int, leaf: str = "title") -> str:
    """Fragment i spreads fragment i+1 twice (under two aliases): 2**levels fields once expanded."""
    frags = [f"fragment F{i} on Task {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    frags.append(f"fragment F{levels} on Task {{ {leaf} }}")
    return "{ tasks { ...F0 } } " + " ".join(frags)


def code(resp: httpx.Response) -> str:
    return resp.json()["errors"][0]["extensions"]["code"]


def test_exponential_fragments_are_refused_at_the_field_limit(server: LiveServer) -> None:
    resp = post(server, doubling_fragments(60))  # 2**60 fields once expanded
    assert resp.status_code == 400 and code(resp) == "QUERY_TOO_COMPLEX"
    assert "more than 200 fields" in resp.json()["errors"][0]["message"]


def test_fragments_within_the_limit_still_count_every_expanded_field(server: LiveServer) -> None:
    # 2**7 = 128 expanded fields of one response name: allowed; 2**8 = 256: refused
    ok = post(server, doubling_fragments(7))
    assert ok.status_code == 200 and ok.json()["data"] == {"tasks": []}
    assert code(post(server, doubling_fragments(8))) == "QUERY_TOO_COMPLEX"


def test_aliased_introspection_counts_against_its_own_budget(server: LiveServer) -> None:
    aliases = " ".join(f"a{i}: __schema {{ queryType {{ name }} }}" for i in range(10_000))
    resp = post(server, "{ " + aliases + " }")
    assert resp.status_code == 400 and code(resp) in ("QUERY_TOO_COMPLEX", "GRAPHQL_PARSE_FAILED")
    assert "data" not in resp.json()
    within_tokens = " ".join(f"a{i}: __schema {{ queryType {{ name }} }}" for i in range(200))
    resp = post(server, "{ " + within_tokens + " }")
    assert resp.status_code == 400 and code(resp) == "QUERY_TOO_COMPLEX"
    assert "introspection fields" in resp.json()["errors"][0]["message"]


def test_fields_in_unused_fragments_count_too(server: LiveServer) -> None:
    """Validation compares same-named fields pairwise, in every fragment: the written count bounds it."""
    unused = " ".join(f"a: tasks(limit: {i}) {{ id }}" for i in range(400))
    resp = post(server, "{ __typename } fragment Unused on Query { " + unused + " }")
    assert resp.status_code == 400 and code(resp) == "QUERY_TOO_COMPLEX"
    assert "the document holds more than 700 fields" in resp.json()["errors"][0]["message"]


def test_the_standard_introspection_query_passes(server: LiveServer) -> None:
    query = get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True,
                                    schema_description=True, input_value_deprecation=True)
    resp = post(server, query)
    assert resp.status_code == 200 and "errors" not in resp.json()
    assert any(t["name"] == "Task" for t in resp.json()["data"]["__schema"]["types"])


def test_typename_counts_as_an_ordinary_field(server: LiveServer) -> None:
    resp = post(server, "{ " + " ".join(f"a{i}: __typename" for i in range(201)) + " }")
    assert resp.status_code == 400 and code(resp) == "QUERY_TOO_COMPLEX"


def test_documents_nested_past_the_parser_are_a_coded_refusal(server: LiveServer) -> None:
    deep = "{ tasks " + "{ project " * 5_000 + "{ name" + " }" * 5_002
    resp = post(server, deep)
    assert resp.status_code == 400 and code(resp) in ("QUERY_TOO_COMPLEX", "GRAPHQL_PARSE_FAILED")
    deep_fragments = "{ tasks { ...F0 } } " + " ".join(
        f"fragment F{i} on Task {{ ...F{i + 1} }}" for i in range(3_000)) + " fragment F3000 on Task { id }"
    resp = post(server, deep_fragments)
    assert resp.status_code == 400 and code(resp) in ("QUERY_TOO_COMPLEX", "GRAPHQL_PARSE_FAILED")


def test_cyclic_fragments_are_a_validation_error_not_a_hang(server: LiveServer) -> None:
    resp = post(server, "{ tasks { ...A } } fragment A on Task { ...B } fragment B on Task { title ...A }")
    assert resp.status_code == 400 and code(resp) == "GRAPHQL_VALIDATION_FAILED"


def test_a_huge_document_is_refused_by_its_token_count(server: LiveServer) -> None:
    resp = post(server, "{ " + " ".join(f"a{i}: __typename" for i in range(30_000)) + " }")
    assert resp.status_code == 400 and code(resp) == "GRAPHQL_PARSE_FAILED"
    assert "tokens" in resp.json()["errors"][0]["message"]


def test_health_answers_while_a_hostile_document_is_being_refused(tmp_path: Path) -> None:
    """Validation that takes long (1,500 conflicting aliases, allowed here by raised limits) runs
    off the event loop: /healthz is answered while the document is being refused."""
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}", max_fields=10**6, max_document_tokens=10**6)
    server = LiveServer(gw).start()
    hostile = "{ " + " ".join(f"a: tasks(limit: {i}) {{ id }}" for i in range(1_500)) + " }"

    async def scenario() -> tuple[httpx.Response, int]:
        async with httpx.AsyncClient(timeout=120) as client:
            attack = asyncio.create_task(client.post(server.url, json={"query": hostile},
                                                     headers={"accept": GQL_RESPONSE}))
            answered_meanwhile = 0
            while not attack.done():
                health = await client.get(server.url.replace("/graphql", "/healthz"))
                assert health.status_code == 200
                if not attack.done():
                    answered_meanwhile += 1
            return await attack, answered_meanwhile

    try:
        resp, answered = asyncio.run(scenario())
        assert resp.status_code == 400 and code(resp) == "GRAPHQL_VALIDATION_FAILED"
        assert answered >= 2  # the upload of 40 KB accounts for one at most
    finally:
        server.stop()
