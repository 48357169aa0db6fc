"""Import and export records in the seed format, all or nothing.

The format is an object keyed by model name, each a list of records; ids are kept and a
reference field holds the referenced record's id (a list reference, a list of ids):
``{"Author": [{"id": "a1", "name": "Frank Herbert"}], "Book": [{"id": "b1", "author": "a1"}]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from .errors import GatewayError, ImportInvalid, PlanInvalid
from .executor import Executor, PlanRun, new_id
from .plan import Insert, Plan
from .store import is_sqlite
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
    steps: list[Insert] = []
    for name, records in data.items():
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ImportInvalid(f"{name}: a list of records is expected")
        if records:  # a seed is no model answer: any number of records, checked as one step each
            steps.append(Insert.model_construct(op="insert", model=name, values=records))
    if not steps:
        return {}
    try:
        for step in steps:
            validate_plan(
                catalog, Plan.model_construct(steps=[step], result=0, params={}, refuse=None).parse_unbounded()
            )
    except PlanInvalid as e:
        errors = [err.replace("steps[", "records[", 1) for err in e.extensions.get("errors", [])]
        raise ImportInvalid(
            "seed data does not fit the schema, nothing was imported: " + "; ".join(errors[:5]), errors=errors
        ) from e
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
                        columns = {
                            k: v
                            for k, v in record.items()
                            if model.fields[k].kind in ("scalar", "enum", "scalars", "json")
                        }
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
    """Every record in the seed format, in memory (small stores and tests; see :func:`write_export`)."""
    with executor.engine.connect() as conn:
        return {m: list(_rows(executor, conn, m)) for m in executor.catalog.models}


def write_export(executor: Executor, out: TextIO) -> None:
    """Write every record in the seed format to ``out`` as the rows stream from the store.

    The text is the same as ``json.dumps(export_records(...), indent=2)``, but only a batch of
    rows is held at a time, so a table of millions of rows exports in constant memory.
    """
    with executor.engine.connect() as conn:
        out.write("{")
        for n, model in enumerate(executor.catalog.models):
            out.write(("," if n else "") + f"\n  {json.dumps(model)}: [")
            empty = True
            for record in _rows(executor, conn, model):
                text = json.dumps(record, indent=2, default=str).replace("\n", "\n    ")
                out.write(("\n    " if empty else ",\n    ") + text)
                empty = False
            out.write("]" if empty else "\n  ]")
        out.write("\n}" if executor.catalog.models else "}")


def _rows(executor: Executor, conn: Connection, model_name: str) -> Iterator[dict[str, Any]]:
    """A model's records in creation order, list references written on their owning side, streamed."""
    model = executor.catalog.model(model_name)
    table = executor.tables.table(model.name)
    lists = {}
    for f in model.fields.values():
        rel = f.relation
        if rel is None or rel.kind != "join" or rel.table is None or rel.own_column != "left_id":
            continue
        j = executor.tables.joins[rel.table]
        collect = func.json_group_array if is_sqlite(executor.engine) else func.json_agg
        lists[f.name] = (
            select(collect(j.c.right_id)).where(j.c.left_id == table.c.id).scalar_subquery().label(f"__list_{f.name}")
        )
    stmt = select(table, *lists.values()).order_by(table.c[CREATED_COLUMN], table.c.id)
    result = conn.execution_options(stream_results=True, yield_per=500).execute(stmt)
    for row in result.mappings():
        record = {k: v for k, v in row.items() if v is not None and k != CREATED_COLUMN and not k.startswith("__list_")}
        for name in lists:
            links = row[f"__list_{name}"]
            links = json.loads(links) if isinstance(links, str) else links
            if links:
                record[name] = sorted(links)
        yield record
