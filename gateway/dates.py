"""One rule for dates, the same at validation time and on both stores.

Dates are stored as text. A date is text starting ``YYYY-MM-DD`` (a time may follow after
``T`` or a space, as ``now()`` gives) naming a real day of the years 1 to 9999; anything else
("soon", "2026-02-30", "2026-1-5", SQLite's "now" or a Julian day number) is not a date, and a
date function that meets one stops its statement instead of guessing.

Month arithmetic follows PostgreSQL's ``date + interval``: the same day of the target month,
or that month's last day when it is shorter (2026-01-31 plus one month is 2026-02-28, 2024-02-29
plus one year is 2025-02-28), for negative counts too; a year is twelve months.

PostgreSQL does this natively (see :mod:`gateway.sql`). SQLite's ``date()`` rolls over instead
(2026-03-03) and reads anything it can, so on SQLite the date functions call the small Python
functions below, registered on every connection by :func:`register_sqlite`; they run inside
the statement, row by row, like any SQL function.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any

ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?", re.DOTALL)
#: the SQLite functions the SQL compiler calls, by name
SQLITE_DAY = "gateway_day"
SQLITE_ADD_DAYS = "gateway_add_days"
SQLITE_ADD_MONTHS = "gateway_add_months"
#: what sqlite3 reports when one of them refuses a value (its own message does not come through)
SQLITE_REFUSED = "user-defined function raised exception"


class BadDate(ValueError):
    """A value a date function cannot read, or a result outside the years 1 to 9999."""


def parse_day(text: str) -> dt.date:
    """The day ``text`` names; BadDate when it is not a date by the rule above."""
    m = ISO_DATE.fullmatch(text)
    if m is None:
        raise BadDate("not YYYY-MM-DD")
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as e:
        raise BadDate("no such day") from e


def is_iso_date(text: str) -> bool:
    try:
        parse_day(text)
    except BadDate:
        return False
    return True


def add_days(day: dt.date, n: int) -> dt.date:
    try:
        return day + dt.timedelta(days=n)
    except OverflowError as e:
        raise BadDate("outside the years 1 to 9999") from e


def add_months(day: dt.date, n: int) -> dt.date:
    """PostgreSQL's ``date + n months``: the same day of the target month, or its last day."""
    year, month = divmod(day.year * 12 + day.month - 1 + n, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise BadDate("outside the years 1 to 9999")
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


# -- SQLite -----------------------------------------------------------------------------------
def _day(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise BadDate("not text")
    return parse_day(value)


def _count(n: Any) -> int:
    if not isinstance(n, int):
        raise BadDate("not a whole number")
    return n


def _sqlite_day(value: Any) -> str | None:
    return None if value is None else _day(value).isoformat()


def _sqlite_add_days(value: Any, n: Any) -> str | None:
    if value is None or n is None:
        return None
    return add_days(_day(value), _count(n)).isoformat()


def _sqlite_add_months(value: Any, n: Any) -> str | None:
    if value is None or n is None:
        return None
    return add_months(_day(value), _count(n)).isoformat()


def register_sqlite(dbapi_connection: Any) -> None:
    """Make the date functions callable on a SQLite connection.

    Not registered as deterministic, so SQLite never evaluates one ahead of time (a constant
    argument in a CASE branch that no row takes must not fail the statement).
    """
    for name, fn, arity in (
        (SQLITE_DAY, _sqlite_day, 1),
        (SQLITE_ADD_DAYS, _sqlite_add_days, 2),
        (SQLITE_ADD_MONTHS, _sqlite_add_months, 2),
    ):
        dbapi_connection.create_function(name, arity, fn)
