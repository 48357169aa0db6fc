"""Import and export records in the seed format, all or nothing.

The format is an object keyed by model name, each a list of records; ids are kept and a
reference field holds the referenced record's id (a list reference, a list of ids):
``{"Author": [{"id": "a1", "name": "Frank Herbert"}], "Book": [{"id": "b1", "author": "a1"}]}``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from .errors import GatewayError, ImportInvalid, PlanInvalid
from .executor import Executor, PlanRun, new_id
from .plan import Insert, Plan
from .store.tables import CREATED_COLUMN
from .validation import validate_plan

SeedData = dict[str, list[dict[str, Any]]]


def import_records(executor: Executor, data: Any) -> dict[str, int]:
    """Check every record against the SDL, then insert them all in one transaction."""
    catalog = executor.catalog
    if not isinstance(data, dict):
        raise ImportInvalid("seed data is an object keyed by model name")
    unknown = [m for m in data if m not in catalog.models]
    if unknown:
        raise ImportInvalid(f"unknown models {unknown} (models: {', '.join(catalog.models)})")
    steps = []
    for name, records in data.items():
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ImportInvalid(f"{name}: a list of records is expected")
        if records:
            steps.append(Insert(op="insert", model=name, values=records))
    if not steps:
        return {}
    try:
        validate_plan(catalog, Plan(steps=steps).parse_unbounded())
    except PlanInvalid as e:
        errors = [err.replace("steps[", "records[", 1) for err in e.extensions.get("errors", [])]
        raise ImportInvalid("seed data does not fit the schema, nothing was imported: " + "; ".join(errors[:5]),
                            errors=errors) from e
    try:
        with executor.engine.connect() as conn:
            conn.execution_options(write=True)
            with conn.begin():
                run = PlanRun(executor, conn, None)
                pending: list[tuple[Any, str, dict[str, Any]]] = []
                for step in steps:
                    model = catalog.model(step.model)
                    table = executor.tables.table(model.name)
                    for record in step.values:
                        rec_id = str(record.get("id") or new_id())
                        columns = {k: v for k, v in record.items()
                                   if model.fields[k].kind in ("scalar", "enum", "scalars", "json")}
                        created = executor.next_created(model.name, 1)[0]
                        extra = {} if created is None else {CREATED_COLUMN: created}
                        conn.execute(insert(table).values(**{**columns, "id": rec_id, **extra}))
                        pending.append((model, rec_id, record))
                for model, rec_id, record in pending:
                    table = executor.tables.table(model.name)
                    row: dict[str, Any] = {}
                    for key, value in record.items():
                        f = model.fields[key]
                        if f.kind == "ref" and value is not None:
                            run.require_existing(f.type_name, [str(value)])
                            row[key] = str(value)
                        elif f.kind == "refs":
                            ids = [str(i) for i in value or [] if i is not None]
                            run.require_existing(f.type_name, ids)
                            run.link(f, rec_id, ids, replace=False)
                    if row:
                        conn.execute(update(table).where(table.c.id == rec_id).values(**row))
    except GatewayError as e:
        raise ImportInvalid(f"nothing was imported: {e.message}") from e
    except SQLAlchemyError as e:
        raise ImportInvalid(f"nothing was imported: {str(getattr(e, 'orig', e)).splitlines()[0]}") from e
    return {s.model: len(s.values) for s in steps}


def export_records(executor: Executor) -> SeedData:
    """Every record in the seed format; list references are written on their owning side."""
    catalog = executor.catalog
    out: SeedData = {}
    with executor.engine.connect() as conn:
        for model in catalog.models.values():
            table = executor.tables.table(model.name)
            rows = [{k: v for k, v in r.items() if v is not None and k != CREATED_COLUMN}
                    for r in conn.execute(select(table).order_by(table.c[CREATED_COLUMN], table.c.id)).mappings()]
            by_id = {r["id"]: r for r in rows}
            for f in model.fields.values():
                rel = f.relation
                if rel is None or rel.kind != "join" or rel.own_column != "left_id":
                    continue
                j = executor.tables.joins[rel.table]
                for link in conn.execute(select(j).order_by(j.c.left_id, j.c.right_id)).mappings():
                    by_id[link["left_id"]].setdefault(f.name, []).append(link["right_id"])
            out[model.name] = rows
    return out
