"""Cache templates bind exactly what the request says, on SQLite, PostgreSQL and through Redis.

Each test plays one overreach an adversarial pass found: ``limit`` bound as a slot, a word bound
into a date, a non-integer into an integer, exact keys that ignored case, and one caller's
write template serving another caller.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_plan_cache import REDIS_URL, ask, redis_prefix, source, start, titles  # noqa: F401 - fixture

from conftest import Harness, seed_tracker
from gateway import ScriptedProvider, import_records

DELETE_ONE = {"steps": [{"op": "find", "model": "Task", "where": {"estimate": {"eq": 1}}, "limit": 1},
                        {"op": "delete", "model": "Task", "where": {"id": {"in": {"$step": 0, "field": "id"}}}}],
              "result": 1, "params": {"estimate": 1}}
BIG_ESTIMATES = {"Task": [{"id": f"big{i}", "title": f"Big task {i}", "status": "TODO", "estimate": 30}
                          for i in range(40)]}


def count_tasks(h: Harness) -> int:
    return len(titles(h.server.gql("{ tasks(limit: 1000) { title } }")))


@pytest.fixture
def h(db_url: str) -> Iterator[Harness]:
    harness = start(db_url, ScriptedProvider([]))
    seed_tracker(harness)
    import_records(harness.gateway.executor, BIG_ESTIMATES)
    yield harness
    harness.server.stop()


def test_limit_is_never_a_slot(h: Harness) -> None:
    h.model.push(DELETE_ONE)
    first = ask(h, "delete the task with estimate 1", op="mutation")
    assert titles(first) == ["Write docs"]
    before = count_tasks(h)
    body = ask(h, "delete the task with estimate 30", op="mutation")
    assert source(body) == ("cache", "template")
    assert len(titles(body)) == 1  # not a 30-row delete
    assert count_tasks(h) == before - 1
    steps = body["extensions"]["fields"]["tasks"]["plan"]["steps"]
    assert steps[0]["limit"] == 1 and steps[0]["where"] == {"estimate": {"eq": 30}}
    assert len(h.model.calls) == 1


def test_a_number_only_in_limit_makes_no_template(h: Harness) -> None:
    top = {"steps": [{"op": "find", "model": "Task", "where": {"estimate": {"eq": 30}}, "limit": 2,
                      "orderBy": [{"field": "title", "direction": "asc"}]}], "result": 0, "params": {"n": 2}}
    h.model.push(top, {**top, "steps": [{**top["steps"][0], "limit": 25}], "params": {"n": 25}})
    assert len(titles(ask(h, "the first 2 tasks with estimate 30"))) == 2
    assert not [e for e in h.gateway.plan_cache.list() if e.kind == "template"]
    body = ask(h, "the first 25 tasks with estimate 30")
    assert source(body) == ("model", None) and len(titles(body)) == 25


def test_a_date_slot_binds_only_a_date(h: Harness) -> None:
    due = {"steps": [{"op": "find", "model": "Task", "where": {"dueDate": {"lt": "2026-12-01"}}}], "result": 0,
           "params": {"before": "2026-12-01"}}
    h.model.push(due)
    ask(h, "tasks due before 2026-12-01")
    again = ask(h, "tasks due before 2026-11-15")
    assert source(again) == ("cache", "template")
    assert again["extensions"]["fields"]["tasks"]["plan"]["steps"][0]["where"] == {"dueDate": {"lt": "2026-11-15"}}
    h.model.push(due)
    body = ask(h, "tasks due before yesterday")
    assert source(body) == ("model", None)  # "yesterday" is not bound into the date comparison
    assert len(h.model.calls) == 2


def test_an_integer_slot_binds_only_an_integer(h: Harness) -> None:
    at_least = {"steps": [{"op": "find", "model": "Task", "where": {"estimate": {"gte": 3}}}], "result": 0,
                "params": {"min": 3}}
    h.model.push(at_least)
    ask(h, "tasks of at least 3 points")
    assert source(ask(h, "tasks of at least 5 points")) == ("cache", "template")
    for other in ("tasks of at least 3.5 points", "tasks of at least three points", "tasks of at least 3e9 points",
                  "tasks of at least 99999999999999999999999 points"):
        h.model.push(at_least)
        assert source(ask(h, other)) == ("model", None), other
    assert len(h.model.calls) == 5


def test_exact_keys_keep_case(h: Harness) -> None:
    import_records(h.gateway.executor, {"Project": [{"id": "pa", "name": "Alpha"}, {"id": "pA", "name": "ALPHA"}]})

    def archive(name: str) -> dict[str, Any]:
        return {"steps": [{"op": "update", "model": "Project", "where": {"name": {"eq": name}},
                           "set": {"archived": True}}], "result": 0, "params": {}}

    h.model.push(archive("Alpha"))
    ask(h, "archive the alpha project", field="projects", selection="name", op="mutation")
    assert [e.kind for e in h.gateway.plan_cache.list()] == ["exact"]  # "Alpha" is not written "alpha": no slot
    h.model.push(archive("ALPHA"))
    body = ask(h, "archive the ALPHA project", field="projects", selection="name", op="mutation")
    assert source(body, "projects") == ("model", None)
    assert body["data"]["projects"] == [{"name": "ALPHA"}]
    # a template binds the value as written: "ALPHA" is never served the plan made for "Alpha"
    h.model.push(archive("Alpha"))
    ask(h, "archive project Alpha", field="projects", selection="name", op="mutation")
    bound = ask(h, "archive project ALPHA", field="projects", selection="name", op="mutation")
    assert bound["extensions"]["fields"]["projects"]["plan"]["steps"][0]["where"] == {"name": {"eq": "ALPHA"}}
    assert bound["data"]["projects"] == [{"name": "ALPHA"}]
    assert len(h.model.calls) == 3


def test_a_slot_binds_one_position_only(h: Harness) -> None:
    # "urgent" is both the filter and a title word: the literal sits at two positions, so no template
    plan = {"steps": [{"op": "find", "model": "Task", "where": {"or": [{"tags": {"name": {"eq": "urgent"}}},
                                                                        {"title": {"contains": "urgent"}}]}}],
            "result": 0, "params": {"word": "urgent"}}
    h.model.push(plan)
    ask(h, "tasks about urgent")
    assert [e.kind for e in h.gateway.plan_cache.list()] == ["exact"]


def test_write_templates_serve_other_callers_only_once_approved(db_url: str) -> None:
    keys = "key-a:editor,key-b:editor,key-c:editor"
    h = start(db_url, ScriptedProvider([]), api_keys=keys)
    seed_tracker(h)

    def as_(key: str, q: str, op: str = "mutation") -> dict[str, Any]:
        return h.server.gql(f"{op} Q($q: String!) {{ tasks(q: $q) {{ title status }} }}", {"q": q},
                            headers={"Authorization": f"Bearer {key}"})

    def done(title: str) -> dict[str, Any]:
        return {"steps": [{"op": "update", "model": "Task", "where": {"title": {"eq": title}},
                           "set": {"status": "DONE"}}], "result": 0, "params": {"title": title}}

    try:
        h.model.push(done("Fix login"))
        assert source(as_("key-a", "mark 'Fix login' done")) == ("model", None)
        assert source(as_("key-a", "mark 'Write docs' done")) == ("cache", "template")  # its teacher
        h.model.push(done("Push notifications"))
        body = as_("key-b", "mark 'Push notifications' done")
        assert source(body) == ("model", None)  # another caller: not taught by them, not approved
        template = next(e for e in h.gateway.plan_cache.list() if e.kind == "template" and e.request.endswith("'Fix login' done"))
        assert template.writes and template.status == "learned"
        h.gateway.plan_cache.approve(template.id)
        assert source(as_("key-c", "mark 'Write docs' done")) == ("cache", "template")
        # a read template is shared at once
        h.model.push({"steps": [{"op": "find", "model": "Task", "where": {"title": {"eq": "Fix login"}}}],
                      "result": 0, "params": {"title": "Fix login"}})
        as_("key-a", "the task 'Fix login'", op="query")
        assert source(as_("key-b", "the task 'Write docs'", op="query")) == ("cache", "template")
        assert len(h.model.calls) == 3
    finally:
        h.server.stop()


def test_redis_shared_templates_keep_the_rules(db_url: str, tmp_path: Path, redis_prefix: str) -> None:  # noqa: F811
    a = start(db_url, ScriptedProvider([DELETE_ONE]), redis_url=REDIS_URL, redis_prefix=redis_prefix)
    b = start(f"sqlite:///{tmp_path / 'b.db'}", ScriptedProvider([]), redis_url=REDIS_URL, redis_prefix=redis_prefix)
    try:
        for g in (a, b):
            seed_tracker(g)
            import_records(g.gateway.executor, BIG_ESTIMATES)
        ask(a, "delete the task with estimate 1", op="mutation")
        before = count_tasks(b)
        body = ask(b, "delete the task with estimate 30", op="mutation")
        assert source(body) == ("cache", "template") and len(titles(body)) == 1
        assert count_tasks(b) == before - 1
        b.model.push(DELETE_ONE)
        assert source(ask(b, "Delete the task with estimate 1", op="mutation")) == ("model", None)
        assert b.gateway.plan_cache.store.entries() != []  # b learned its own, a's came from Redis
    finally:
        a.server.stop()
        b.server.stop()


def test_redis_is_closed_with_the_gateway(tmp_path: Path, redis_prefix: str) -> None:  # noqa: F811
    import redis

    h = start(f"sqlite:///{tmp_path / 's.db'}", ScriptedProvider([DELETE_ONE]), redis_url=REDIS_URL,
              redis_prefix=redis_prefix)
    seed_tracker(h)
    ask(h, "delete the task with estimate 1", op="mutation")
    watcher = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        def ours() -> list[dict[str, Any]]:
            return [c for c in watcher.client_list() if c.get("name") == f"gateway-plans:{redis_prefix}"]

        assert ours()
        h.server.stop()  # closes the gateway
        for _ in range(100):  # Redis drops a closed client on its next loop turn
            if not ours():
                break
            time.sleep(0.02)
        assert ours() == []
    finally:
        watcher.close()
