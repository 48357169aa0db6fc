"""Engines for any SQLAlchemy URL, with SQLite set up for safe concurrent writes.

SQLite runs in WAL mode with a busy timeout and foreign keys on; transactions that write begin
with ``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing midway.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from .. import arithmetic
from ..dates import register_sqlite
from ..errors import StoreError

BUSY_TIMEOUT_MS = 30_000


def is_sqlite(engine_or_url: Any) -> bool:
    url = getattr(engine_or_url, "url", engine_or_url)
    return str(url).startswith("sqlite")


def missing_driver(url: str, module: str | None) -> StoreError:
    """One line that names the extra (or package) to install, instead of SQLAlchemy's traceback."""
    scheme = make_url(url).drivername
    if scheme.startswith("postgresql"):
        return StoreError(
            f"a {scheme}:// store needs the PostgreSQL driver ({module} is not installed): "
            "pip install 'llm-graphql-gateway[postgres]' and use a postgresql+psycopg:// URL"
        )
    return StoreError(f"a {scheme}:// store needs the Python package {module}, which is not installed")


def create_store_engine(url: str) -> Engine:
    if not is_sqlite(url):
        try:
            return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except ModuleNotFoundError as e:
            raise missing_driver(url, e.name) from e
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        register_sqlite(dbapi_connection)  # the date functions' one rule (gateway.dates)
        arithmetic.register_sqlite(dbapi_connection)  # a zero divisor fails, as on PostgreSQL

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
