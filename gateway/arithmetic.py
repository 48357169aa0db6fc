"""The one rule for division: a zero divisor fails the statement on both stores.

A plan's literal zero divisor is refused by validation; a zero in a row's data is only known
as the statement runs. PostgreSQL raises ``division_by_zero`` itself; SQLite answers null, so
its division goes through :func:`sqlite_divisor`, registered on every connection, which
refuses zero. sqlite3 does not pass a function's own message on, so the refusal is noted here
for the executor to tell it from a bad date (:mod:`gateway.dates`).
"""

from __future__ import annotations

import threading
from typing import Any

SQLITE_DIVISOR = "gateway_divisor"
#: PostgreSQL's division_by_zero
DIVISION_BY_ZERO_STATE = "22012"
DIVISION_BY_ZERO = "a division or remainder by zero in the rows the plan computes; nothing was written"

_refused = threading.local()


def sqlite_divisor(value: Any) -> Any:
    """The divisor itself, or a refusal when it is zero (null stays null)."""
    if value is not None and value == 0:
        _refused.division = True
        raise ZeroDivisionError("division by zero")
    return value


def took_division_refusal() -> bool:
    """Whether the last SQLite refusal on this thread was a zero divisor (and forget it)."""
    refused = getattr(_refused, "division", False)
    _refused.division = False
    return bool(refused)


def register_sqlite(dbapi_connection: Any) -> None:
    """Not deterministic, so SQLite never evaluates it ahead of the rows (as the date functions)."""
    dbapi_connection.create_function(SQLITE_DIVISOR, 1, sqlite_divisor)
