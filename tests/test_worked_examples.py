"""What the gateway does around the prompt's worked examples and the model's answer:
a plan that copies an example's made-up values is sent back, and what the selection implies is
derived instead of asked. The model is scripted; everything else is real, over HTTP."""

from __future__ import annotations

from typing import Any

from conftest import Harness, seed_tracker
from gateway import Gateway, Settings
from gateway.prompt import example_plans, example_texts  # internal: the prompt stage's examples


def find(model: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"op": "find", "model": model}
    if where:
        step["where"] = where
    return {"steps": [step], "result": 0}


def test_the_examples_quote_made_up_values_that_the_gateway_knows(tmp_path: Any) -> None:
    gw = Gateway(Settings(schema="schema.graphql", db=f"sqlite:///{tmp_path / 'e.db'}", plan_cache=False))
    try:
        root = gw.catalog.root("query", "tasks")
        quoted = example_texts(gw.catalog, root)
        requests = " ".join(e.request for e in example_plans(gw.catalog, root))
        assert quoted and all(t.lower() in requests.lower() for t in quoted)
        # the schema's own words (model, field and enum names) are never "made up"
        assert not quoted & {"Task", "title", "DONE", "TODO", "status"}
    finally:
        gw.close()


def test_a_read_that_copies_an_example_value_goes_back_for_repair(harness: Harness) -> None:
    seed_tracker(harness)
    copied = find("Task", {"project": {"name": {"ne": "Sample B"}}, "priority": {"eq": "LOW"}})
    right = find("Task", {"status": {"ne": "DONE"}, "priority": {"eq": "LOW"}})
    harness.model.push(copied, right)
    body = harness.server.gql('{ tasks(q: "low priority tasks that are not done") { title } }')
    assert body.get("errors") is None, body
    assert body["data"]["tasks"] == []  # the only low-priority task is done
    second = harness.model.calls[1]["messages"][-1]["content"]
    assert "Sample B" in second and "worked example" in second  # the repair says what was wrong


def test_a_request_that_says_the_example_word_may_use_it(harness: Harness) -> None:
    seed_tracker(harness)
    harness.model.push(find("Task", {"title": {"contains": "sample"}}))
    body = harness.server.gql('{ tasks(q: "tasks whose title mentions sample") { title } }')
    assert body.get("errors") is None, body
    assert len(harness.model.calls) == 1


def test_an_ungrouped_count_is_grouped_by_the_fields_the_client_selects(harness: Harness) -> None:
    seed_tracker(harness)
    count = {
        "steps": [{"op": "aggregate", "model": "Task", "aggregates": [{"fn": "count", "field": None, "as": "count"}]}],
        "result": 0,
    }
    harness.model.push(count, count)
    body = harness.server.gql('{ taskStats(q: "count of tasks per status") { status count } }')
    assert body.get("errors") is None, body
    rows = {r["status"]: r["count"] for r in body["data"]["taskStats"]}
    assert rows == {"TODO": 1, "DONE": 1, "IN_PROGRESS": 1}
    # without a grouping field in the selection the count stays one total
    body = harness.server.gql('{ taskStats(q: "how many tasks are there") { count } }')
    assert body["data"]["taskStats"] == [{"count": 3}]


def test_a_field_name_written_as_text_goes_back_for_repair(harness: Harness) -> None:
    seed_tracker(harness)
    where = {"title": {"eq": "Fix login"}}
    as_text = {"fn": "concat", "args": ["title", " (urgent)"]}
    as_field = {"fn": "concat", "args": [{"field": "title"}, " (urgent)"]}
    update = {"op": "update", "model": "Task", "where": where}
    harness.model.push({"steps": [{**update, "set": {"title": as_text}}], "result": 0})
    harness.model.push({"steps": [{**update, "set": {"title": as_field}}], "result": 0})
    body = harness.server.gql("mutation { tasks(q: \"append ' (urgent)' to the title of Fix login\") { title } }")
    assert body.get("errors") is None, body
    assert body["data"]["tasks"] == [{"title": "Fix login (urgent)"}]
    repair = harness.model.calls[1]["messages"][-1]["content"]
    assert '{\\"field\\": \\"title\\"}' in repair or '{"field": "title"}' in repair


