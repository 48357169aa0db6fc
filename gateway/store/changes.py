"""The store announces every committed write to a model's table, whoever made it (the gateway, ``gateway import``, another program).

PostgreSQL: one statement-level trigger per table calls ``pg_notify('gateway_changes',
'{"models": [...]}')``; the notification leaves at commit (never for a rolled-back write), and
PostgreSQL sends identical ones of one transaction once. SQLite cannot notify another process,
so a row trigger per table counts the writes of each model in ``_gateway_changes``; a reader
asks ``PRAGMA data_version`` (which changes when another connection commits, a few
microseconds) and reads the counts only then. A join table's rows announce both its models.
The triggers are installed, idempotently, when the SDL has ``Subscription`` fields.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from .engine import is_sqlite
from .tables import INTERNAL_PREFIX, StoreTables

log = logging.getLogger(__name__)

CHANNEL = "gateway_changes"  # PostgreSQL's NOTIFY channel, the one the gateways talk on too
COUNTS = f"{INTERNAL_PREFIX}changes"  # SQLite: writes per model
TRIGGER = f"{INTERNAL_PREFIX}changed"
IN_MEMORY = ("", ":memory:")


def table_models(tables: StoreTables) -> dict[str, list[str]]:
    """Each table the gateway keeps and the models a write to it changes."""
    out = {name: [name] for name in tables.models}
    for name, table in tables.joins.items():
        out[name] = sorted({fk.column.table.name for fk in table.foreign_keys})
    return out


def store_can_announce(engine: Engine) -> bool:
    """Whether another connection can write this store: a SQLite database in memory is this process's alone."""
    return not is_sqlite(engine) or (engine.url.database or "") not in IN_MEMORY


def ensure_change_triggers(engine: Engine, tables: StoreTables) -> bool:
    """Install what is missing of the triggers (one transaction, under a lock); True when the store announces.

    A store that refuses (a PostgreSQL user without the right to create functions or triggers)
    is left as it was: the gateway then announces only its own writes, as before.
    """
    if not store_can_announce(engine):
        return False
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(write=True)  # BEGIN IMMEDIATE on SQLite: one installer at a time
            with conn.begin():
                if is_sqlite(engine):
                    _sqlite(conn, table_models(tables))
                else:
                    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": TRIGGER})
                    _postgres(conn, table_models(tables))
    except SQLAlchemyError as e:
        log.warning(
            "writes made outside this gateway will not be announced: the store refused its triggers (%s)",
            str(e).splitlines()[0][:200],
        )
        return False
    return True


def _sqlite(conn: Connection, tables: dict[str, list[str]]) -> None:
    conn.execute(
        text(f'CREATE TABLE IF NOT EXISTS "{COUNTS}" (model TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID')
    )
    for models in tables.values():
        for m in models:
            conn.execute(text(f'INSERT OR IGNORE INTO "{COUNTS}"(model, n) VALUES (:m, 0)'), {"m": m})
    for table, models in tables.items():
        names = ", ".join(f"'{m}'" for m in models)  # GraphQL names: letters, digits, underscores
        for op in ("INSERT", "UPDATE", "DELETE"):
            conn.execute(
                text(
                    f'CREATE TRIGGER IF NOT EXISTS "{TRIGGER}_{table}_{op.lower()}" AFTER {op} ON "{table}" '
                    f'BEGIN UPDATE "{COUNTS}" SET n = n + 1 WHERE model IN ({names}); END'
                )
            )


def _postgres(conn: Connection, tables: dict[str, list[str]]) -> None:
    conn.execute(
        text(
            f'CREATE OR REPLACE FUNCTION "{TRIGGER}"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
            f"PERFORM pg_notify('{CHANNEL}', json_build_object('models', TG_ARGV)::text); RETURN NULL; END $$"
        )
    )
    have = {
        name
        for (name,) in conn.execute(
            text(
                "SELECT c.relname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid "
                "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE t.tgname = :t AND n.nspname = current_schema()"
            ),
            {"t": TRIGGER},
        )
    }
    for table, models in tables.items():
        if table in have:
            continue  # a table's models never change: nothing to replace, no table lock taken
        names = ", ".join(f"'{m}'" for m in models)
        conn.execute(
            text(
                f'CREATE TRIGGER "{TRIGGER}" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
                f'FOR EACH STATEMENT EXECUTE FUNCTION "{TRIGGER}"({names})'
            )
        )


def read_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """SQLite: the write count of each model (it only grows)."""
    return dict(conn.execute(f'SELECT model, n FROM "{COUNTS}"').fetchall())


def data_version(conn: sqlite3.Connection) -> int:
    """SQLite: a number that changes when a connection other than ``conn`` commits."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


class OwnConnections:
    """The server process ids of an engine's PostgreSQL connections.

    A notification carries the id of the connection that sent it; one sent by this gateway's
    own connection is a write the gateway has already announced to its own subscriptions.
    An id is recorded when its connection is taken from the pool and forgotten when it closes.
    """

    def __init__(self, engine: Engine) -> None:
        self._pids: set[int] = set()
        event.listen(engine, "checkout", self._checkout)
        for name in ("close", "invalidate", "detach"):
            event.listen(engine, name, self._gone)

    def __contains__(self, pid: object) -> bool:
        return pid in self._pids

    def _checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        pid = record.info.get("backend_pid")
        if pid is None:
            pid = record.info["backend_pid"] = _backend_pid(dbapi_connection)
        if pid is not None:
            self._pids.add(pid)

    def _gone(self, _dbapi_connection: Any, record: Any, *_args: Any) -> None:
        pid = record.info.pop("backend_pid", None) if record is not None else None
        if pid is not None:
            self._pids.discard(pid)


def _backend_pid(dbapi_connection: Any) -> int | None:
    info = getattr(dbapi_connection, "info", None)
    pid = getattr(info, "backend_pid", None)  # psycopg 3: known locally, no round trip
    if pid is None and hasattr(dbapi_connection, "get_backend_pid"):  # psycopg2
        pid = dbapi_connection.get_backend_pid()
    return int(pid) if pid else None
