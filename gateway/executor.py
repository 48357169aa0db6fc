"""Run a validated plan on the store, all of it in one transaction.

Each step sees what earlier steps returned (``{"$step": 0, "field": "id"}``). Any failure
(a referenced record that does not exist, a row cap exceeded, a store error) rolls the
whole plan back, so a failed request changes no data.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    ColumnElement,
    Engine,
    and_,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from . import connectors
from .errors import GatewayError, PlanFailed, PolicyDenied, StoreError
from .plan import Aggregate, Call, Delete, Filter, Find, Insert, Plan, Update, is_operator_condition, is_step_ref
from .sdl import Catalog, Model, ModelField
from .store import StoreTables, is_sqlite

Record = dict[str, Any]
AGGREGATES = {"count": func.count, "sum": func.sum, "avg": func.avg, "min": func.min, "max": func.max}


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def plain(value: Any) -> Any:
    """Database numbers as JSON-friendly Python numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class Executor:
    def __init__(self, engine: Engine, catalog: Catalog, tables: StoreTables) -> None:
        self.engine = engine
        self.catalog = catalog
        self.tables = tables

    # -- entry point ----------------------------------------------------------------------
    def run(self, plan: Plan, max_rows: int | None = None) -> list[Record]:
        """Run every step in one transaction and return the result step's records."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(write=plan.writes)
                with conn.begin():
                    run = PlanRun(self, conn, max_rows)
                    for step in plan.steps:
                        run.outputs.append(run.step(step))
                    return run.outputs[plan.result_index]
        except GatewayError:
            raise
        except IntegrityError as e:
            raise StoreError(f"the store refused the change, nothing was written: {_short(e)}") from e
        except SQLAlchemyError as e:
            raise StoreError(f"store error, nothing was written: {_short(e)}") from e

    def fetch_by_ids(self, conn: Connection, model: str, ids: list[str]) -> list[Record]:
        if not ids:
            return []
        t = self.tables.table(model)
        rows = conn.execute(select(t).where(t.c.id.in_(ids))).mappings().all()
        by_id = {r["id"]: self.record(model, r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def record(self, model: str, row: Any) -> Record:
        rec = {k: plain(v) for k, v in dict(row).items()}
        rec["__typename"] = model
        return rec


def _short(e: Exception) -> str:
    return str(getattr(e, "orig", None) or e).split("\n")[0][:300]


class PlanRun:
    """State of one plan's run: the connection, each step's output and the rows touched."""

    def __init__(self, executor: Executor, conn: Connection, max_rows: int | None) -> None:
        self.x = executor
        self.conn = conn
        self.max_rows = max_rows
        self.touched = 0
        self.outputs: list[list[Record]] = []

    def step(self, step: Any) -> list[Record]:
        if isinstance(step, Call):
            return self.call(step)
        if isinstance(step, Filter):
            return connectors.order_and_limit(
                [r for r in self.outputs[step.step] if connectors.matches(r, step.where)], step.orderBy, step.limit)
        model = self.x.catalog.model(step.model)
        if isinstance(step, Find):
            return self.find(model, step)
        if isinstance(step, Insert):
            return self.insert(model, step)
        if isinstance(step, Update):
            return self.update(model, step)
        if isinstance(step, Delete):
            return self.delete(model, step)
        if isinstance(step, Aggregate):
            return self.aggregate(model, step)
        raise PlanFailed(f"unknown step {step!r}")  # pragma: no cover - plan types are closed

    # -- values ---------------------------------------------------------------------------
    def resolve(self, value: Any, many: bool = False) -> Any:
        """Replace step references by what that step returned (all values when ``many``)."""
        if not is_step_ref(value):
            if many and isinstance(value, list):
                return [x for v in value for x in (self.resolve(v, many=True) if is_step_ref(v) else [v])]
            return value
        index, name = value["$step"], value.get("field", "id")
        values = [r.get(name) for r in self.outputs[index]]
        if many:
            return values
        if not values:
            raise PlanFailed(f"step {index} returned no records, so its {name} cannot be used; nothing was changed")
        return values[0]

    def count_touched(self, n: int, model: str) -> None:
        self.touched += n
        if self.max_rows is not None and self.touched > self.max_rows:
            raise PolicyDenied(
                f"the plan would touch {self.touched} {model} rows, more than the {self.max_rows} allowed "
                "for this field (raise it with @maxRows(n: ...)); nothing was changed",
                rows=self.touched, maxRows=self.max_rows)

    # -- filters --------------------------------------------------------------------------
    def where(self, model: Model, where: dict[str, Any] | None) -> ColumnElement[bool]:
        if not where:
            return true()
        t = self.x.tables.table(model.name)
        parts: list[ColumnElement[bool]] = []
        for key, cond in where.items():
            if key == "and":
                parts.append(and_(true(), *(self.where(model, c) for c in cond)))
            elif key == "or":
                parts.append(or_(false(), *(self.where(model, c) for c in cond)))
            elif key == "not":
                parts.append(not_(self.where(model, cond)))
            else:
                f = model.fields[key]
                parts.append(self.field_condition(model, f, cond, t))
        return and_(true(), *parts)

    def field_condition(self, model: Model, f: ModelField, cond: dict[str, Any], t: Any) -> ColumnElement[bool]:
        is_ops = is_operator_condition(cond)
        if f.kind == "ref" and not is_ops:
            target = self.x.tables.table(f.type_name)
            sub = select(target.c.id).where(self.where(self.x.catalog.model(f.type_name), cond))
            return t.c[f.name].in_(sub)
        if f.kind == "refs":
            owners = self.owners_of(f, self.where(self.x.catalog.model(f.type_name), {} if is_ops else cond))
            if is_ops and cond.get("isNull") is True:
                return t.c.id.not_in(owners)
            return t.c.id.in_(owners)
        col = t.c[f.name]
        parts = [self.op(f, col, op, value) for op, value in cond.items()]
        return and_(true(), *parts)

    def owners_of(self, f: ModelField, target_cond: ColumnElement[bool]) -> Any:
        """Ids of records whose list field ``f`` holds some target matching ``target_cond``."""
        rel = f.relation
        assert rel is not None
        target = self.x.tables.table(rel.target)
        if rel.kind == "reverse":
            return select(target.c[rel.via]).where(target_cond, target.c[rel.via].is_not(None))
        j = self.x.tables.joins[rel.table]
        return select(j.c[rel.own_column]).where(j.c[rel.other_column].in_(select(target.c.id).where(target_cond)))

    def op(self, f: ModelField, col: Any, op: str, value: Any) -> ColumnElement[bool]:
        if op == "in":
            values = [self.coerce(f, v) for v in self.resolve(value, many=True)]
            return col.in_(values) if values else false()
        if op == "isNull":
            return col.is_(None) if value else col.is_not(None)
        v = self.coerce(f, self.resolve(value))
        if op == "eq":
            return col.is_(None) if v is None else col == v
        if op == "ne":
            return col.is_not(None) if v is None else or_(col != v, col.is_(None))
        if op == "contains" and f.kind == "scalars":
            return self.list_contains(col, v)
        if op == "contains":
            return func.lower(col).contains(str(v).lower(), autoescape=True)
        if op == "startsWith":
            return func.lower(col).startswith(str(v).lower(), autoescape=True)
        return {"lt": col < v, "lte": col <= v, "gt": col > v, "gte": col >= v}[op]

    def list_contains(self, col: Any, v: Any) -> ColumnElement[bool]:
        if is_sqlite(self.x.engine):
            each = func.json_each(col).table_valued("value")
            return exists(select(literal(1)).select_from(each).where(each.c.value == v))
        return cast(col, JSONB).contains([v])

    @staticmethod
    def coerce(f: ModelField, v: Any) -> Any:
        if v is not None and (f.type_name == "ID" or f.is_reference) and not isinstance(v, str):
            return str(v)
        return v

    # -- steps ----------------------------------------------------------------------------
    def select_records(self, model: Model, where: dict[str, Any] | None, orders: list[Any] = (),
                       limit: int | None = None, offset: int | None = None) -> list[Record]:
        t = self.x.tables.table(model.name)
        stmt = select(t).where(self.where(model, where))
        for o in orders:
            c = t.c[o.field]
            stmt = stmt.order_by(c.desc() if o.direction == "desc" else c.asc())
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        return [self.x.record(model.name, r) for r in self.conn.execute(stmt).mappings()]

    def find(self, model: Model, step: Find) -> list[Record]:
        return self.select_records(model, step.where, step.orderBy, step.limit, step.offset)

    def insert(self, model: Model, step: Insert) -> list[Record]:
        self.count_touched(len(step.values), model.name)
        t = self.x.tables.table(model.name)
        ids: list[str] = []
        for values in step.values:
            row, links = self.split_values(model, values)
            row["id"] = str(row.get("id") or new_id())
            self.conn.execute(insert(t).values(**row))
            for f, target_ids in links:
                self.link(f, row["id"], target_ids, replace=False)
            ids.append(row["id"])
        return self.x.fetch_by_ids(self.conn, model.name, ids)

    def update(self, model: Model, step: Update) -> list[Record]:
        ids = [r["id"] for r in self.select_records(model, step.where)]
        self.count_touched(len(ids), model.name)
        if not ids:
            return []
        row, links = self.split_values(model, step.set)
        t = self.x.tables.table(model.name)
        if row:
            self.conn.execute(update(t).where(t.c.id.in_(ids)).values(**row))
        for f, target_ids in links:
            for own in ids:
                self.link(f, own, target_ids, replace=True)
        return self.x.fetch_by_ids(self.conn, model.name, ids)

    def delete(self, model: Model, step: Delete) -> list[Record]:
        records = self.select_records(model, step.where)
        self.count_touched(len(records), model.name)
        if records:
            t = self.x.tables.table(model.name)
            ids = [r["id"] for r in records]
            for f in model.fields.values():
                if f.relation is not None and f.relation.kind == "join":
                    j = self.x.tables.joins[f.relation.table]
                    self.conn.execute(delete(j).where(j.c[f.relation.own_column].in_(ids)))
            self.conn.execute(delete(t).where(t.c.id.in_(ids)))
        return records

    def aggregate(self, model: Model, step: Aggregate) -> list[Record]:
        t = self.x.tables.table(model.name)
        groups = [t.c[g] for g in step.groupBy]
        measures = []
        for a in step.aggregates:
            fn = AGGREGATES[a.fn]
            measures.append((fn() if a.field is None else fn(t.c[a.field])).label(a.as_))
        stmt = select(*groups, *measures).select_from(t).where(self.where(model, step.where))
        if groups:
            stmt = stmt.group_by(*groups)
        labels = {m.name: m for m in measures} | {g.name: g for g in groups}
        for o in step.orderBy:
            c = labels.get(o.field, t.c.get(o.field))
            stmt = stmt.order_by(c.desc() if o.direction == "desc" else c.asc())
        if step.limit is not None:
            stmt = stmt.limit(step.limit)
        return [{k: plain(v) for k, v in dict(r).items()} for r in self.conn.execute(stmt).mappings()]

    def call(self, step: Call) -> list[Record]:
        catalog = self.x.catalog
        c = catalog.connectors[step.connector]
        args = {k: self.resolve(v) for k, v in step.args.items()}
        return connectors.check_result(c, catalog.shape_models[c.returns], catalog, connectors.invoke(c, args))

    # -- writes helpers -------------------------------------------------------------------
    def split_values(self, model: Model, values: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[ModelField, list[str]]]]:
        """Separate column values from list references, resolving step references."""
        row: dict[str, Any] = {}
        links: list[tuple[ModelField, list[str]]] = []
        for key, raw in values.items():
            f = model.fields[key]
            if f.kind == "refs":
                ids = [str(i) for i in self.resolve(raw if raw is not None else [], many=True) if i is not None]
                self.require_existing(f.type_name, ids)
                links.append((f, ids))
                continue
            value = self.coerce(f, self.resolve(raw))
            if f.kind == "ref" and value is not None:
                self.require_existing(f.type_name, [value])
            row[key] = value
        return row, links

    def require_existing(self, model: str, ids: list[str]) -> None:
        if not ids:
            return
        t = self.x.tables.table(model)
        found = set(self.conn.execute(select(t.c.id).where(t.c.id.in_(set(ids)))).scalars())
        missing = [i for i in ids if i not in found]
        if missing:
            raise PlanFailed(f"no {model} with id {', '.join(map(repr, missing))}; nothing was changed",
                             missing=missing)

    def link(self, f: ModelField, own_id: str, target_ids: list[str], replace: bool) -> None:
        rel = f.relation
        assert rel is not None
        if rel.kind == "join":
            j = self.x.tables.joins[rel.table]
            if replace:
                self.conn.execute(delete(j).where(j.c[rel.own_column] == own_id))
            for tid in dict.fromkeys(target_ids):
                self.conn.execute(insert(j).values({rel.own_column: own_id, rel.other_column: tid}))
        else:
            target = self.x.tables.table(rel.target)
            via = target.c[rel.via]
            if replace:
                self.conn.execute(update(target).where(via == own_id).values({rel.via: None}))
            if target_ids:
                self.conn.execute(update(target).where(target.c.id.in_(target_ids)).values({rel.via: own_id}))
