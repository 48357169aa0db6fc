"""End to end over real HTTP: scripted model answers, real store, real GraphQL responses."""

from __future__ import annotations

from sqlalchemy import event

from conftest import Harness, insert_plan, seed_tracker


def test_insert_then_find_returns_the_stored_record(harness: Harness) -> None:
    harness.model.push(
        insert_plan("Task", {"title": "Buy milk", "status": "TODO", "priority": "LOW"}),
        {"steps": [{"op": "find", "model": "Task", "where": {"title": {"contains": "milk"}}}], "result": 0},
    )
    created = harness.server.gql('mutation { tasks(q: "add a task to buy milk") { id title status priority } }')
    assert "errors" not in created, created
    task = created["data"]["tasks"][0]
    assert task["title"] == "Buy milk" and task["status"] == "TODO" and task["id"]
    found = harness.server.gql('{ tasks(q: "tasks about milk") { id title } }')
    assert found["data"]["tasks"] == [{"id": task["id"], "title": "Buy milk"}]
    trace = found["extensions"]["fields"]["tasks"]
    assert trace["plan"]["steps"][0]["op"] == "find"
    assert trace["model"] == "scripted" and "latencyMs" in trace and trace["tokens"]["prompt"] > 0


def test_a_later_step_uses_what_an_earlier_step_found(harness: Harness) -> None:
    seed_tracker(harness)
    harness.model.push(
        {
            "steps": [
                {"op": "find", "model": "Project", "where": {"name": {"eq": "Mobile app"}}, "limit": 1},
                {
                    "op": "insert",
                    "model": "Task",
                    "values": [
                        {"title": "Dark mode", "status": "TODO", "project": {"$step": 0, "field": "id"}, "tags": ["g2"]}
                    ],
                },
            ],
            "result": 1,
            "params": {"title": "Dark mode"},
        }
    )
    body = harness.server.gql(
        'mutation { tasks(q: "add Dark mode to the mobile app") { title project { name } tags { name } } }'
    )
    assert body["data"]["tasks"] == [
        {"title": "Dark mode", "project": {"name": "Mobile app"}, "tags": [{"name": "home"}]}
    ]


def test_filters_through_references_one_and_many(harness: Harness) -> None:
    seed_tracker(harness)
    harness.model.push(
        {
            "steps": [
                {
                    "op": "find",
                    "model": "Task",
                    "where": {"project": {"name": {"eq": "Website"}}},
                    "orderBy": [{"field": "title", "direction": "asc"}],
                }
            ],
            "result": 0,
        },
        {
            "steps": [
                {
                    "op": "find",
                    "model": "Task",
                    "where": {"and": [{"tags": {"name": {"eq": "urgent"}}}, {"not": {"status": {"eq": "DONE"}}}]},
                    "orderBy": [{"field": "estimate", "direction": "desc"}],
                }
            ],
            "result": 0,
        },
        {"steps": [{"op": "find", "model": "Person", "where": {"tasks": {"priority": {"eq": "HIGH"}}}}], "result": 0},
    )
    website = harness.server.gql('{ tasks(q: "tasks of the website project") { title } }')
    assert [t["title"] for t in website["data"]["tasks"]] == ["Fix login", "Write docs"]
    urgent = harness.server.gql('{ tasks(q: "open urgent tasks, biggest first") { title } }')
    assert [t["title"] for t in urgent["data"]["tasks"]] == ["Push notifications", "Fix login"]
    people = harness.server.gql('{ people(q: "people with high priority work") { name } }')
    assert [p["name"] for p in people["data"]["people"]] == ["Ada"]


def test_filter_operators(harness: Harness) -> None:
    seed_tracker(harness)
    cases = [
        ({"estimate": {"gte": 3}}, {"Fix login", "Push notifications"}),
        ({"estimate": {"lt": 3}}, {"Write docs"}),
        ({"status": {"in": ["DONE", "IN_PROGRESS"]}}, {"Write docs", "Push notifications"}),
        ({"title": {"startsWith": "fix"}}, {"Fix login"}),
        ({"status": {"ne": "TODO"}}, {"Write docs", "Push notifications"}),
        ({"description": {"isNull": True}}, {"Fix login", "Write docs", "Push notifications"}),
        ({"or": [{"estimate": {"lte": 1}}, {"estimate": {"gt": 4}}]}, {"Write docs", "Push notifications"}),
        ({"assignee": {"eq": "u2"}}, {"Write docs"}),
    ]
    for where, expected in cases:
        harness.model.push({"steps": [{"op": "find", "model": "Task", "where": where}], "result": 0})
        body = harness.server.gql('{ tasks(q: "some tasks") { title } }')
        assert {t["title"] for t in body["data"]["tasks"]} == expected, where


