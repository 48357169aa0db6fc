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


def test_value_positions_skip_limits_names_and_references_but_enter_expressions() -> None:
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
        (["steps", 1, "set", "title", "args", 0], "x"),
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
        # inside a step reference: a step index and a field name are not values
        (
            "tasks of step 0",
            {
                "steps": [
                    {"op": "find", "model": "Task", "where": {"title": {"eq": "x"}}},
                    {"op": "find", "model": "Task", "where": {"id": {"in": {"$step": 0, "field": "id"}}}},
                ],
                "result": 1,
                "params": {"n": 0},
            },
        ),
        # a byKey key is a name of the map, not a value position
        (
            "Ada leads",
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Person",
                        "where": {"id": {"isNull": False}},
                        "set": {"role": {"fn": "byKey", "key": {"field": "name"}, "map": {"Ada": "lead"}}},
                    }
                ],
                "result": 0,
                "params": {"who": "Ada"},
            },
        ),
        # once from the request inside an expression, once as the plan's own constant
        (
            "titles ending in x",
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Task",
                        "where": {"title": {"contains": "x"}},
                        "set": {"title": {"fn": "concat", "args": [{"field": "title"}, "x"]}},
                    }
                ],
                "result": 0,
                "params": {"s": "x"},
            },
        ),
        # a value that is not a scalar, or no params at all
        ("tasks tagged a", find({"title": {"in": ["a"]}}, {"t": ["a"]})),
        ("tasks", find({}, {})),
    ],
)
def test_no_template_when_a_rule_fails(text: str, plan: dict[str, Any]) -> None:
    assert make_template(text, plan) is None


EXPRESSION_PLANS = [
    # (taught request, its plan, a new request, the slot values it binds)
    (
        "tasks named lower Ada",
        {
            "steps": [{"op": "find", "model": "Task", "where": {"title": {"eq": {"fn": "lower", "args": ["Ada"]}}}}],
            "result": 0,
            "params": {"n": "Ada"},
        },
        "tasks named lower Bob",
        {"n": "Bob"},
    ),
    (
        "tasks where estimate beats 5",
        find({"compare": {"left": {"field": "estimate"}, "op": "gt", "right": 5}}, {"n": 5}),
        "tasks where estimate beats 12",
        {"n": 12},
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
        "set role to owner",
        {"r": "owner"},
    ),
    (
        "emails at club.org",
        {
            "steps": [
                {
                    "op": "update",
                    "model": "Person",
                    "where": {"id": {"isNull": False}},
                    "set": {"email": {"fn": "concat", "args": [{"field": "name"}, "@", "club.org"]}},
                }
            ],
            "result": 0,
            "params": {"domain": "club.org"},
        },
        "emails at climb.net",
        {"domain": "climb.net"},
    ),
    (
        "due within 7 days of 2026-03-01",
        find({"dueDate": {"lte": {"fn": "addDays", "args": ["2026-03-01", 7]}}}, {"n": 7, "d": "2026-03-01"}),
        "due within 30 days of 2027-01-15",
        {"n": 30, "d": "2027-01-15"},
    ),
    (
        "Ada is lead and Linus is dev",
        {
            "steps": [
                {
                    "op": "update",
                    "model": "Person",
                    "where": {"name": {"in": ["Ada", "Linus"]}},
                    "set": {"role": {"fn": "byKey", "key": {"field": "name"}, "map": {"Ada": "lead", "Linus": "dev"}}},
                }
            ],
            "result": 0,
            "params": {"ada": "lead", "linus": "dev"},
        },
        "Ada is owner and Linus is guest",
        {"ada": "owner", "linus": "guest"},
    ),
]


@pytest.mark.parametrize(("taught", "plan", "asked", "values"), EXPRESSION_PLANS, ids=[e[0] for e in EXPRESSION_PLANS])
def test_a_literal_inside_an_expression_is_a_slot(
    taught: str, plan: dict[str, Any], asked: str, values: dict[str, Any]
) -> None:
    t = template(taught, copy.deepcopy(plan))
    assert sorted(t.slots) == sorted(values)
    bound = bind(t, asked)
    assert bound is not None and bound["params"] == values
    for name, slot in t.slots.items():  # the new value sits exactly where the taught one was
        node: Any = bound
        for key in slot.path:
            node = node[key]
        assert node == values[name]
    unbound, rebound = copy.deepcopy(bound), copy.deepcopy(plan)
    for slot in t.slots.values():  # and nothing else of the plan changed
        for doc in (unbound, rebound):
            node = doc
            for key in slot.path[:-1]:
                node = node[key]
            node[slot.path[-1]] = None
        unbound["params"][slot.param] = rebound["params"][slot.param] = None
    assert unbound == rebound


def test_a_literal_not_from_the_request_is_never_a_slot() -> None:
    plan = {
        "steps": [
            {
                "op": "update",
                "model": "Person",
                "where": {"compare": {"left": {"fn": "length", "args": [{"field": "name"}]}, "op": "gt", "right": 5}},
                "set": {"email": {"fn": "concat", "args": [{"fn": "lower", "args": [{"field": "name"}]}, "@club.org"]}},
            }
        ],
        "result": 0,
        "params": {"n": 5},
    }
    t = template("emails for names longer than 5 letters, at the club", copy.deepcopy(plan))
    assert [s.path for s in t.slots.values()] == [["steps", 0, "where", "compare", "right"]]
    bound = bind(t, "emails for names longer than 8 letters, at the club")
    assert bound is not None
    assert bound["steps"][0]["set"] == plan["steps"][0]["set"]  # "@club.org" was never the request's
    assert bound["steps"][0]["where"]["compare"]["right"] == 8
    # a value the planner lists that the request does not hold makes no template at all
    listed = {**copy.deepcopy(plan), "params": {"n": 5, "domain": "@club.org"}}
    assert make_template("emails for names longer than 5 letters, at the club", listed) is None
    # nor does one whose only position cannot be bound back (a byKey key written with a dot)
    dotted = {
        "steps": [
            {
                "op": "update",
                "model": "Person",
                "where": {"id": {"isNull": False}},
                "set": {"role": {"fn": "byKey", "key": {"field": "name"}, "map": {"A.B": "lead"}}},
            }
        ],
        "result": 0,
        "params": {"r": "lead"},
    }
    assert make_template("A.B is lead", dotted) is None


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
