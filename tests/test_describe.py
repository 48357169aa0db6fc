"""The plain-English reading of a plan: generated from the plan, one line, every step."""

from __future__ import annotations

import pytest

from gateway.describe import describe  # internal: the plan reading is under test
from gateway.plan import Plan  # internal: the plan language itself is under test


@pytest.mark.parametrize(
    ("plan", "reading"),
    [
        (
            {
                "steps": [
                    {
                        "op": "aggregate",
                        "model": "Task",
                        "where": {"status": {"eq": "DONE"}},
                        "aggregates": [{"fn": "count", "as": "count"}],
                    }
                ]
            },
            "counted Tasks where status is DONE",
        ),
        (
            {
                "steps": [
                    {
                        "op": "aggregate",
                        "model": "Task",
                        "groupBy": ["status"],
                        "aggregates": [
                            {"fn": "count", "as": "count"},
                            {"fn": "sum", "field": "estimate", "as": "total"},
                        ],
                    }
                ]
            },
            "counted Tasks and summed estimate of Tasks by status",
        ),
        (
            {
                "steps": [
                    {
                        "op": "find",
                        "model": "Task",
                        "where": {
                            "tags": {"name": {"eq": "urgent"}},
                            "or": [{"estimate": {"gt": 3}}, {"dueDate": {"isNull": True}}],
                        },
                        "orderBy": [{"field": "title", "direction": "desc"}],
                        "limit": 5,
                        "offset": 10,
                    }
                ]
            },
            (
                "found Tasks where tags.name is urgent and (estimate is more than 3 or dueDate is empty), "
                "ordered by title descending, skipping 10, at most 5"
            ),
        ),
        (
            {
                "steps": [
                    {"op": "find", "model": "Project", "where": {"name": {"eq": "Website"}}, "limit": 1},
                    {
                        "op": "insert",
                        "model": "Task",
                        "values": [{"title": "Fix login", "status": "TODO", "project": {"$step": 0, "field": "id"}}],
                    },
                ],
                "result": 1,
            },
            (
                'found Projects where name is Website, at most 1; then added a Task (title "Fix login", status TODO, '
                "project the id from step 1)"
            ),
        ),
        (
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Task",
                        "where": {"status": {"in": ["TODO", "IN_PROGRESS"]}},
                        "set": {"status": "DONE"},
                    }
                ]
            },
            "updated Tasks where status is one of TODO, IN_PROGRESS: set status to DONE",
        ),
        (
            {"steps": [{"op": "delete", "model": "Task", "where": {"not": {"status": {"ne": "DONE"}}}}]},
            "deleted Tasks where not (status is not DONE)",
        ),
        (
            {
                "steps": [
                    {"op": "call", "connector": "analytics.signups", "args": {"since": "2026-11-01"}},
                    {"op": "filter", "step": 0, "where": {"country": {"eq": "FR"}}, "limit": 3},
                ],
                "result": 0,
            },
            (
                "called analytics.signups with since = 2026-11-01; then filtered the records of step 1 where country is FR, "
                "at most 3; answers with step 1"
            ),
        ),
        (
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Person",
                        "where": {"compare": {"left": {"field": "phone"}, "op": "ne", "right": {"field": "email"}}},
                        "set": {
                            "phone": {
                                "fn": "concat",
                                "args": ["00000", {"fn": "rowNumber", "orderBy": [{"field": "$created"}]}],
                            },
                            "role": {"if": {"name": {"startsWith": "A"}}, "then": "lead", "else": "dev"},
                        },
                    }
                ]
            },
            (
                "updated Persons where its phone is not its email: set phone to concat(00000, its position by creation order), "
                "role to (if name starts with A then lead else dev)"
            ),
        ),
        ({"steps": [], "refuse": "no field stores a teacher's mood"}, "refused: no field stores a teacher's mood"),
        # nodes this version does not know are named, not dropped
        (
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Teacher",
                        "where": {"email": {"isNull": True}},
                        "set": {"email": {"fn": "lower", "args": [{"field": "name"}]}},
                    },
                    {"op": "merge", "model": "Teacher"},
                ]
            },
            "updated Teachers where email is empty: set email to lower(its name); then merge Teachers",
        ),
    ],
)
def test_a_plan_reads_as_one_plain_line(plan: dict, reading: str) -> None:
    assert describe(plan) == reading


def test_a_plan_object_reads_like_its_json() -> None:
    data = {"steps": [{"op": "find", "model": "Tag"}], "result": 0, "params": {}}
    assert describe(Plan.model_validate(data)) == describe(data) == "found Tags"


def find(*order: dict, **step: object) -> dict:
    return {"steps": [{"op": "find", "model": "Member", "orderBy": list(order), **step}]}


@pytest.mark.parametrize(
    ("plan", "reading"),
    [
        (
            find({"expr": {"fn": "count", "args": [{"field": "tags"}]}, "direction": "desc"}, limit=1),
            "found Members, ordered by the count of tags, highest first, at most 1",
        ),
        (
            find({"expr": {"fn": "avg", "args": [{"field": "books.pages"}]}}),
            "found Members, ordered by the average of books.pages, lowest first",
        ),
        (find({"field": "$created", "direction": "desc"}), "found Members, newest first"),
        (find({"field": "$created"}), "found Members, oldest first"),
        (find({"expr": {"field": "$created"}, "direction": "desc"}), "found Members, newest first"),
        (find({"expr": {"field": "lastName"}, "direction": "desc"}), "found Members, ordered by lastName descending"),
        (
            find(
                {"expr": {"fn": "length", "args": [{"field": "firstName"}]}, "direction": "desc"},
                {"field": "$created", "direction": "asc"},
            ),
            "found Members, ordered by length(its firstName), highest first, then oldest first",
        ),
        (
            {
                "steps": [
                    {
                        "op": "aggregate",
                        "model": "Member",
                        "groupBy": ["level"],
                        "aggregates": [
                            {"fn": "sum", "expr": {"fn": "mul", "args": [{"field": "salary"}, 2]}, "as": "x"}
                        ],
                        "orderBy": [{"field": "x", "direction": "desc"}],
                    }
                ]
            },
            "summed mul(its salary, 2) of Members by level, ordered by x descending",
        ),
        (
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Member",
                        "where": {
                            "compare": {"left": {"fn": "count", "args": [{"field": "sports"}]}, "op": "gt", "right": 1}
                        },
                        "set": {
                            "level": {"fn": "byKey", "key": {"field": "firstName"}, "map": {"Grace": "ADVANCED"}},
                            "phone": {"fn": "rowNumber", "orderBy": [{"field": "$created", "direction": "desc"}]},
                        },
                    }
                ]
            },
            (
                "updated Members where the count of sports is more than 1: set level to ADVANCED where its firstName "
                "is Grace, phone to its position by reverse creation order"
            ),
        ),
        (
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Book",
                        "where": {"title": {"eq": "Dune"}},
                        "set": {
                            "labels": {"fn": "append", "args": [{"field": "labels"}, "classic"]},
                            "tags": {"fn": "remove", "args": [{"field": "tags"}, "old"]},
                        },
                    }
                ]
            },
            "updated Books where title is Dune: set labels to its labels with classic, tags to its tags without old",
        ),
    ],
)
def test_orderings_by_expressions_and_creation_read_naturally(plan: dict, reading: str) -> None:
    assert describe(plan) == reading
    assert "None" not in describe(plan)
