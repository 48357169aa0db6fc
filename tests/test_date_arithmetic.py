"""Date arithmetic (addDays, addMonths, addYears, year/month/day) gives identical answers on
SQLite and PostgreSQL, and the answers of a plain-Python oracle.

Months follow PostgreSQL's rule: a day past the end of the target month is clamped to its last
day (2026-01-31 plus one month is 2026-02-28), for negative counts too, and years are twelve
months. A date is text starting ``YYYY-MM-DD`` naming a real day of the years 1 to 9999;
anything else (a literal in the plan, a stored value, a result past 9999) is a coded error that
changes nothing, on both stores.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import LiveServer, make_gateway
from gateway import ScriptedProvider, import_records
from gateway.plan import parse_plan  # internal: plans are built here as a model would answer them

SDL = """
type Event {
  id: ID!
  day: String
  n: Int
  days: String
  months: String
  years: String
  year: Int
  month: Int
  dayOfMonth: Int
}

type Query {
  events(q: String): [Event!]!
}

type Mutation {
  events(q: String): [Event!]! @allowBulk
}
"""
_ids = itertools.count()


# -- the oracle ----------------------------------------------------------------------------
def add_months(day: dt.date, n: int) -> dt.date:
    """PostgreSQL's ``date + n months``: the same day of the target month, or its last day."""
    year, month = divmod(day.year * 12 + day.month - 1 + n, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def oracle(day: str | None, n: int | None) -> dict[str, Any]:
    if day is None:
        return {"days": None, "months": None, "years": None, "year": None, "month": None, "dayOfMonth": None}
    d = dt.date.fromisoformat(day[:10])
    moved = n is not None
    return {
        "days": (d + dt.timedelta(days=n)).isoformat() if moved else None,
        "months": add_months(d, n).isoformat() if moved else None,
        "years": add_months(d, 12 * n).isoformat() if moved else None,
        "year": d.year,
        "month": d.month,
        "dayOfMonth": d.day,
    }


def test_the_oracle_clamps_like_postgresql() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 1, 15), -13) == dt.date(2024, 12, 15)


# -- running plans -------------------------------------------------------------------------
def schema(tmp_path: Path) -> Path:
    path = tmp_path / "events.graphql"
    path.write_text(SDL)
    return path


def compute(gw: Any, rows: list[tuple[str | None, int | None]]) -> list[dict[str, Any]]:
    """Insert the rows, compute every date function over them in one update, return them in order."""
    ids = [f"e{next(_ids)}" for _ in rows]
    import_records(gw.executor, {"Event": [{"id": i, "day": d, "n": n} for i, (d, n) in zip(ids, rows, strict=True)]})
    day, n = {"field": "day"}, {"field": "n"}
    plan = parse_plan(
        {
            "steps": [
                {
                    "op": "update",
                    "model": "Event",
                    "where": {"id": {"in": ids}},
                    "set": {
                        "days": {"fn": "addDays", "args": [day, n]},
                        "months": {"fn": "addMonths", "args": [day, n]},
                        "years": {"fn": "addYears", "args": [day, n]},
                        "year": {"fn": "year", "args": [day]},
                        "month": {"fn": "month", "args": [day]},
                        "dayOfMonth": {"fn": "day", "args": [day]},
                    },
                }
            ],
            "result": 0,
        }
    )
    by_id = {r["id"]: r for r in gw.executor.run(plan)}
    keys = ("days", "months", "years", "year", "month", "dayOfMonth")
    return [{k: by_id[i][k] for k in keys} for i in ids]


EDGES: list[tuple[str | None, int | None]] = [
    ("2026-01-31", 1),  # month end clamped: 2026-02-28
    ("2024-01-31", 1),  # into a leap February: 2024-02-29
    ("2024-02-29", 1),  # addYears from 29 February: 2025-02-28
    ("2024-02-29", 4),
    ("2026-03-31", -1),  # negative months clamp too
    ("2026-05-31", -13),
    ("2026-12-31", 2),  # across a year end
    ("2026-01-15", -1),
    ("2026-01-31T10:00:00+02:00", 1),  # a date-time is read as its day
    ("2026-06-30 08:00", 0),
    ("0001-01-31", 1),  # the first and last years
    ("9999-12-31", -1),
    ("2000-02-29", 0),
    (None, 3),  # null stays null
    ("2026-01-31", None),
]