def test_the_fill_character_of_a_padded_number_is_not_invented_text(harness: Harness) -> None:
    seed_tracker(harness)
    number = {"fn": "rowNumber", "orderBy": [{"field": "$created", "direction": "asc"}], "start": 7}
    code = {"fn": "concat", "args": ["T", {"fn": "lpad", "args": [number, 3, "0"]}]}
    harness.model.push(
        {
            "steps": [{"op": "update", "model": "Task", "where": {"priority": {"eq": "HIGH"}}, "set": {"title": code}}],
            "result": 0,
        }
    )
    body = harness.server.gql(
        'mutation { tasks(q: "rename the high priority tasks to T and a three digit number from 7 up") { title } }'
    )
    assert body.get("errors") is None, body
    assert sorted(t["title"] for t in body["data"]["tasks"]) == ["T007", "T008"]


def test_a_reference_given_by_what_the_record_says_is_looked_up(harness: Harness) -> None:
    seed_tracker(harness)
    row = {
        "title": "Ship it",
        "status": "TODO",
        "project": {"name": {"eq": "Mobile app"}},
        "assignee": {"$step": 0, "field": "id"},  # an ordinary step reference keeps pointing at its step
        "tags": {"name": {"in": ["urgent", "home"]}},
    }
    harness.model.push(
        {
            "steps": [
                {"op": "find", "model": "Person", "where": {"name": {"eq": "Linus"}}},
                {"op": "insert", "model": "Task", "values": [row]},
            ],
            "result": 1,
        }
    )
    body = harness.server.gql(
        'mutation { tasks(q: "add Ship it to Mobile app for Linus, tagged urgent and home") '
        "{ title project { name } assignee { name } tags { name } } }"
    )
    assert body.get("errors") is None, body
    (task,) = body["data"]["tasks"]
    assert task["project"] == {"name": "Mobile app"} and task["assignee"] == {"name": "Linus"}
    assert sorted(t["name"] for t in task["tags"]) == ["home", "urgent"]
    steps = body["extensions"]["fields"]["tasks"]["plan"]["steps"]
    assert [s["op"] for s in steps] == ["find", "find", "find", "insert"]  # the lookups became steps


def test_a_reference_to_a_record_that_is_not_there_writes_nothing(harness: Harness) -> None:
    seed_tracker(harness)
    before = harness.server.gql("{ tasks { id } }")["data"]["tasks"]
    row = {"title": "Ship it", "status": "TODO", "project": {"name": {"eq": "Mobile"}}}
    harness.model.push({"steps": [{"op": "insert", "model": "Task", "values": [row]}], "result": 0})
    body = harness.server.gql('mutation { tasks(q: "add Ship it to the Mobile project") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "PLAN_FAILED", body
    assert harness.server.gql("{ tasks { id } }")["data"]["tasks"] == before


def test_a_list_reference_given_by_what_its_records_say_links_them_all(tmp_path: Any) -> None:
    from conftest import LiveServer, make_gateway
    from gateway import ScriptedProvider

    club = "examples/climbing-club/schema.graphql"
    model = ScriptedProvider([])
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 'c.db'}", schema=club, provider=model)).start()
    try:
        insert = {"op": "insert", "model": "Sport", "values": [{"name": "bouldering"}, {"name": "lead climbing"}]}
        add = {"op": "insert", "model": "Member", "values": [{"firstName": "Alan", "lastName": "Turing"}]}
        link = {"op": "update", "model": "Member", "where": {"firstName": {"eq": "Alan"}}}
        link["set"] = {"sports": {"name": {"in": ["bouldering", "lead climbing"]}}}
        model.push({"steps": [insert], "result": 0}, {"steps": [add], "result": 0}, {"steps": [link], "result": 0})
        assert "errors" not in server.gql(
            'mutation { sports(q: "add the sports bouldering and lead climbing") { id } }'
        )
        assert "errors" not in server.gql('mutation { members(q: "add Alan Turing") { id } }')
        body = server.gql('mutation { members(q: "Alan does bouldering and lead climbing") { sports { name } } }')
        assert body.get("errors") is None, body
        assert sorted(s["name"] for s in body["data"]["members"][0]["sports"]) == ["bouldering", "lead climbing"]
    finally:
        server.stop()


def test_the_size_of_a_list_reference_is_the_number_of_its_records(harness: Harness) -> None:
    seed_tracker(harness)
    from gateway import import_records

    import_records(harness.gateway.executor, {"Project": [{"id": "p3", "name": "Empty"}]})
    size = {"fn": "size", "args": [{"field": "tasks"}]}
    harness.model.push(find("Project", {"compare": {"left": size, "op": "eq", "right": 0}}))
    body = harness.server.gql('{ projects(q: "projects without any tasks") { name } }')
    assert body.get("errors") is None, body
    assert body["data"]["projects"] == [{"name": "Empty"}]
