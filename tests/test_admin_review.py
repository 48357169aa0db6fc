"""The admin API's plan review: approve, reject and pin through /admin/graphql change what is served."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import Harness, LiveServer, make_gateway, seed_tracker
from gateway.llm.scripted import ScriptedProvider

HIGH = {"steps": [{"op": "find", "model": "Task", "where": {"priority": {"eq": "HIGH"}}}], "result": 0,
        "params": {}}
ASK = 'query { tasks(q: "high priority tasks") { title } }'
HEADERS = {"authorization": "Bearer root-key"}


def admin(h: Harness, query: str, **variables: Any) -> dict[str, Any]:
    url = h.server.url.replace("/graphql", "/admin/graphql")
    return httpx.post(url, json={"query": query, "variables": variables}, headers=HEADERS, timeout=30).json()


def ask(h: Harness) -> dict[str, Any]:
    return h.server.gql(ASK, headers=HEADERS)


@pytest.fixture
def h(db_url: str) -> Iterator[Harness]:
    model = ScriptedProvider([HIGH])
    server = LiveServer(make_gateway(db_url, provider=model, plan_cache=True, api_keys="root-key:admin")).start()
    harness = Harness(server, model)
    seed_tracker(harness)
    yield harness
    server.stop()


def exact_plan(h: Harness) -> dict[str, Any]:
    plans = admin(h, "{ plans { id kind status pinned } }")["data"]["plans"]
    return next(p for p in plans if p["kind"] == "exact")


def test_approve_and_pin_mark_the_plan_and_it_keeps_being_served(h: Harness) -> None:
    ask(h)
    plan = exact_plan(h)
    assert plan["status"] == "learned"
    approved = admin(h, "mutation($id: ID!) { approvePlan(id: $id) { status pinned } }", id=plan["id"])
    assert approved["data"]["approvePlan"] == {"status": "approved", "pinned": False}
    pinned = admin(h, "mutation($id: ID!) { pinPlan(id: $id) { status pinned } }", id=plan["id"])
    assert pinned["data"]["pinPlan"] == {"status": "approved", "pinned": True}
    assert ask(h)["extensions"]["fields"]["tasks"]["source"] == "cache"
    assert len(h.model.calls) == 1


def test_a_rejected_plan_is_never_served_again(h: Harness) -> None:
    ask(h)
    for p in admin(h, "{ plans { id } }")["data"]["plans"]:
        rejected = admin(h, "mutation($id: ID!) { rejectPlan(id: $id) { status } }", id=p["id"])
        assert rejected["data"]["rejectPlan"]["status"] == "rejected"
    h.model.push(HIGH)  # the model answers the rejected plan again: refused, not run
    again = ask(h)
    assert again["errors"][0]["extensions"]["code"] == "PLAN_REJECTED"
    assert again["data"] is None and len(h.model.calls) == 2  # not served from the cache: asked afresh
