"""Entries in the gateway's own store (``_gateway_plans``), so they survive a restart."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Column, Connection, Engine, Float, MetaData, Table, Text, delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..store.tables import INTERNAL_PREFIX
from .entry import CacheEntry

log = logging.getLogger(__name__)

TABLE_NAME = f"{INTERNAL_PREFIX}plans"
_metadata = MetaData()
PLANS = Table(
    TABLE_NAME, _metadata,
    Column("id", Text(), primary_key=True),
    Column("kind", Text(), nullable=False),
    Column("field", Text(), nullable=False),
    Column("scope", Text(), nullable=False, index=True),
    Column("entry", Text(), nullable=False),
    Column("created_at", Float(), nullable=False),
)


class StoreBackend:
    """One row per entry, the entry as JSON; the migrator ignores the table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            _metadata.create_all(engine, checkfirst=True)
        except SQLAlchemyError:  # another process created it at the same moment
            _metadata.create_all(engine, checkfirst=True)

    def get(self, entry_id: str) -> CacheEntry | None:
        with self.engine.connect() as conn:
            raw = conn.execute(select(PLANS.c.entry).where(PLANS.c.id == entry_id)).scalar()
        return next(_parse([raw]), None) if raw is not None else None

    def templates(self, scope: str) -> list[CacheEntry]:
        stmt = select(PLANS.c.entry).where(PLANS.c.scope == scope, PLANS.c.kind == "template")
        with self.engine.connect() as conn:
            return list(_parse(conn.execute(stmt).scalars()))

    def entries(self, field: str | None = None, limit: int | None = None) -> list[CacheEntry]:
        stmt = select(PLANS.c.entry).order_by(PLANS.c.created_at.desc())
        if field is not None:
            stmt = stmt.where(PLANS.c.field == field)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return list(_parse(conn.execute(stmt).scalars()))

    def put(self, entry: CacheEntry) -> None:
        row = {"id": entry.id, "kind": entry.kind, "field": entry.field, "scope": entry.scope,
               "entry": entry.to_json(), "created_at": entry.created}
        try:
            with self._write() as conn:
                conn.execute(delete(PLANS).where(PLANS.c.id == entry.id))
                conn.execute(insert(PLANS).values(**row))
        except IntegrityError:  # a concurrent request stored the same entry first
            pass

    def delete(self, entry: CacheEntry) -> None:
        with self._write() as conn:
            conn.execute(delete(PLANS).where(PLANS.c.id == entry.id))

    def close(self) -> None:
        pass  # the engine belongs to the gateway

    def _write(self) -> _Txn:
        conn = self.engine.connect()
        conn.execution_options(write=True)  # BEGIN IMMEDIATE on SQLite
        return _Txn(conn)


class _Txn:
    """``with`` a connection in a write transaction, closed afterwards."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        self.txn = self.conn.begin()
        return self.conn

    def __exit__(self, exc_type: Any, *_: object) -> None:
        try:
            if exc_type is None:
                self.txn.commit()
            else:
                self.txn.rollback()
        finally:
            self.conn.close()


def _parse(rows: Any) -> Iterator[CacheEntry]:
    """Entries of this version; rows of an older format are skipped (they are planned afresh)."""
    for raw in rows:
        try:
            yield CacheEntry.parse(raw)
        except ValueError as e:
            log.debug("plan cache: skipping a stored entry: %s", e)