def test_nested_selection_is_one_query_per_level(harness: Harness) -> None:
    seed_tracker(harness)
    statements: list[str] = []
    event.listen(harness.gateway.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    harness.model.push(
        {"steps": [{"op": "find", "model": "Task", "orderBy": [{"field": "title", "direction": "asc"}]}], "result": 0}
    )
    body = harness.server.gql(
        '{ tasks(q: "all tasks") { title project { name tasks { title } } assignee { name } tags { name } } }'
    )
    tasks = body["data"]["tasks"]
    assert [t["title"] for t in tasks] == ["Fix login", "Push notifications", "Write docs"]
    assert tasks[0]["project"]["name"] == "Website"
    assert {t["title"] for t in tasks[0]["project"]["tasks"]} == {"Fix login", "Write docs"}
    assert {g["name"] for g in tasks[1]["tags"]} == {"urgent", "home"}
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # root find + project + project.tasks + assignee + tags: one query each, whatever the row count
    assert len(selects) == 5, selects


def test_aggregates_count_sum_and_group_by(harness: Harness) -> None:
    seed_tracker(harness)
    harness.model.push(
        {
            "steps": [
                {
                    "op": "aggregate",
                    "model": "Task",
                    "where": {"priority": {"eq": "HIGH"}},
                    "aggregates": [{"fn": "count", "as": "n"}],
                }
            ],
            "result": 0,
        },
        {
            "steps": [
                {
                    "op": "aggregate",
                    "model": "Task",
                    "aggregates": [{"fn": "count", "as": "n"}, {"fn": "sum", "field": "estimate", "as": "s"}],
                }
            ],
            "result": 0,
        },
        {
            "steps": [
                {
                    "op": "aggregate",
                    "model": "Task",
                    "groupBy": ["status"],
                    "aggregates": [{"fn": "count", "as": "count"}],
                    "orderBy": [{"field": "status", "direction": "asc"}],
                }
            ],
            "result": 0,
        },
    )
    count = harness.server.gql('{ taskCount(q: "how many high priority tasks") }')
    assert count["data"]["taskCount"] == 2
    everything = harness.server.gql('{ taskCount(q: "how many tasks in all") }')
    assert everything["data"]["taskCount"] == 3
    stats = harness.server.gql('{ taskStats(q: "tasks per status") { status count } }')
    assert stats["data"]["taskStats"] == [
        {"status": "DONE", "count": 1},
        {"status": "IN_PROGRESS", "count": 1},
        {"status": "TODO", "count": 1},
    ]


def test_update_and_delete(harness: Harness) -> None:
    seed_tracker(harness)
    harness.model.push(
        {
            "steps": [
                {
                    "op": "update",
                    "model": "Task",
                    "where": {"title": {"eq": "Fix login"}},
                    "set": {"status": "DONE", "tags": ["g2"]},
                }
            ],
            "result": 0,
        },
        {"steps": [{"op": "delete", "model": "Task", "where": {"status": {"eq": "DONE"}}}], "result": 0},
    )
    updated = harness.server.gql(
        'mutation { tasks(q: "mark fix login done, tag it home") { title status tags { name } } }'
    )
    assert updated["data"]["tasks"] == [{"title": "Fix login", "status": "DONE", "tags": [{"name": "home"}]}]
    deleted = harness.server.gql('mutation { tasks(q: "delete finished tasks") { title } }')
    assert {t["title"] for t in deleted["data"]["tasks"]} == {"Fix login", "Write docs"}
    left = harness.server.gql("{ tasks { title } }")
    assert [t["title"] for t in left["data"]["tasks"]] == ["Push notifications"]


def test_field_without_q_lists_without_calling_the_model(harness: Harness) -> None:
    seed_tracker(harness)
    body = harness.server.gql("{ projects(limit: 1) { name } people { name } }")
    assert len(body["data"]["projects"]) == 1 and len(body["data"]["people"]) == 2
    assert harness.model.calls == []
    assert body["extensions"]["fields"]["people"]["source"] == "listing"


def test_unknown_field_in_plan_is_a_clear_error_and_writes_nothing(harness: Harness) -> None:
    bad = [insert_plan("Task", {"title": "x", "status": "TODO", "colour": colour}) for colour in ("red", "RED", "Red")]
    harness.model.push(*bad)
    resp = harness.server.post('mutation { tasks(q: "add a red task") { title } }')
    body = resp.json()
    assert resp.status_code == 200 and body["data"] is None
    err = body["errors"][0]
    assert err["extensions"]["code"] == "PLAN_INVALID" and "colour" in err["message"]
    assert len(err["extensions"]["attempts"]) == 3
    assert harness.server.gql("{ tasks { title } }")["data"]["tasks"] == []


def test_plan_failing_half_way_is_rolled_back(harness: Harness) -> None:
    seed_tracker(harness)
    harness.model.push(
        {
            "steps": [
                {"op": "insert", "model": "Task", "values": [{"title": "Step one", "status": "TODO"}]},
                {"op": "update", "model": "Task", "where": {"title": {"eq": "Fix login"}}, "set": {"status": "DONE"}},
                {"op": "find", "model": "Project", "where": {"name": {"eq": "Nope"}}},
                {
                    "op": "insert",
                    "model": "Task",
                    "values": [{"title": "Step four", "status": "TODO", "project": {"$step": 2, "field": "id"}}],
                },
            ],
            "result": 3,
        }
    )
    body = harness.server.gql(
        'mutation { tasks(q: "add Step one, finish Fix login, add Step four to project Nope") { title } }'
    )
    assert body["errors"][0]["extensions"]["code"] == "PLAN_FAILED"
    titles = {t["title"]: t["status"] for t in harness.server.gql("{ tasks { title status } }")["data"]["tasks"]}
    assert "Step one" not in titles and titles["Fix login"] == "TODO"


def test_other_root_fields_still_resolve_when_one_fails(harness: Harness) -> None:
    seed_tracker(harness)
    harness.model.route("broken", "not json at all", "still not json", "{")
    harness.model.route("all tags", {"steps": [{"op": "find", "model": "Tag"}], "result": 0})
    body = harness.server.gql('{ task(q: "broken") { title } tags(q: "all tags") { name } }')
    assert (
        body["data"]["task"] is None
        and body["errors"][0]["path"] == ["task"]
        and body["errors"][0]["extensions"]["code"] == "PLAN_INVALID"
    )
    assert {t["name"] for t in body["data"]["tags"]} == {"urgent", "home"}