def test_month_end_clamping_and_negative_counts_match_the_oracle_on_every_store(db_url: str, tmp_path: Path) -> None:
    gw = make_gateway(db_url, schema=schema(tmp_path))
    try:
        got = compute(gw, EDGES)
        assert got == [oracle(d, n) for d, n in EDGES]
        assert got[0]["months"] == "2026-02-28" and got[2]["years"] == "2025-02-28"
        assert got[4]["months"] == "2026-02-28" and got[5]["months"] == "2025-04-30"
    finally:
        gw.close()


def test_literal_operands_compute_the_same(db_url: str, tmp_path: Path) -> None:
    """A literal date and count (the plan's own values, not a row's) go through the same rule."""
    gw = make_gateway(db_url, schema=schema(tmp_path))
    try:
        import_records(gw.executor, {"Event": [{"id": "x", "day": "2026-01-31"}]})
        plan = parse_plan(
            {
                "steps": [
                    {
                        "op": "update",
                        "model": "Event",
                        "where": {"id": {"eq": "x"}},
                        "set": {
                            "days": {"fn": "addDays", "args": ["2024-02-28", 1]},
                            "months": {"fn": "addMonths", "args": ["2024-03-31", -1]},
                            "years": {
                                "fn": "addYears",
                                "args": [{"fn": "addMonths", "args": [{"field": "day"}, 1]}, -2],
                            },
                        },
                    }
                ],
                "result": 0,
            }
        )
        (row,) = gw.executor.run(plan)
        assert (row["days"], row["months"], row["years"]) == ("2024-02-29", "2024-02-29", "2024-02-28")
    finally:
        gw.close()


days = st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2200, 12, 31))
ends = st.builds(lambda y, m: dt.date(y, m, calendar.monthrange(y, m)[1]), st.integers(1800, 2200), st.integers(1, 12))
texts = st.builds(
    lambda d, time: d.isoformat() + time, st.one_of(days, ends), st.sampled_from(["", "", "", "T23:59:59Z", " 00:00"])
)
counts = st.integers(-1700, 1700)  # as years too, it stays within 1 to 9999 from 1800..2200


def test_random_dates_match_the_oracle_on_every_store(db_url: str, tmp_path: Path) -> None:
    gw = make_gateway(db_url, schema=schema(tmp_path))

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.tuples(texts, counts), min_size=1, max_size=12))
    def check(rows: list[tuple[str, int]]) -> None:
        assert compute(gw, list(rows)) == [oracle(d, n) for d, n in rows], rows

    try:
        check()
    finally:
        gw.close()


# -- bad dates: coded errors that change nothing -------------------------------------------
def update(set_: dict[str, Any]) -> dict[str, Any]:
    return {"steps": [{"op": "update", "model": "Event", "where": {"id": {"isNull": False}}, "set": set_}], "result": 0}


BAD_LITERALS = [
    ("not a day", {"months": {"fn": "addMonths", "args": ["2026-02-30", 1]}}, "'2026-02-30' is not a date"),
    ("not ISO", {"days": {"fn": "addDays", "args": ["31/01/2026", 1]}}, "'31/01/2026' is not a date"),
    ("a word", {"year": {"fn": "year", "args": ["yesterday"]}}, "'yesterday' is not a date"),
    ("year zero", {"years": {"fn": "addYears", "args": ["0000-01-01", 1]}}, "is not a date"),
    ("past 9999", {"years": {"fn": "addYears", "args": [{"field": "day"}, 10000]}}, "addYears moves a date at most"),
    ("months as text", {"months": {"fn": "addMonths", "args": [{"field": "day"}, "2"]}}, "a whole number of months"),
    ("a number as a date", {"months": {"fn": "addMonths", "args": [{"field": "n"}, 2]}}, "addMonths takes a date"),
    ("a date into an Int", {"n": {"fn": "addMonths", "args": [{"field": "day"}, 2]}}, "steps[0].set.n"),
]
BAD_STORED = [
    ("a word", "soon"),
    ("a day that does not exist", "2026-02-30"),
    ("short month", "2026-1-05"),
    ("SQLite's keyword", "now"),
    ("a Julian day", "2461000.5"),
    ("year zero", "0000-06-01"),
    ("trailing text", "2026-01-05x"),
]


