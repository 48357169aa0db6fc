"""The admin API (/admin/graphql, strawberry): plans, traces and stats, for admin callers only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Harness, LiveServer, make_gateway, seed_tracker
from gateway.llm.scripted import ScriptedProvider

KEYS = "root-key:admin,viewer-key:viewer"
HIGH = {"steps": [{"op": "find", "model": "Task", "where": {"priority": {"eq": "HIGH"}}}], "result": 0,
        "params": {}}
ASK = 'query { tasks(q: "high priority tasks") { title } }'


def admin_url(h: Harness) -> str:
    return h.server.url.replace("/graphql", "/admin/graphql")


def admin(h: Harness, query: str, key: str | None = "root-key",
          variables: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(admin_url(h), json={"query": query, "variables": variables or {}}, headers=headers, timeout=30)


def ask(h: Harness, query: str = ASK) -> dict[str, Any]:
    return h.server.gql(query, headers={"authorization": "Bearer root-key"})


@pytest.fixture
def h(db_url: str) -> Iterator[Harness]:
    model = ScriptedProvider([HIGH])
    server = LiveServer(make_gateway(db_url, provider=model, plan_cache=True, api_keys=KEYS)).start()
    harness = Harness(server, model)
    seed_tracker(harness)
    yield harness
    server.stop()


def test_stats_count_model_calls_tokens_cache_hits_latency_and_errors(h: Harness) -> None:
    assert ask(h)["extensions"]["fields"]["tasks"]["source"] == "model"
    assert ask(h)["extensions"]["fields"]["tasks"]["source"] == "cache"
    ask(h, "{ projects { name } }")
    failed = ask(h, 'query { tags(q: "tags nobody scripted") { name } }')  # the model has no answers left
    assert failed["errors"][0]["extensions"]["code"] == "MODEL_UNAVAILABLE"

    stats = admin(h, """{ stats { requests modelCalls promptTokens completionTokens cacheHits cacheHitRate
                                  latencyMs { p50 p99 samples } modelLatencyMs { samples } errors { code count } } }""")
    s = stats.json()["data"]["stats"]
    assert s["requests"] == 4 and s["modelCalls"] == 1 and s["cacheHits"] == 1
    assert s["promptTokens"] > 0 and s["completionTokens"] > 0
    assert s["cacheHitRate"] == 0.5  # the failed request never got a plan, the listing needs none
    assert s["latencyMs"]["samples"] == 4 and s["latencyMs"]["p50"] <= s["latencyMs"]["p99"]
    assert s["modelLatencyMs"]["samples"] == 1
    assert s["errors"] == [{"code": "MODEL_UNAVAILABLE", "count": 1}]


def test_recent_traces_newest_first(h: Harness) -> None:
    ask(h)
    ask(h, "{ projects { name } }")
    traces = admin(h, "{ traces(limit: 5) { durationMs errorCodes fields } }").json()["data"]["traces"]
    assert [t["fields"][next(iter(t["fields"]))]["source"] for t in traces] == ["listing", "model"]
    assert traces[1]["fields"]["tasks"]["plan"]["steps"][0]["where"] == {"priority": {"eq": "HIGH"}}


def test_list_show_and_evict_plans(h: Harness) -> None:
    ask(h)
    plans = admin(h, "{ plans { id kind field request current plan } }").json()["data"]["plans"]
    exact = next(p for p in plans if p["kind"] == "exact")
    assert exact["field"] == "query.tasks" and exact["request"] == "high priority tasks" and exact["current"]
    assert exact["plan"]["steps"][0]["model"] == "Task"
    shown = admin(h, "query($id: ID!) { plan(id: $id) { id field } }", variables={"id": exact["id"][:10]})
    assert shown.json()["data"]["plan"] == {"id": exact["id"], "field": "query.tasks"}

    for p in plans:
        evicted = admin(h, "mutation($id: ID!) { evictPlan(id: $id) { id } }", variables={"id": p["id"]})
        assert evicted.json()["data"]["evictPlan"]["id"] == p["id"]
    assert admin(h, "{ plans { id } }").json()["data"]["plans"] == []
    h.model.push(HIGH)
    assert ask(h)["extensions"]["fields"]["tasks"]["source"] == "model"  # evicted: planned afresh


def test_an_unknown_plan_id_is_a_coded_error(h: Harness) -> None:
    for query in ('{ plan(id: "nope") { id } }', 'mutation { evictPlan(id: "nope") { id } }'):
        error = admin(h, query).json()["errors"][0]
        assert error["extensions"]["code"] == "PLAN_NOT_FOUND" and "nope" in error["message"]


def test_non_admin_callers_are_refused_and_nothing_changes(h: Harness) -> None:
    ask(h)
    before = admin(h, "{ plans { id } }").json()["data"]["plans"]
    evict = "mutation($id: ID!) { evictPlan(id: $id) { id } }"
    viewer = admin(h, evict, key="viewer-key", variables={"id": before[0]["id"]})
    assert viewer.status_code == 403 and viewer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "data" not in viewer.json()
    nobody = admin(h, "{ stats { requests } }", key=None)
    assert nobody.status_code == 401 and nobody.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    wrong = admin(h, "{ stats { requests } }", key="guess")
    assert wrong.status_code == 401
    assert admin(h, "{ plans { id } }").json()["data"]["plans"] == before


def test_without_api_keys_the_admin_api_is_off_unless_opened_to_loopback(tmp_path: Path) -> None:
    closed = LiveServer(make_gateway(f"sqlite:///{tmp_path / 'a.db'}")).start()
    try:
        resp = httpx.post(closed.url.replace("/graphql", "/admin/graphql"), json={"query": "{ stats { requests } }"})
        assert resp.status_code == 403 and "--admin-local" in resp.json()["errors"][0]["message"]
    finally:
        closed.stop()
    local = LiveServer(make_gateway(f"sqlite:///{tmp_path / 'b.db'}", admin_local=True)).start()
    try:
        resp = httpx.get(local.url.replace("/graphql", "/admin/graphql"), params={"query": "{ stats { requests } }"})
        assert resp.status_code == 200 and resp.json()["data"]["stats"]["requests"] == 0
    finally:
        local.stop()


def test_a_custom_admin_role(tmp_path: Path) -> None:
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 'a.db'}", api_keys="ops-key:ops,root-key:admin",
                                     admin_role="ops")).start()
    try:
        url = server.url.replace("/graphql", "/admin/graphql")
        body = {"query": "{ stats { requests } }"}
        assert httpx.post(url, json=body, headers={"x-api-key": "ops-key"}).status_code == 200
        assert httpx.post(url, json=body, headers={"x-api-key": "root-key"}).status_code == 403
    finally:
        server.stop()
