"""Plan cache templating (``gateway/cache/templates.py``), unit by unit: which literals become
slots, of which type, and what binds."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from gateway.cache.entry import CacheEntry  # internal: the cache's internals are under test
from gateway.cache.templates import (  # internal: the cache's internals are under test
    bind,
    make_template,
    normalise,
    value_positions,
)


def find(where: dict[str, Any], params: dict[str, Any], **step: Any) -> dict[str, Any]:
    return {"steps": [{"op": "find", "model": "Task", "where": where, **step}], "result": 0, "params": params}


def template(text: str, plan: dict[str, Any]) -> CacheEntry:
    made = make_template(text, plan)
    assert made is not None, "expected a template"
    shown, slots = made
    return CacheEntry(
        id="t", kind="template", field="query.tasks", scope="s", text=shown, request=text, plan=plan, slots=slots
    )


def test_value_positions_skip_limits_names_expressions_and_references() -> None:
    plan = {
        "steps": [
            {
                "op": "find",
                "model": "Task",
                "where": {"estimate": {"eq": 1}, "dueDate": {"isNull": True}},
                "orderBy": [{"field": "title"}],
                "limit": 1,
                "offset": 2,
            },
            {
                "op": "update",
                "model": "Task",
                "where": {"id": {"in": {"$step": 0, "field": "id"}}},
                "set": {"title": {"fn": "concat", "args": ["x", {"field": "title"}]}, "status": "DONE"},
            },
            {"op": "call", "connector": "c", "args": {"since": "2026-01-01", "tags": ["a", "b"]}},
        ]
    }
    assert [(p, v) for p, v in value_positions(plan)] == [
        (["steps", 0, "where", "estimate", "eq"], 1),
        (["steps", 1, "set", "status"], "DONE"),
        (["steps", 2, "args", "since"], "2026-01-01"),
        (["steps", 2, "args", "tags", 0], "a"),
        (["steps", 2, "args", "tags", 1], "b"),
    ]


def test_a_template_binds_its_slot_and_keeps_the_rest() -> None:
    plan = find({"estimate": {"eq": 1}}, {"estimate": 1}, limit=1)
    t = template("delete the task with estimate 1", plan)
    assert t.text == "delete the task with estimate {estimate}"
    bound = bind(t, "delete the task with estimate 30")
    assert bound == find({"estimate": {"eq": 30}}, {"estimate": 30}, limit=1)
    assert plan == find({"estimate": {"eq": 1}}, {"estimate": 1}, limit=1)  # the template's own plan is untouched


@pytest.mark.parametrize(
    ("text", "plan"),
    [
        # a literal only in limit/offset
        ("the first 3 tasks", find({}, {"n": 3}, limit=3)),
        ("skip 3 tasks", find({}, {"n": 3}, offset=3)),
        # at two positions of the plan
        (
            "tasks about urgent",
            find({"or": [{"title": {"eq": "urgent"}}, {"description": {"eq": "urgent"}}]}, {"w": "urgent"}),
        ),
        # twice in the request
        ("urgent tasks tagged urgent", find({"title": {"eq": "urgent"}}, {"w": "urgent"})),
        # not in the request as written (case differs)
        ("tasks tagged Urgent", find({"title": {"eq": "urgent"}}, {"w": "urgent"})),
        # inside an expression or a step reference
        (
            "tasks named lower Ada",
            {
                "steps": [
                    {"op": "find", "model": "Task", "where": {"title": {"eq": {"fn": "lower", "args": ["Ada"]}}}}
                ],
                "result": 0,
                "params": {"n": "Ada"},
            },
        ),
        (
            "tasks where estimate beats 5",
            find({"compare": {"left": {"field": "estimate"}, "op": "gt", "right": 5}}, {"n": 5}),
        ),
        (
            "set role to lead",
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Person",
                        "where": {"id": {"isNull": False}},
                        "set": {"role": {"if": {"name": {"eq": "x"}}, "then": "lead", "else": "dev"}},
                    }
                ],
                "result": 0,
                "params": {"r": "lead"},
            },
        ),
        # a value that is not a scalar, or no params at all
        ("tasks tagged a", find({"title": {"in": ["a"]}}, {"t": ["a"]})),
        ("tasks", find({}, {})),
    ],
)
def test_no_template_when_a_rule_fails(text: str, plan: dict[str, Any]) -> None:
    assert make_template(text, plan) is None


@pytest.mark.parametrize(
    ("value", "taught", "good", "bad"),
    [
        (
            3,
            "at least 3 points",
            ["at least 5 points", "at least -2 points"],
            [
                "at least 3.5 points",
                "at least three points",
                "at least 1e9 points",
                "at least 99999999999999999999 points",
            ],
        ),
        (2.5, "at least 2.5 points", ["at least 4.0 points", "at least 4 points"], ["at least many points"]),
        (
            "2026-12-01",
            "due before 2026-12-01",
            ["due before 2027-01-31"],
            ["due before yesterday", "due before 2026-12", "due before 2026-12-01T10:00"],
        ),
        ("urgent", "tagged urgent", ["tagged home", "tagged 42"], ["tagged home office", "tagged"]),
        ("New York", "in New York", ["in Los Angeles"], ["in Paris", "in Rio de Janeiro"]),
    ],
)
def test_a_slot_takes_only_its_type(value: Any, taught: str, good: list[str], bad: list[str]) -> None:
    t = template(taught, find({"x": {"eq": value}}, {"v": value}))
    for text in good:
        assert bind(t, text) is not None, text
    for text in bad:
        assert bind(t, text) is None, text


def test_a_quoted_slot_takes_any_text_between_the_same_quotes() -> None:
    t = template("the task called 'Fix login'", find({"title": {"eq": "Fix login"}}, {"t": "Fix login"}))
    assert t.slots["t"].type == "quoted"
    assert bind(t, "the task called 'Push the new notifications'")["params"] == {"t": "Push the new notifications"}
    assert bind(t, "the task called 'a' or title 'b'") is None  # a slot never spans its own quotes
    assert bind(t, "the task called Fix login") is None


def test_fixed_text_keeps_case_and_braces() -> None:
    t = template(
        "tasks {tagged} urgent in Alpha", find({"title": {"eq": "urgent"}, "p": {"eq": "Alpha"}}, {"w": "urgent"})
    )
    assert t.text == "tasks {{tagged}} {w} in Alpha"
    assert bind(t, "tasks {tagged} home in Alpha") is not None
    assert bind(t, "tasks {tagged} home in ALPHA") is None
    assert bind(t, "Tasks {tagged} home in Alpha") is None


def test_rebinding_its_own_request_gives_back_the_plan_exactly() -> None:
    plans = [
        (
            "tasks tagged urgent bigger than 4",
            find({"and": [{"tags": {"name": {"eq": "urgent"}}}, {"e": {"gt": 4}}]}, {"tag": "urgent"}),
        ),
        (
            "signups since 2026-11-01 in FR",
            {
                "steps": [{"op": "call", "connector": "s", "args": {"since": "2026-11-01", "country": "FR"}}],
                "result": 0,
                "params": {"since": "2026-11-01", "c": "FR"},
            },
        ),
        (
            "add 'Fix login' with estimate 3",
            {
                "steps": [
                    {
                        "op": "insert",
                        "model": "Task",
                        "values": [{"title": "Fix login", "estimate": 3, "status": "TODO"}],
                    }
                ],
                "result": 0,
                "params": {"title": "Fix login", "estimate": 3},
            },
        ),
    ]
    for text, plan in plans:
        t = template(text, copy.deepcopy(plan))
        assert bind(t, normalise(text)) == plan


def test_normalise_collapses_space_and_trailing_punctuation_but_keeps_case() -> None:
    assert normalise("  Tasks   tagged URGENT?! ") == "Tasks tagged URGENT"


def test_a_boolean_slot_takes_true_or_false() -> None:
    t = template("projects archived true", find({"archived": {"eq": True}}, {"a": True}))
    assert t.slots["a"].type == "bool"
    assert bind(t, "projects archived false") == find({"archived": {"eq": False}}, {"a": False})
    assert bind(t, "projects archived maybe") is None


def test_a_datetime_slot_takes_only_a_datetime() -> None:
    t = template("due before 2026-12-01T10:00", find({"due": {"lt": "2026-12-01T10:00"}}, {"d": "2026-12-01T10:00"}))
    assert t.slots["d"].type == "datetime"
    assert bind(t, "due before 2027-01-02T08:30:00Z")["params"] == {"d": "2027-01-02T08:30:00Z"}
    assert bind(t, "due before 2027-01-02") is None
    assert bind(t, "due before tomorrow") is None


def test_a_param_name_that_is_no_identifier_gets_a_numbered_slot() -> None:
    t = template("tasks tagged urgent", find({"tag": {"eq": "urgent"}}, {"the tag!": "urgent"}))
    assert t.text == "tasks tagged {slot0}" and t.slots["slot0"].param == "the tag!"
    assert bind(t, "tasks tagged home")["params"] == {"the tag!": "home"}


@pytest.mark.parametrize(
    ("text", "plan"),
    [
        # two literals over the same words
        ("in New York", find({"city": {"eq": "New York"}, "part": {"eq": "York"}}, {"c": "New York", "p": "York"})),
        # a number that is no number
        ("score nan", find({"score": {"eq": float("nan")}}, {"s": float("nan")})),
        # a literal with spaces around it
        ("tagged  urgent ", find({"tag": {"eq": " urgent"}}, {"t": " urgent"})),
    ],
)
def test_no_template_for_overlapping_non_finite_or_padded_literals(text: str, plan: dict[str, Any]) -> None:
    assert make_template(text, plan) is None


def test_a_damaged_template_binds_nothing_instead_of_failing() -> None:
    t = template("tasks tagged urgent", find({"tag": {"eq": "urgent"}}, {"t": "urgent"}))
    for text in ("tasks tagged {other}", "tasks tagged {t!r}", "tasks tagged {t:>5}"):
        damaged = dataclasses.replace(t, text=text)
        assert bind(damaged, "tasks tagged home") is None
