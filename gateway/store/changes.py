"""The store announces the committed writes to a model's table made outside the gateway (another program, an older gateway).

PostgreSQL: one statement-level trigger per table calls ``pg_notify('gateway_changes',
'{"models": [...]}')``; the notification leaves at commit (never for a rolled-back write), and
PostgreSQL sends identical ones of one transaction once. A transaction that notifies holds a
cluster-wide lock while it commits, so concurrent notifying writers commit one at a time: the
gateway's own sessions (:func:`mark_sessions`) skip the notification, and the gateway announces
its writes itself once they have committed. SQLite cannot notify another process, so a row
trigger per table counts the writes of each model (the gateway's too) in ``_gateway_changes``;
a reader asks ``PRAGMA data_version`` (which changes when another connection commits, a few
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
ORIGIN = "gateway.origin"  # PostgreSQL: set in a gateway's sessions, whose writes the trigger leaves unannounced
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
            f"IF coalesce(current_setting('{ORIGIN}', true), '') = '' THEN "
            f"PERFORM pg_notify('{CHANNEL}', json_build_object('models', TG_ARGV)::text); END IF; "
            "RETURN NULL; END $$"
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


def mark_sessions(engine: Engine, origin: str) -> None:
    """PostgreSQL: set ``gateway.origin`` in each session of ``engine``, so its writes commit
    without the trigger's notification (the gateway announces them itself, after the commit).

    Set once per connection, when it opens (no statement per write); the connections opened
    before (migrations, the triggers' installation) are closed, so every one is marked.
    """

    quoted = origin.replace("'", "''")  # a literal: the same statement for every driver's paramstyle

    def _mark(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SELECT set_config('{ORIGIN}', '{quoted}', false)")
        cursor.close()
        dbapi_connection.commit()  # a session setting made in a transaction rolled back would be undone

    event.listen(engine, "connect", _mark)
    engine.dispose()
