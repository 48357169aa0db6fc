"""SQLAlchemy Core tables derived from the models of the SDL.

Scalars and enums are columns, scalar lists and embedded objects are JSON, a single reference
is a foreign-key column named after the field, a list reference is either the reverse of such
a column or a join table. Enums and required fields are checked by the gateway before any
write, so columns other than ``id`` are nullable and adding enum values is not a migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, ForeignKey, Identity, Integer, MetaData, Table, Text
from sqlalchemy.types import TypeEngine

from ..sdl import Catalog, ModelField

INTERNAL_PREFIX = "_gateway_"
CREATED_COLUMN = "_gateway_created"  # creation order: every model keeps it, nothing to declare


def column_type(f: ModelField) -> TypeEngine[Any]:
    if f.kind in ("scalars", "json"):
        return JSON()
    if f.type_name == "Int":
        return Integer()
    if f.type_name == "Float":
        return Float()
    if f.type_name == "Boolean":
        return Boolean()
    return Text()


@dataclass
class StoreTables:
    metadata: MetaData
    models: dict[str, Table]
    joins: dict[str, Table]

    def table(self, model: str) -> Table:
        return self.models[model]


def build_tables(catalog: Catalog, metadata: MetaData | None = None) -> StoreTables:
    """Derive one table per model plus one per many-to-many relation."""
    metadata = metadata or MetaData()
    models: dict[str, Table] = {}
    joins: dict[str, Table] = {}
    for model in catalog.models.values():
        columns: list[Column[Any]] = []
        for f in model.columns:
            if f.name == "id":
                columns.append(Column("id", Text(), primary_key=True))
            elif f.kind == "ref":
                fk = ForeignKey(f"{f.type_name}.id", ondelete="SET NULL" if f.nullable else "RESTRICT")
                columns.append(Column(f.name, Text(), fk, nullable=True, index=True))
            else:
                columns.append(
                    Column(
                        f.name,
                        column_type(f),
                        nullable=True,
                        index=(f.index or f.unique) or None,
                        unique=f.unique or None,
                    )
                )
        columns.append(Column(CREATED_COLUMN, BigInteger(), Identity(), index=True))
        models[model.name] = Table(model.name, metadata, *columns)
    for model in catalog.models.values():
        for f in model.fields.values():
            rel = f.relation
            if rel is None or rel.kind != "join" or rel.table is None or rel.table in joins:
                continue
            own_model, other_model = model.name, rel.target
            left, right = (own_model, other_model) if rel.own_column == "left_id" else (other_model, own_model)
            joins[rel.table] = Table(
                rel.table,
                metadata,
                Column("left_id", Text(), ForeignKey(f"{left}.id", ondelete="CASCADE"), primary_key=True),
                Column("right_id", Text(), ForeignKey(f"{right}.id", ondelete="CASCADE"), primary_key=True, index=True),
            )
    return StoreTables(metadata, models, joins)