def start(db_url: str, tmp_path: Path, plan: dict[str, Any], stored: str, n: int = 1) -> LiveServer:
    model = ScriptedProvider([])
    model.route("the bad one", *([plan] * 3))  # the planner asks again after PLAN_INVALID
    gw = make_gateway(db_url, schema=schema(tmp_path), provider=model)
    import_records(
        gw.executor, {"Event": [{"id": "a", "day": "2026-01-31", "n": 1}, {"id": "b", "day": stored, "n": n}]}
    )
    return LiveServer(gw).start()


EVENTS = "{ events { id day n days months years year month dayOfMonth } }"


@pytest.mark.parametrize(("case", "set_", "needle"), BAD_LITERALS, ids=[b[0] for b in BAD_LITERALS])
def test_a_bad_date_in_the_plan_is_refused_before_anything_runs(
    db_url: str, tmp_path: Path, case: str, set_: dict[str, Any], needle: str
) -> None:
    server = start(db_url, tmp_path, update(set_), "2026-03-01")
    try:
        before = server.gql(EVENTS)["data"]
        body = server.gql('mutation { events(q: "the bad one: set days, months, years, year, month, n") { id } }')
        error = body["errors"][0]
        assert error["extensions"]["code"] == "PLAN_INVALID", body
        assert needle in error["message"] + str(error["extensions"]), body
        assert server.gql(EVENTS)["data"] == before
    finally:
        server.stop()


@pytest.mark.parametrize("fn", ["addDays", "addMonths", "addYears", "year"])
@pytest.mark.parametrize(("case", "stored"), BAD_STORED, ids=[b[0] for b in BAD_STORED])
def test_a_stored_value_that_is_not_a_date_stops_the_step_on_every_store(
    db_url: str, tmp_path: Path, case: str, stored: str, fn: str
) -> None:
    args: list[Any] = [{"field": "day"}] if fn == "year" else [{"field": "day"}, {"field": "n"}]
    target = "year" if fn == "year" else "months"
    server = start(db_url, tmp_path, update({target: {"fn": fn, "args": args}}), stored)
    try:
        before = server.gql(EVENTS)["data"]
        body = server.gql('mutation { events(q: "the bad one: set days, months, years, year, month, n") { id } }')
        error = body["errors"][0]
        assert error["extensions"]["code"] == "PLAN_FAILED", body
        assert "is not a real YYYY-MM-DD day" in error["message"], body
        assert stored not in error["message"]  # a stored value is never echoed
        assert server.gql(EVENTS)["data"] == before  # the good row was not changed either
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("day", "n", "fn"),
    [
        ("9999-12-31", 1, "addDays"),
        ("9999-12-15", 1, "addMonths"),
        ("0001-01-01", -1, "addDays"),
        ("0001-06-01", -1, "addYears"),
    ],
)
def test_a_date_moved_out_of_the_years_1_to_9999_stops_the_step(
    db_url: str, tmp_path: Path, day: str, n: int, fn: str
) -> None:
    plan = update({"months": {"fn": fn, "args": [{"field": "day"}, {"field": "n"}]}})
    server = start(db_url, tmp_path, plan, day, n)
    try:
        before = server.gql(EVENTS)["data"]
        body = server.gql('mutation { events(q: "the bad one: set days, months, years, year, month, n") { id } }')
        error = body["errors"][0]
        assert error["extensions"]["code"] == "PLAN_FAILED", body
        assert "is not a real YYYY-MM-DD day" in error["message"], body
        assert server.gql(EVENTS)["data"] == before
    finally:
        server.stop()
