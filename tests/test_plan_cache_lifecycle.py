"""A developer reviews cached plans: approve, reject, mark wrong, pin, evict (API and CLI).

Also: stored plans offered as worked examples by similarity, a selection that does not change
what a plan must do reusing its plan, and every response's plain-English reading.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_plan_cache import URGENT, ask, source, start, titles
from typer.testing import CliRunner

from conftest import DEMO_SCHEMA, Harness, seed_tracker
from gateway import ScriptedProvider
from gateway.cli import app  # internal: the `gateway` command run in-process (typer's CliRunner)

DONE_COUNT = {
    "steps": [
        {
            "op": "aggregate",
            "model": "Task",
            "where": {"status": {"eq": "DONE"}},
            "aggregates": [{"fn": "count", "as": "count"}],
        }
    ],
    "result": 0,
    "params": {},
}
ARCHIVE = {
    "steps": [{"op": "update", "model": "Project", "where": {"name": {"eq": "Website"}}, "set": {"archived": True}}],
    "result": 0,
    "params": {},
}


@pytest.fixture
def h(db_url: str) -> Iterator[Harness]:
    harness = start(db_url, ScriptedProvider([]))
    seed_tracker(harness)
    yield harness
    harness.server.stop()


def entry_for(h: Harness, text: str, kind: str = "exact") -> str:
    return next(e.id for e in h.gateway.plan_cache.list() if e.text == text and e.kind == kind)


def test_a_rejected_plan_is_never_served_again(h: Harness) -> None:
    h.model.push(URGENT)
    ask(h, "tasks tagged urgent")
    cache = h.gateway.plan_cache
    cache.reject(entry_for(h, "tasks tagged urgent"))
    cache.reject(entry_for(h, "tasks tagged {tag}", "template"))
    # the model answers the same plan again (the template's, with this request's tag): refused, not run
    home = json.loads(json.dumps(URGENT).replace("urgent", "home"))
    h.model.push(URGENT, home)
    for q in ("tasks tagged urgent", "tasks tagged home"):
        body = ask(h, q)
        assert body["errors"][0]["extensions"]["code"] == "PLAN_REJECTED", body
        assert body["data"] is None
    # a different plan for the same request runs and is cached; the rejection stays on record
    other = {
        "steps": [
            {
                "op": "find",
                "model": "Task",
                "where": {"priority": {"eq": "HIGH"}},
                "orderBy": [{"field": "title", "direction": "asc"}],
            }
        ],
        "result": 0,
        "params": {},
    }
    h.model.push(other)
    assert titles(ask(h, "tasks tagged urgent")) == ["Fix login", "Push notifications"]
    assert source(ask(h, "tasks tagged urgent")) == ("cache", "exact")
    assert len(h.model.calls) == 4
    assert cache.show(entry_for(h, "tasks tagged urgent")).rejected_plans


def test_a_rejected_write_changes_nothing(h: Harness) -> None:
    add = {
        "steps": [{"op": "insert", "model": "Task", "values": [{"title": "Call mom", "status": "TODO"}]}],
        "result": 0,
        "params": {},
    }
    h.model.push(add)
    assert titles(ask(h, "add a task: Call mom", op="mutation")) == ["Call mom"]
    h.gateway.plan_cache.mark_wrong(entry_for(h, "add a task: Call mom"))
    before = h.server.gql("{ tasks { title status } }")["data"]
    h.model.push(add)
    body = ask(h, "add a task: Call mom", op="mutation")
    assert body["errors"][0]["extensions"]["code"] == "PLAN_REJECTED"
    assert h.server.gql("{ tasks { title status } }")["data"] == before


def test_evict_drops_a_plan_and_pin_keeps_one_through_clear(h: Harness) -> None:
    h.model.push(URGENT, DONE_COUNT)
    ask(h, "tasks tagged urgent")
    h.server.gql('{ taskCount(q: "how many tasks are done") }')
    cache = h.gateway.plan_cache
    evicted = cache.evict(entry_for(h, "tasks tagged urgent"))
    assert evicted.text == "tasks tagged urgent"
    assert source(ask(h, "tasks tagged urgent")) == ("cache", "template")  # the template is its own entry
    cache.evict(entry_for(h, "tasks tagged {tag}", "template"))
    h.model.push(URGENT)
    assert source(ask(h, "tasks tagged urgent")) == ("model", None)
    pinned = cache.pin(entry_for(h, "how many tasks are done"))
    assert pinned.pinned and pinned.status == "approved"
    assert cache.clear() == 2  # the exact and template entries of "tasks tagged ..."
    assert [e.text for e in cache.list()] == ["how many tasks are done"]
    body = h.server.gql('{ taskCount(q: "how many tasks are done") }')
    assert body["data"] == {"taskCount": 1} and body["extensions"]["fields"]["taskCount"]["source"] == "cache"


def test_unknown_ids_are_a_coded_error(h: Harness) -> None:
    from gateway import UnknownPlan

    for action in ("show", "approve", "reject", "pin", "evict", "mark_wrong"):
        with pytest.raises(UnknownPlan) as e:
            getattr(h.gateway.plan_cache, action)("nope")
        assert e.value.code == "PLAN_NOT_FOUND"


def test_gateway_plans_review_commands(db_url: str) -> None:
    h = start(db_url, ScriptedProvider([URGENT, ARCHIVE]))
    seed_tracker(h)
    ask(h, "tasks tagged urgent")
    ask(h, "archive Website", field="projects", selection="name", op="mutation")
    h.server.stop()
    runner = CliRunner()
    where = ["--schema", str(DEMO_SCHEMA), "--db", db_url]
    listed = runner.invoke(app, ["plans", "list", *where]).output
    ids = {line.split("  ")[-1].strip(): line.split()[0] for line in listed.splitlines() if "plan(s)" not in line}
    assert set(ids) == {"tasks tagged urgent", "tasks tagged {tag}", "archive Website", "archive {name}"}
    for command, word, text in (
        ("approve", "approved", "tasks tagged {tag}"),
        ("pin", "pinned", "tasks tagged {tag}"),
        ("wrong", "marked wrong", "archive {name}"),
        ("reject", "rejected", "archive Website"),
        ("evict", "evicted", "tasks tagged {tag}"),
    ):
        result = runner.invoke(app, ["plans", command, ids[text], *where])
        assert result.exit_code == 0 and result.output.startswith(word), result.output
        if command == "pin":
            assert "approved+pinned" in runner.invoke(app, ["plans", "list", *where]).output
    shown = json.loads(runner.invoke(app, ["plans", "show", ids["archive Website"], *where]).output)
    assert shown["status"] == "rejected" and shown["reading"].startswith("updated Projects where name is Website")
    assert "wrong" in runner.invoke(app, ["plans", "list", *where]).output
    missing = runner.invoke(app, ["plans", "approve", "zzz", *where])
    assert missing.exit_code == 1 and "no single cached plan" in missing.output
    assert "3 plan(s)" in runner.invoke(app, ["plans", "list", *where]).output  # the template was evicted


def test_similar_plans_are_offered_as_examples(h: Harness) -> None:
    by_tag = URGENT
    by_status = {
        "steps": [{"op": "find", "model": "Task", "where": {"status": {"eq": "DONE"}}}],
        "result": 0,
        "params": {"status": "DONE"},
    }
    by_title = {
        "steps": [{"op": "find", "model": "Task", "where": {"title": {"contains": "login"}}}],
        "result": 0,
        "params": {"text": "login"},
    }
    h.model.push(by_tag, by_status, by_title, by_tag)
    for q in ("tasks tagged urgent", "tasks with status DONE", "tasks about login", "show tasks tagged urgent"):
        ask(h, q)
    cache = h.gateway.plan_cache
    root = h.gateway.catalog.root("query", "tasks")
    found = cache.similar_examples(root, "which tasks are tagged home", k=3)
    assert next(r for r, _ in found) in ("tasks tagged urgent", "show tasks tagged urgent")
    assert len({json.dumps(p.dump()) for _, p in found}) == len(found)  # one example per distinct plan
    assert len(cache.similar_examples(root, "tasks", k=2)) == 2
    assert cache.similar_examples(root, "zebra crossing", k=3) == []
    # approved plans count for more; rejected and wrong ones are never examples
    cache.approve(entry_for(h, "tasks with status DONE"))
    assert cache.similar_examples(root, "tasks", k=1)[0][0] == "tasks with status DONE"
    cache.reject(entry_for(h, "tasks tagged urgent"))
    cache.mark_wrong(entry_for(h, "show tasks tagged urgent"))
    assert all("tagged" not in r for r, _ in cache.similar_examples(root, "tasks tagged home", k=3))
    assert cache.similar_examples(h.gateway.catalog.root("query", "people"), "tasks tagged home") == []


def test_write_examples_from_another_caller_wait_for_approval(h: Harness) -> None:
    h.model.push(ARCHIVE)
    ask(h, "archive Website", field="projects", selection="name", op="mutation")
    cache = h.gateway.plan_cache
    root = h.gateway.catalog.root("mutation", "projects")
    [entry] = [e for e in cache.list() if e.kind == "exact"]
    assert entry.owner is None  # open access: one anonymous caller
    assert [r for r, _ in cache.similar_examples(root, "archive Mobile app")] == ["archive Website"]
    assert cache.similar_examples(root, "archive Mobile app", caller="someone-else") == []
    cache.approve(entry.id)
    assert len(cache.similar_examples(root, "archive Mobile app", caller="someone-else")) == 1


def test_a_selection_that_does_not_change_the_plan_reuses_it(h: Harness) -> None:
    h.model.push(URGENT)
    ask(h, "tasks tagged urgent", selection="title")
    body = ask(h, "tasks tagged urgent", selection="title status project { name }")
    assert source(body) == ("cache", "exact")
    assert body["data"]["tasks"][0] == {"title": "Fix login", "status": "TODO", "project": {"name": "Website"}}
    # an aggregate shape: the selection says what to group and count, so it is part of the key
    by_status = {
        "steps": [
            {
                "op": "aggregate",
                "model": "Task",
                "groupBy": ["status"],
                "aggregates": [{"fn": "count", "as": "count"}],
                "orderBy": [{"field": "status"}],
            }
        ],
        "result": 0,
        "params": {},
    }
    by_priority = {
        **by_status,
        "steps": [{**by_status["steps"][0], "groupBy": ["priority"], "orderBy": [{"field": "priority"}]}],
    }
    h.model.push(by_status, by_priority)
    first = ask(h, "count tasks", field="taskStats", selection="status count")
    assert {r["status"]: r["count"] for r in first["data"]["taskStats"]} == {"TODO": 1, "IN_PROGRESS": 1, "DONE": 1}
    assert source(ask(h, "count tasks", field="taskStats", selection="status count"), "taskStats") == ("cache", "exact")
    assert source(ask(h, "count tasks", field="taskStats", selection="priority count"), "taskStats") == ("model", None)
    assert len(h.model.calls) == 3


def test_every_response_carries_a_plain_english_reading(h: Harness) -> None:
    h.model.push(DONE_COUNT)
    body = h.server.gql('{ taskCount(q: "how many tasks are done") }')
    assert body["extensions"]["fields"]["taskCount"]["reading"] == "counted Tasks where status is DONE"
    again = h.server.gql('{ taskCount(q: "how many tasks are done") }')
    assert again["extensions"]["fields"]["taskCount"]["reading"] == "counted Tasks where status is DONE"
    listing = h.server.gql("{ projects(limit: 1) { name } }")
    assert listing["extensions"]["fields"]["projects"]["reading"] == "found Projects, at most 1"
