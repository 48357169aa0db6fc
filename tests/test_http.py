"""GraphQL over HTTP: methods, media types, status codes, batching, GraphiQL."""

from __future__ import annotations

import json

import httpx
import pytest

from conftest import Harness, seed_tracker

GQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
def h(harness: Harness) -> Harness:
    seed_tracker(harness)
    return harness


def test_get_query_with_variables_and_operation_name(h: Harness) -> None:
    resp = httpx.get(
        h.server.url,
        params={
            "query": "query A($n: Int) { projects(limit: $n) { name } } query B { tags { name } }",
            "variables": json.dumps({"n": 1}),
            "operationName": "A",
        },
        headers={"accept": GQL_RESPONSE},
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith(GQL_RESPONSE)
    assert len(resp.json()["data"]["projects"]) == 1


def test_mutation_over_get_is_405(h: Harness) -> None:
    resp = httpx.get(h.server.url, params={"query": 'mutation { tasks(q: "x") { id } }'})
    assert resp.status_code == 405 and resp.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"query": 1}', "application/json", 400),
        (b'{"variables": {}}', "application/json", 400),
        (b'["not an object"]', "application/json", 400),
        (b'{"query": "{ tags { name } }", "variables": "x"}', "application/json", 400),
        (b"query=1", "application/x-www-form-urlencoded", 415),
    ],
)
def test_malformed_requests_get_4xx(h: Harness, body: bytes, content_type: str, status: int) -> None:
    resp = httpx.post(h.server.url, content=body, headers={"content-type": content_type, "accept": GQL_RESPONSE})
    assert resp.status_code == status
    body = resp.json()
    assert (body[0] if isinstance(body, list) else body)["errors"][0]["message"]  # a batch answers per entry


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("{ tasks { title ", "Syntax Error"),
        ("{ tasks { colour } }", "Cannot query field 'colour'"),
        ("query($x: Int!) { tasks(limit: $x) { id } }", "Variable '$x'"),
    ],
)
def test_bad_documents_are_400_with_graphql_response_json_and_200_with_json(
    h: Harness, query: str, needle: str
) -> None:
    strict = httpx.post(h.server.url, json={"query": query}, headers={"accept": GQL_RESPONSE})
    assert strict.status_code == 400 and needle in strict.text and "data" not in strict.json()
    legacy = httpx.post(h.server.url, json={"query": query}, headers={"accept": "application/json"})
    assert legacy.status_code == 200 and needle in legacy.text
    assert legacy.headers["content-type"].startswith("application/json")


def test_unacceptable_accept_is_406(h: Harness) -> None:
    resp = httpx.post(h.server.url, json={"query": "{ tags { name } }"}, headers={"accept": "text/csv"})
    assert resp.status_code == 406


def test_batched_requests(h: Harness) -> None:
    resp = httpx.post(h.server.url, json=[{"query": "{ tags { name } }"}, {"query": "{ projects { name } }"}])
    assert resp.status_code == 200
    first, second = resp.json()
    assert {t["name"] for t in first["data"]["tags"]} == {"urgent", "home"}
    assert len(second["data"]["projects"]) == 2


def test_introspection_is_on(h: Harness) -> None:
    body = h.server.gql("{ __schema { queryType { fields { name args { name } } } } }")
    fields = {f["name"]: [a["name"] for a in f["args"]] for f in body["data"]["__schema"]["queryType"]["fields"]}
    assert "q" in fields["tasks"]


def test_browser_gets_graphiql_from_local_assets(h: Harness) -> None:
    page = httpx.get(h.server.url, headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200 and "GraphiQL" in page.text
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    for asset in ("graphiql.min.js", "graphiql.min.css", "react.production.min.js"):
        assert f"/static/{asset}" in page.text
        assert httpx.get(h.server.url.replace("/graphql", f"/static/{asset}")).status_code == 200
