"""Row-dependent reads and writes, end to end over HTTP on SQLite and PostgreSQL.

A climbing club (our own domain) goes through the kind of scenario the JSON-file prototype
handled by pasting the whole database into the prompt: members created by name, phone numbers
numbered in creation order, emails computed from names, birth dates given "respectively",
sports linked, then "the phone of the member who does the most sports". The plans come from the
scripted model (the provider boundary); everything else is the real gateway and store, and
only the final state is checked. Each expression-bearing step runs as one SQL statement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from conftest import LiveServer, make_gateway
from gateway import ScriptedProvider, import_records

CLUB = (Path(__file__).resolve().parent.parent / "examples" / "climbing-club" / "schema.graphql").read_text()

CREATED_ASC = [{"field": "$created", "direction": "asc"}]
ALL = {"id": {"isNull": False}}

SCENARIO: list[tuple[str, str, dict[str, Any]]] = [
    (
        "mutation",
        'members(q: "add members Ada Byron, Alan Turing and Grace Hopper")',
        {
            "steps": [
                {
                    "op": "insert",
                    "model": "Member",
                    "values": [
                        {"firstName": "Ada", "lastName": "Byron"},
                        {"firstName": "Alan", "lastName": "Turing"},
                        {"firstName": "Grace", "lastName": "Hopper"},
                    ],
                }
            ],
            "result": 0,
        },
    ),
    (
        "mutation",
        'members(q: "set their phone numbers starting from 00000, incrementing in creation order")',
        {
            "steps": [
                {
                    "op": "update",
                    "model": "Member",
                    "where": ALL,
                    "set": {
                        "phone": {
                            "fn": "lpad",
                            "args": [{"fn": "rowNumber", "orderBy": CREATED_ASC, "start": 0}, 5, "0"],
                        }
                    },
                }
            ],
            "result": 0,
        },
    ),
    (
        "mutation",
        'members(q: "email is first and last name combined, lower case, at club.org")',
        {
            "steps": [
                {
                    "op": "update",
                    "model": "Member",
                    "where": ALL,
                    "set": {
                        "email": {
                            "fn": "concat",
                            "args": [
                                {"fn": "lower", "args": [{"field": "firstName"}]},
                                ".",
                                {"fn": "lower", "args": [{"field": "lastName"}]},
                                "@club.org",
                            ],
                        }
                    },
                }
            ],
            "result": 0,
        },
    ),
    (
        "mutation",
        'members(q: "their dates of birth are 1815-12-10, 1912-06-23 and 1906-12-09 respectively")',
        {
            "steps": [
                {
                    "op": "update",
                    "model": "Member",
                    "where": ALL,
                    "set": {
                        "birthDate": {
                            "fn": "respectively",
                            "values": ["1815-12-10", "1912-06-23", "1906-12-09"],
                            "orderBy": CREATED_ASC,
                        }
                    },
                }
            ],
            "result": 0,
        },
    ),
    (
        "mutation",
        'sports(q: "add the sports bouldering and lead climbing; Alan does both, Ada bouldering")',
        {
            "steps": [
                {"op": "find", "model": "Member", "where": {"firstName": {"eq": "Alan"}}},
                {"op": "find", "model": "Member", "where": {"firstName": {"in": ["Alan", "Ada"]}}},
                {
                    "op": "insert",
                    "model": "Sport",
                    "values": [
                        {"name": "bouldering", "members": {"$step": 1, "field": "id"}},
                        {"name": "lead climbing", "members": {"$step": 0, "field": "id"}},
                    ],
                },
            ],
            "result": 2,
        },
    ),
    (
        "mutation",
        'members(q: "Grace is advanced, the others stay as they are")',
        {
            "steps": [
                {
                    "op": "update",
                    "model": "Member",
                    "where": ALL,
                    "set": {"level": {"fn": "byKey", "key": {"field": "firstName"}, "map": {"Grace": "ADVANCED"}}},
                }
            ],
            "result": 0,
        },
    ),
]


def count_statements(gw: Any) -> list[str]:
    seen: list[str] = []

    @event.listens_for(gw.engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "_gateway_values" not in statement:  # grounding's index reads, before planning
            seen.append(" ".join(statement.split()))

    return seen


def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "club.graphql"
    path.write_text(CLUB)
    return path


def test_club_scenario_end_to_end(db_url: str, tmp_path: Path) -> None:
    model = ScriptedProvider([])
    for _op, field, plan in SCENARIO:
        model.route(field.split('"')[1], plan)
    best = {
        "steps": [
            {
                "op": "find",
                "model": "Member",
                "orderBy": [{"expr": {"fn": "count", "args": [{"field": "sports"}]}, "direction": "desc"}],
                "limit": 1,
            }
        ],
        "result": 0,
    }
    model.route("the member who does the most sports", best)
    gw = make_gateway(db_url, schema=schema_file(tmp_path), provider=model)
    statements = count_statements(gw)
    server = LiveServer(gw).start()
    try:
        for op, field, _plan in SCENARIO:
            statements.clear()
            body = server.gql(f"{op} {{ {field} {{ id }} }}")
            assert "errors" not in body, body
            data = [s for s in statements if s.split(" ")[0] in ("SELECT", "INSERT", "UPDATE", "DELETE")]
            if "phone" in field or "email" in field or "respectively" in field or "advanced" in field:
                assert len(data) == 1 and data[0].startswith("UPDATE"), data  # one statement, no row loop
        top = server.gql('{ member(q: "the member who does the most sports") { firstName phone } }')
        assert top["data"]["member"] == {"firstName": "Alan", "phone": "00001"}
        members = server.gql("{ members { firstName email phone birthDate level joinedAt sports { name } } }")
        rows = members["data"]["members"]  # a listing comes in creation order
        assert [(m["firstName"], m["email"], m["phone"], m["birthDate"], m["level"]) for m in rows] == [
            ("Ada", "ada.byron@club.org", "00000", "1815-12-10", "BEGINNER"),
            ("Alan", "alan.turing@club.org", "00001", "1912-06-23", "BEGINNER"),
            ("Grace", "grace.hopper@club.org", "00002", "1906-12-09", "ADVANCED"),
        ]
        assert all(m["joinedAt"] for m in rows)
        assert sorted(s["name"] for s in rows[1]["sports"]) == ["bouldering", "lead climbing"]
    finally:
        server.stop()


READS = [
    ("members whose email is not at club.org", {"not": {"email": {"contains": "@club.org"}}}, ["Eve"]),
    (
        "members with more than one sport",
        {"compare": {"left": {"fn": "count", "args": [{"field": "sports"}]}, "op": "gt", "right": 1}},
        ["Alan"],
    ),
    (
        "members born in the 1910s",
        {
            "and": [
                {"compare": {"left": {"fn": "year", "args": [{"field": "birthDate"}]}, "op": "gte", "right": 1910}},
                {"compare": {"left": {"fn": "year", "args": [{"field": "birthDate"}]}, "op": "lt", "right": 1920}},
            ]
        },
        ["Alan"],
    ),
    (
        "members whose name is longer than 4 letters",
        {"compare": {"left": {"fn": "length", "args": [{"field": "firstName"}]}, "op": "gt", "right": 4}},
        ["Grace"],
    ),
    (
        "members born within 30 days after 1906-12-01",
        {
            "and": [
                {"birthDate": {"gte": "1906-12-01"}},
                {"birthDate": {"lte": {"fn": "addDays", "args": ["1906-12-01", 30]}}},
            ]
        },
        ["Grace"],
    ),
]


@pytest.mark.parametrize(("request_text", "where", "expected"), READS, ids=[r[0] for r in READS])
def test_reads_over_computed_values(
    db_url: str, tmp_path: Path, request_text: str, where: dict[str, Any], expected: list[str]
) -> None:
    model = ScriptedProvider([])
    for _op, field, plan in SCENARIO[:5]:
        model.route(field.split('"')[1], plan)
    model.route(
        "add Eve",
        {
            "steps": [
                {
                    "op": "insert",
                    "model": "Member",
                    "values": [{"firstName": "Eve", "lastName": "Example", "email": "eve@elsewhere.net"}],
                }
            ],
            "result": 0,
        },
    )
    model.route(request_text, {"steps": [{"op": "find", "model": "Member", "where": where}], "result": 0})
    server = LiveServer(make_gateway(db_url, schema=schema_file(tmp_path), provider=model)).start()
    try:
        for op, field, _plan in SCENARIO[:5]:
            assert "errors" not in server.gql(f"{op} {{ {field} {{ id }} }}")
        assert "errors" not in server.gql('mutation { members(q: "add Eve Example, eve@elsewhere.net") { id } }')
        body = server.gql(f'{{ members(q: "{request_text}") {{ firstName }} }}')
        assert "errors" not in body, body
        assert sorted(m["firstName"] for m in body["data"]["members"]) == expected
    finally:
        server.stop()


BAD = [
    (
        "a String expression into an Int field",
        {
            "op": "update",
            "model": "Member",
            "where": ALL,
            "set": {"salary": {"fn": "lower", "args": [{"field": "email"}]}},
        },
        "PLAN_INVALID",
        "steps[0].set.salary",
    ),
    (
        "a substring from before the start",
        {
            "op": "update",
            "model": "Member",
            "where": ALL,
            "set": {"email": {"fn": "substring", "args": [{"field": "email"}, -3, 2]}},
        },
        "PLAN_INVALID",
        "counts from 0",
    ),
    (
        "text appended as if it were a list",
        {
            "op": "update",
            "model": "Member",
            "where": ALL,
            "set": {"email": {"fn": "append", "args": [{"field": "email"}, ".uk"]}},
        },
        "PLAN_INVALID",
        "text is changed with concat",
    ),
    (
        "an unknown function",
        {"op": "update", "model": "Member", "where": ALL, "set": {"email": {"fn": "shell", "args": ["rm"]}}},
        "PLAN_INVALID",
        "unknown function",
    ),
    (
        "a text into an enum",
        {"op": "update", "model": "Member", "where": ALL, "set": {"level": {"field": "lastName"}}},
        "PLAN_INVALID",
        "steps[0].set.level",
    ),
    (
        "a hidden field read by an expression",
        {
            "op": "update",
            "model": "Member",
            "where": ALL,
            "set": {"phone": {"fn": "toString", "args": [{"field": "salary"}]}},
        },
        "FORBIDDEN",
        "salary",
    ),
    (
        "division by zero",
        {
            "op": "update",
            "model": "Member",
            "where": ALL,
            "set": {"phone": {"fn": "toString", "args": [{"fn": "div", "args": [1, 0]}]}},
        },
        "PLAN_INVALID",
        "division by zero",
    ),
    (
        "a date that is not a day",
        {
            "op": "update",
            "model": "Member",
            "where": ALL,
            "set": {"birthDate": {"fn": "addMonths", "args": ["2026-02-30", 1]}},
        },
        "PLAN_INVALID",
        "'2026-02-30' is not a date",
    ),
    (
        "numbering outside an update",
        {
            "op": "find",
            "model": "Member",
            "where": {"compare": {"left": {"fn": "rowNumber", "orderBy": CREATED_ASC}, "op": "eq", "right": 1}},
        },
        "PLAN_INVALID",
        "rowNumber",
    ),
    (
        "more values than rows",
        {
            "op": "update",
            "model": "Member",
            "where": ALL,
            "set": {
                "birthDate": {
                    "fn": "respectively",
                    "values": ["2000-01-01", "2000-01-02", "2000-01-03", "2000-01-04"],
                    "orderBy": CREATED_ASC,
                }
            },
        },
        "PLAN_FAILED",
        "4 values were given for 3",
    ),
]


@pytest.mark.parametrize(("case", "step", "code", "needle"), BAD, ids=[b[0] for b in BAD])
def test_bad_expressions_are_coded_errors_that_change_nothing(
    db_url: str, tmp_path: Path, case: str, step: dict[str, Any], code: str, needle: str
) -> None:
    model = ScriptedProvider([])
    model.route(SCENARIO[0][1].split('"')[1], SCENARIO[0][2])
    model.route("the bad one", *([{"steps": [step], "result": 0}] * 3))
    server = LiveServer(make_gateway(db_url, schema=schema_file(tmp_path), provider=model)).start()
    try:
        assert "errors" not in server.gql(f"mutation {{ {SCENARIO[0][1]} {{ id }} }}")
        before = server.gql("{ members { firstName email phone level birthDate } }")["data"]
        op = "query" if step["op"] == "find" else "mutation"
        # the request names the fields the bad plans change: a change to a field it never names is sent back
        said = "the bad one for email, phone, salary, level, birth date: 2000-01-01 2000-01-02 2000-01-03 2000-01-04"
        body = server.gql(f'{op} {{ members(q: "{said}") {{ id }} }}')
        error = body["errors"][0]
        assert error["extensions"]["code"] == code, body
        assert needle in error["message"] + str(error["extensions"]), body
        assert server.gql("{ members { firstName email phone level birthDate } }")["data"] == before
    finally:
        server.stop()


HIDDEN_READS = [
    (
        "a compare in a filter",
        "members",
        {"op": "find", "model": "Member", "where": {"compare": {"left": {"field": "salary"}, "op": "gt", "right": 1}}},
    ),
    (
        "an ordering by an expression",
        "members",
        {"op": "find", "model": "Member", "orderBy": [{"expr": {"fn": "neg", "args": [{"field": "salary"}]}}]},
    ),
    (
        "a conditional's test",
        "members",
        {
            "op": "find",
            "model": "Member",
            "where": {
                "compare": {
                    "left": {"if": {"salary": {"gt": 1}}, "then": 1, "else": 0},
                    "op": "eq",
                    "right": 1,
                }
            },
        },
    ),
    (
        "an aggregate over a list reference",
        "sports",
        {
            "op": "find",
            "model": "Sport",
            "where": {
                "compare": {"left": {"fn": "max", "args": [{"field": "members.salary"}]}, "op": "gt", "right": 1}
            },
        },
    ),
    (
        "a filter through a list reference",
        "sports",
        {"op": "find", "model": "Sport", "where": {"members": {"salary": {"gt": 1}}}},
    ),
]


@pytest.mark.parametrize(("case", "field", "step"), HIDDEN_READS, ids=[h[0] for h in HIDDEN_READS])
def test_a_hidden_field_read_anywhere_by_an_expression_is_forbidden(
    db_url: str, tmp_path: Path, case: str, field: str, step: dict[str, Any]
) -> None:
    """Filtering or ordering by a field the caller may not see would reveal it row by row."""
    model = ScriptedProvider([])
    model.route("the hidden one", *([{"steps": [step], "result": 0}] * 3))
    gw = make_gateway(db_url, schema=schema_file(tmp_path), provider=model)
    import_records(
        gw.executor,
        {
            "Member": [
                {"id": "m1", "firstName": "Ada", "lastName": "Byron", "salary": 98765},
                {"id": "m2", "firstName": "Alan", "lastName": "Turing", "salary": 12345},
            ],
            "Sport": [{"id": "s1", "name": "bouldering", "members": ["m1"]}],
        },
    )
    server = LiveServer(gw).start()
    try:
        body = server.gql(f'{{ {field}(q: "the hidden one") {{ id }} }}')
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert "salary" in body["errors"][0]["message"]
        assert "98765" not in str(body) and "12345" not in str(body) and "m1" not in str(body)
    finally:
        server.stop()


def test_division_by_zero_in_a_row_is_a_coded_error_that_changes_nothing(db_url: str, tmp_path: Path) -> None:
    """A literal zero divisor is refused before anything runs; a row's zero stops the statement
    on both stores (SQLite alone would answer null), for a read and for a write."""
    first = {"fn": "length", "args": [{"field": "firstName"}]}
    divisor = {"fn": "sub", "args": [{"fn": "length", "args": [{"field": "lastName"}]}, 6]}
    model = ScriptedProvider([])
    for fn in ("div", "mod"):
        computed = {"fn": fn, "args": [first, divisor]}
        at_least_0 = {"compare": {"left": computed, "op": "gte", "right": 0}}
        model.route(f"{fn} is at least 0", {"steps": [{"op": "find", "model": "Member", "where": at_least_0}]})
        model.route(
            f"set the phone to {fn}",
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Member",
                        "where": ALL,
                        "set": {"phone": {"fn": "toString", "args": [computed]}},
                    }
                ]
            },
        )
        model.route(
            f"set the phone of Grace to {fn}",
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Member",
                        "where": {"firstName": {"eq": "Grace"}},
                        "set": {"phone": {"fn": "toString", "args": [computed]}},
                    }
                ]
            },
        )
    gw = make_gateway(db_url, schema=schema_file(tmp_path), provider=model)
    import_records(
        gw.executor,
        {
            "Member": [
                {"id": "m1", "firstName": "Ada", "lastName": "Turing", "phone": "1"},  # 6 - 6 = 0
                {"id": "m2", "firstName": "Grace", "lastName": "Hopper2", "phone": "2"},  # 7 - 6 = 1
            ]
        },
    )
    server = LiveServer(gw).start()
    try:
        for fn in ("div", "mod"):
            before = server.gql("{ members { firstName phone } }")["data"]
            for request in (f"{fn} is at least 0", f"set the phone to {fn}"):
                op = "query" if "least" in request else "mutation"
                body = server.gql(f'{op} {{ members(q: "{request}") {{ firstName }} }}')
                assert [e["extensions"]["code"] for e in body["errors"]] == ["PLAN_FAILED"], body
                assert "by zero" in body["errors"][0]["message"], body
            assert server.gql("{ members { firstName phone } }")["data"] == before
            fine = server.gql(f'mutation {{ members(q: "set the phone of Grace to {fn}") {{ phone }} }}')
            assert fine["data"]["members"][0]["phone"] == ("5" if fn == "div" else "0"), fine  # 5 / 1, 5 mod 1
    finally:
        server.stop()


SHELF = """
type Book { id: ID! title: String! labels: [String!] }
type Query { books(q: String): [Book!]! }
type Mutation { books(q: String!): [Book!]! @allowBulk }
"""


def test_a_value_is_added_to_and_removed_from_a_list_field_in_one_statement(db_url: str, tmp_path: Path) -> None:
    """ "add the label x", "remove the label y": the model never sees the lists, so the change is
    an expression of the row's own list, the same on both stores (added once, every copy removed)."""
    schema = tmp_path / "shelf.graphql"
    schema.write_text(SHELF)
    labels = {"field": "labels"}
    changes = {
        "add the label classic to every book": {"fn": "append", "args": [labels, "classic"]},
        "add the label old to every book": {"fn": "append", "args": [labels, "old"]},
        "remove the label old from every book": {"fn": "remove", "args": [labels, "old"]},
    }
    model = ScriptedProvider([])
    for request, value in changes.items():
        model.route(request, {"steps": [{"op": "update", "model": "Book", "where": ALL, "set": {"labels": value}}]})
    model.route(
        "add the label old to the books",
        *[
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Book",
                        "where": ALL,
                        "set": {"labels": {"fn": "append", "args": [labels, 7]}},
                    }
                ]
            }
        ]
        * 3,
    )
    gw = make_gateway(db_url, schema=schema, provider=model)
    import_records(
        gw.executor,
        {
            "Book": [
                {"id": "b1", "title": "Dune", "labels": ["old", "desert", "old"]},
                {"id": "b2", "title": "Kindred", "labels": []},
                {"id": "b3", "title": "Emma"},  # no list at all
            ]
        },
    )
    statements: list[str] = []
    event.listen(gw.executor.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    server = LiveServer(gw).start()
    try:

        def shelf() -> dict[str, Any]:
            return {b["title"]: b["labels"] for b in server.gql("{ books { title labels } }")["data"]["books"]}

        wrong = server.gql('mutation { books(q: "add the label old to the books") { id } }')
        assert wrong["errors"][0]["extensions"]["code"] == "PLAN_INVALID", wrong  # 7 is no String
        assert shelf() == {"Dune": ["old", "desert", "old"], "Kindred": [], "Emma": None}
        for request in changes:
            before = len(statements)
            assert "errors" not in server.gql(f'mutation {{ books(q: "{request}") {{ id }} }}')
            assert sum(s.lstrip().upper().startswith("UPDATE") for s in statements[before:]) == 1
        assert shelf() == {"Dune": ["desert", "classic"], "Kindred": ["classic"], "Emma": ["classic"]}
    finally:
        server.stop()
