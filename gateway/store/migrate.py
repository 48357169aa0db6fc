"""Bring the store in line with the SDL without ever losing data.

Additive changes (a new type, a new nullable field, a new index) are applied at start-up in
one transaction. A change that would drop or retype stored data, or add a required field to
a table that has rows, is refused with a message and leaves the store as it was.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Engine, Float, Integer, Table, func, inspect, select, text
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable
from sqlalchemy.types import TypeEngine

from ..errors import MigrationRefused
from ..sdl import Catalog
from .tables import INTERNAL_PREFIX, StoreTables


def _family(t: TypeEngine) -> str:
    if isinstance(t, JSON):
        return "json"
    if isinstance(t, Boolean):
        return "boolean"
    if isinstance(t, Integer):
        return "integer"
    if isinstance(t, Float):
        return "float"
    name = type(t).__name__.upper()
    if "JSON" in name:
        return "json"
    if name in ("REAL", "DOUBLE", "DOUBLE_PRECISION", "NUMERIC"):
        return "float"
    return "text"


def _has_duplicates(conn: Any, table: Table, columns: list[Any]) -> bool:
    stmt = (select(*columns).where(*(c.is_not(None) for c in columns)).group_by(*columns)
            .having(func.count() > 1).limit(1))
    return conn.execute(stmt).first() is not None


def migrate(engine: Engine, catalog: Catalog, tables: StoreTables) -> list[str]:
    """Apply additive changes; raise MigrationRefused (changing nothing) on destructive ones."""
    insp = inspect(engine)
    existing = set(insp.get_table_names())
    wanted: dict[str, Table] = {**tables.models, **tables.joins}
    refusals: list[str] = []
    actions: list[tuple[str, object]] = []
    # Tables may reference each other both ways (Person.team <-> Team.lead). SQLite checks
    # foreign keys only when rows are written, so they stay inline; elsewhere every new table is
    # created bare and its foreign keys are added once all tables exist.
    inline_keys = engine.dialect.name == "sqlite"
    later: list[tuple[str, object]] = []
    with engine.connect() as conn:
        for name in sorted(existing - set(wanted)):
            if name.startswith(INTERNAL_PREFIX):
                continue
            rows = conn.execute(select(func.count()).select_from(text(f'"{name}"'))).scalar()
            refusals.append(f"table {name} ({rows} rows) is no longer in the schema; dropping it would lose data")
        for name, table in wanted.items():
            if name not in existing:
                keys = None if inline_keys else []
                actions.append((f"create table {name}", CreateTable(table, include_foreign_key_constraints=keys)))
                actions.extend((f"create index {ix.name}", CreateIndex(ix)) for ix in table.indexes)
                if not inline_keys:
                    later.extend((f"add foreign key {name}.{','.join(fk.column_keys)}", AddConstraint(fk))
                                 for fk in table.foreign_key_constraints)
                continue
            current = {c["name"]: c for c in insp.get_columns(name)}
            for col in current:
                if col not in table.c:
                    refusals.append(f"column {name}.{col} is no longer in the schema; dropping it would lose data")
            for col in table.c:
                if col.name in current:
                    old, new = _family(current[col.name]["type"]), _family(col.type)
                    if old != new:
                        refusals.append(f"column {name}.{col.name} changes type from {old} to {new}; "
                                        "retyping stored data is refused")
                    continue
                field = catalog.models[name].fields.get(col.name) if name in catalog.models else None
                if field is not None and not field.nullable and field.kind != "scalars":
                    rows = conn.execute(select(func.count()).select_from(table)).scalar()
                    if rows:
                        refusals.append(f"new required field {name}.{col.name} cannot be added to {rows} "
                                        "existing rows; make it nullable first")
                        continue
                ddl = col.type.compile(dialect=engine.dialect)
                actions.append((f"add column {name}.{col.name}",
                                text(f'ALTER TABLE "{name}" ADD COLUMN "{col.name}" {ddl}')))
            have_indexes = {ix["name"] for ix in insp.get_indexes(name)}
            for ix in table.indexes:
                if ix.name in have_indexes:
                    continue
                if ix.unique and _has_duplicates(conn, table, list(ix.columns)):
                    cols = ", ".join(c.name for c in ix.columns)
                    refusals.append(f"{name}.{cols} cannot become @unique: stored rows share a value")
                    continue
                actions.append((f"create index {ix.name}", CreateIndex(ix)))
    actions.extend(later)
    if refusals:
        raise MigrationRefused("schema change refused, the store was left as it was:\n  - "
                               + "\n  - ".join(refusals), refusals=refusals)
    if actions:
        with engine.begin() as conn:
            for _, ddl in actions:
                conn.execute(ddl)  # type: ignore[arg-type]
    return [label for label, _ in actions]
