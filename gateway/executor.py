"""Run a validated plan on the store, all of it in one transaction.

Each store step is one SQL statement built by :mod:`gateway.sql` (``INSERT ... RETURNING``,
``UPDATE ... [FROM numbered rows] RETURNING``, ``DELETE ... RETURNING``, one ``SELECT``), so
no row ever travels to the model and no loop runs per row. Links of list references, existence
checks of referenced ids and the bulk-write check add their own statements. Every row a plan
changes counts against the field's cap, links included; any failure (a referenced record that
does not exist, a cap exceeded, a store error) rolls the whole plan back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Engine,
    Numeric,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.types import TypeEngine

from . import connectors
from .arithmetic import DIVISION_BY_ZERO, DIVISION_BY_ZERO_STATE, took_division_refusal
from .dates import SQLITE_REFUSED
from .errors import GatewayError, NothingChanged, PlanFailed, PolicyDenied, StoreError
from .plan import Aggregate, Call, Delete, Filter, Find, Insert, Plan, StepTree, Update, is_trivially_true
from .plan.nodes import Expr, ListLiteral, Literal, Respectively, RowNumber, StepRef, walk
from .sdl import Catalog, Model, ModelField
from .sql import Context, SqlCompiler, sort_key
from .store import StoreTables, is_sqlite
from .store.tables import CREATED_COLUMN

Record = dict[str, Any]
AGGREGATES: dict[str, Callable[..., ColumnElement[Any]]] = {
    "count": func.count,
    "sum": func.sum,
    "avg": func.avg,
    "min": func.min,
    "max": func.max,
}
INTERNAL_COLUMNS = (CREATED_COLUMN,)
KEY = "$key"  # hidden record keys of a keyset page (``$key0``...): no GraphQL field name starts with "$"


@dataclass(frozen=True)
class Keyset:
    """Page the result step by its ordering, then creation order, then ``id`` (its ``ORDER BY``).

    Each record carries those values under hidden keys (``$key0``... in that order) for the
    page's cursors; with ``after`` (a cursor's values) only the rows sorting past it are read.
    """

    after: tuple[Any, ...] | None = None


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def plain(value: Any) -> Any:
    """Database numbers as JSON-friendly Python numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


#: PostgreSQL's invalid_datetime_format and datetime_field_overflow: a date function met a bad date
BAD_DATE_STATES = ("22007", "22008")
BAD_DATE = (
    "a date the plan reads or computes is not a real YYYY-MM-DD day of the years 1 to 9999 "
    "(a stored value that is not a date, or a date moved past year 9999); nothing was written"
)


def refused_value(e: SQLAlchemyError) -> str | None:
    """Why the store stopped a statement on a value the plan computes, on either store: a zero
    divisor (:mod:`gateway.arithmetic`) or a bad date (:mod:`gateway.dates`); None otherwise.

    PostgreSQL says which by its SQLSTATE; SQLite only says one of the registered functions
    refused, and the divisor notes its own refusals (read here on every error, so none is left).
    """
    orig = getattr(e, "orig", None)
    state = getattr(orig, "sqlstate", None)
    division = took_division_refusal()
    sqlite_refused = isinstance(e, OperationalError) and SQLITE_REFUSED in str(orig)
    if state == DIVISION_BY_ZERO_STATE or (sqlite_refused and division):
        return DIVISION_BY_ZERO
    if state in BAD_DATE_STATES or sqlite_refused:
        return BAD_DATE
    return None


def store_error(e: SQLAlchemyError) -> GatewayError:
    """A store failure as a coded error that never echoes a stored or given value."""
    refused = refused_value(e)
    if refused is not None:
        return PlanFailed(refused)
    if isinstance(e, IntegrityError):
        what = "a uniqueness or reference rule of the store refused the change"
    elif isinstance(e, DataError):
        what = "a value did not fit its column (a bad date, a number out of range...)"
    else:
        what = f"the store failed ({type(getattr(e, 'orig', None) or e).__name__})"
    return StoreError(f"{what}; nothing was written")


class Executor:
    def __init__(self, engine: Engine, catalog: Catalog, tables: StoreTables) -> None:
        self.engine = engine
        self.catalog = catalog
        self.tables = tables
        self.sqlite = is_sqlite(engine)

    # -- entry point ----------------------------------------------------------------------
    def run(
        self,
        plan: Plan,
        max_rows: int | None = None,
        allow_bulk: bool = True,
        timezone: str | None = None,
        then: Callable[[Connection, list[Record]], None] | None = None,
        keyset: Keyset | None = None,
    ) -> list[Record]:
        """Run every step in one transaction and return the result step's records.

        ``then`` runs in the same transaction (the nested selection), so a response is one
        consistent snapshot of the store. SQLite's transaction reads one snapshot by itself; on
        other stores a plan that only reads asks for ``REPEATABLE READ`` (their default, read
        committed, gives each statement its own). A plan that writes keeps the default: its rows
        are locked until it commits, and concurrent writers queue instead of failing.
        ``keyset`` pages the result step (a ``find``).
        """
        try:
            with self.engine.connect() as conn:
                conn.execution_options(write=plan.writes)
                if not plan.writes and not self.sqlite:
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    run = PlanRun(self, conn, max_rows, allow_bulk, timezone)
                    for i, t in enumerate(plan.tree):
                        run.outputs.append(run.step(t, keyset if i == plan.result_index else None))
                    if plan.writes and run.touched == 0:
                        raise NothingChanged(
                            "the plan matched no record, so nothing was changed: "
                            + "; ".join(
                                sorted({f"no {s.model} matched" for s in plan.steps if isinstance(s, (Update, Delete))})
                            )
                        )
                    records = run.outputs[plan.result_index]
                    if then is not None:
                        then(conn, records)
                    return records
        except GatewayError:
            raise
        except SQLAlchemyError as e:
            raise store_error(e) from e

    def fetch_by_ids(self, conn: Connection, model: str, ids: list[str]) -> list[Record]:
        if not ids:
            return []
        t = self.tables.table(model)
        by_id = {r["id"]: r for r in self.records(model, conn.execute(select(t).where(t.c.id.in_(ids))))}
        return [by_id[i] for i in ids if i in by_id]

    def records(self, model: str, result: CursorResult[Any]) -> list[Record]:
        """The records of a query's rows, as :meth:`record` makes them, for many rows at once:
        what is the same for every row (which columns to drop, which may hold a ``Decimal``)
        is worked out once. Only a computed column (the hidden ordering values of a keyset
        page) or a decimal column can hold one; the tables have neither type."""
        keys = list(result.keys())
        table = self.tables.table(model)
        dropped = [k for k in keys if k in INTERNAL_COLUMNS]
        exact = [k for k in keys if k not in dropped and (k not in table.c or _may_be_decimal(table.c[k].type))]
        out = []
        for row in result:
            rec = dict(zip(keys, row, strict=True))
            for k in dropped:
                del rec[k]
            for k in exact:
                if isinstance(rec[k], Decimal):
                    rec[k] = plain(rec[k])
            rec["__typename"] = model
            out.append(rec)
        return out

    def record(self, model: str, row: Any) -> Record:
        # ``plain`` only where needed: this runs for every column of every row read
        rec = {k: plain(v) if isinstance(v, Decimal) else v for k, v in row.items() if k not in INTERNAL_COLUMNS}
        rec["__typename"] = model
        return rec

    def next_created(self, model: str, count: int) -> list[Any]:
        """Creation-order values for ``count`` new rows: PostgreSQL's identity column numbers
        them itself; SQLite (one writer at a time) continues after the highest, inside the
        same INSERT statement."""
        if not self.sqlite:
            return [None] * count
        t = self.tables.table(model)
        top = select(func.coalesce(func.max(t.c[CREATED_COLUMN]), 0)).scalar_subquery()
        return [top + (i + 1) for i in range(count)]


class PlanRun:
    """State of one plan's run: the connection, each step's output and the rows touched."""

    def __init__(
        self,
        executor: Executor,
        conn: Connection,
        max_rows: int | None,
        allow_bulk: bool = True,
        timezone: str | None = None,
    ) -> None:
        self.x = executor
        self.conn = conn
        self.max_rows = max_rows
        self.allow_bulk = allow_bulk
        self.touched = 0
        self.outputs: list[list[Record]] = []
        now = dt.datetime.now(ZoneInfo(timezone) if timezone else dt.UTC)
        self.ctx = Context(self.step_values, now=now.isoformat(timespec="seconds"), today=now.date().isoformat())
        self.sql = SqlCompiler(executor.catalog, executor.tables, executor.sqlite, self.ctx)

    def step(self, t: StepTree, keyset: Keyset | None = None) -> list[Record]:
        step = t.step
        if isinstance(step, Call):
            return self.call(t)
        if isinstance(step, Filter):
            records = [r for r in self.outputs[step.step] if t.where is None or connectors.matches(r, t.where)]
            return connectors.order_and_limit(records, t.order, step.limit)
        model = self.x.catalog.model(step.model)
        if isinstance(step, Find):
            return self.find(model, t, keyset)
        if isinstance(step, Insert):
            return self.insert(model, t)
        if isinstance(step, Update):
            return self.update(model, t)
        if isinstance(step, Delete):
            return self.delete(model, t)
        if isinstance(step, Aggregate):
            return self.aggregate(model, t)
        raise PlanFailed(f"unknown step {step!r}")  # pragma: no cover - plan types are closed

    # -- values ---------------------------------------------------------------------------
    def step_values(self, ref: StepRef, many: bool) -> Any:
        """What step ``ref.step`` returned in ``ref.field``: all values when ``many``."""
        values = [r.get(ref.field) for r in self.outputs[ref.step]]
        if many:
            return [x for v in values for x in (v if isinstance(v, list) else [v]) if x is not None]
        if not values:
            raise PlanFailed(
                f"step {ref.step} found no records, so its {ref.field} cannot be used; nothing was changed"
            )
        return values[0]

    def count_touched(self, n: int, model: str) -> None:
        self.touched += n
        if self.max_rows is not None and self.touched > self.max_rows:
            raise PolicyDenied(
                f"the plan would change {self.touched} rows ({model} and links), more than the {self.max_rows} "
                "allowed for this field (raise it with @maxRows(n: ...)); nothing was changed",
                rows=self.touched,
                maxRows=self.max_rows,
                reason="max_rows",
            )

    def row_count(self, model: Model) -> int:
        """How many rows the model has now (only needed for the bulk check)."""
        if self.allow_bulk:
            return 0
        table = self.x.tables.table(model.name)
        return self.conn.execute(select(func.count()).select_from(table)).scalar() or 0

    def check_not_bulk(self, model: Model, t: StepTree, matched: int, total: int) -> None:
        """An update or delete whose filter matches every row is a bulk change (``@allowBulk``)."""
        if self.allow_bulk:
            return
        if is_trivially_true(t.where) or (matched == total and total > 1):
            raise PolicyDenied(
                f"this {t.step.op} would change every {model.name} ({total} rows): a bulk change; "
                "mark the field @allowBulk to allow it; nothing was changed",
                reason="unfiltered",
            )

    # -- steps ----------------------------------------------------------------------------
    def find(self, model: Model, t: StepTree, keyset: Keyset | None = None) -> list[Record]:
        step: Find = t.step
        table = self.x.tables.table(model.name)
        keys = [*self.sql.order_keys(t.order, model), (table.c[CREATED_COLUMN], False), (table.c.id, False)]
        condition = self.sql.where(t.where, model)
        stmt = select(table)
        if keyset is not None:
            stmt = stmt.add_columns(*(e.label(f"{KEY}{i}") for i, (e, _) in enumerate(keys)))
            if keyset.after is not None:
                condition = and_(condition, self.sql.past(keys, keyset.after))
        stmt = stmt.where(condition).order_by(*(sort_key(e, d) for e, d in keys))
        if step.limit is not None:
            stmt = stmt.limit(step.limit)
        if step.offset:
            stmt = stmt.offset(step.offset)
        return self.x.records(model.name, self.conn.execute(stmt))

    def insert(self, model: Model, t: StepTree) -> list[Record]:
        table = self.x.tables.table(model.name)
        rows: list[dict[str, Any]] = []
        links: list[tuple[str, ModelField, list[str]]] = []
        created = self.x.next_created(model.name, len(t.rows))
        for values, seq in zip(t.rows, created, strict=True):
            row = self.with_defaults(model, {k: v for k, v in values.items() if model.fields[k].kind != "refs"})
            row["id"] = str(row.get("id") or new_id())
            if seq is not None:
                row[CREATED_COLUMN] = seq
            for key, node in values.items():
                f = model.fields[key]
                if f.kind == "refs":
                    links.append((row["id"], f, self.ids(f, node)))
            rows.append(row)
        self.count_touched(len(rows), model.name)
        columns = sorted({k for r in rows for k in r})
        stmt = insert(table).values([{c: r.get(c) for c in columns} for r in rows]).returning(*table.c)
        inserted = {r["id"]: self.x.record(model.name, r) for r in self.conn.execute(stmt).mappings()}
        for own, f, ids in links:
            self.link(f, own, ids, replace=False)
        return [inserted[r["id"]] for r in rows]

    def with_defaults(self, model: Model, values: dict[str, Expr]) -> dict[str, Any]:
        """Column values for a new row: the plan's, then ``@default``, ``@createdAt`` and friends."""
        row: dict[str, Any] = {}
        for key, node in values.items():
            row[key] = self.column_value(model.fields[key], node, model)
        for f in model.fields.values():
            if f.auto_time in ("created", "updated") or (f.auto_time == "now" and row.get(f.name) is None):
                row[f.name] = self.ctx.now
            elif f.default is not None and row.get(f.name) is None:
                row[f.name] = f.default
        return row

    def column_value(self, f: ModelField, node: Expr, model: Model | None) -> Any:
        """Python for literals and step values (checked ids), SQL for computed values."""
        if isinstance(node, (Literal, ListLiteral)):
            value = _plain_literal(node)
        elif isinstance(node, StepRef):
            value = self.step_values(node, False)
        else:
            return self.sql.expr(node, model)
        value = self.sql.coerce(f, value)
        if f.kind == "ref" and value is not None:
            self.require_existing(f.type_name, [value])
        return value

    def ids(self, f: ModelField, node: Expr) -> list[str]:
        if isinstance(node, StepRef):
            raw = self.step_values(node, True)
        elif isinstance(node, ListLiteral):
            raw = [self.step_values(i, False) if isinstance(i, StepRef) else _plain_literal(i) for i in node.items]
        else:
            raw = []
        ids = [str(i) for i in raw if i is not None]
        self.require_existing(f.type_name, ids)
        return ids

    def update(self, model: Model, t: StepTree) -> list[Record]:
        table = self.x.tables.table(model.name)
        condition = self.sql.where(t.where, model)
        total = self.row_count(model)
        positional = _positional(t.set.values())
        stmt = update(table)
        if positional is not None:
            numbered = (
                select(
                    table.c.id,
                    func.row_number()
                    .over(order_by=[*self.sql.order(positional.order, model), table.c[CREATED_COLUMN], table.c.id])
                    .label("position"),
                )
                .where(condition)
                .subquery("numbered")
            )
            self.ctx.position = numbered.c.position
            stmt = stmt.where(table.c.id == numbered.c.id)
        else:
            stmt = stmt.where(condition)
        columns: dict[str, Any] = {}
        links: list[tuple[ModelField, Expr]] = []
        for key, node in t.set.items():
            f = model.fields[key]
            if f.kind == "refs":
                links.append((f, node))
                continue
            self.ctx.extra["current"] = table.c[key]
            columns[key] = self.column_value(f, node, model)
        self.ctx.extra.pop("current", None)
        for f in model.fields.values():
            if f.auto_time == "updated":
                columns[f.name] = self.ctx.now
        if not columns:  # only links change: find the rows, then relink
            rows = self.conn.execute(select(table).where(condition)).mappings().all()
        else:
            rows = self.conn.execute(stmt.values(**columns).returning(*table.c)).mappings().all()
        self.ctx.position = None
        records = [self.x.record(model.name, r) for r in rows]
        self.count_touched(len(records), model.name)
        self.check_not_bulk(model, t, len(records), total)
        if isinstance(positional, Respectively) and len(positional.values) != len(records):
            raise PlanFailed(
                f"{len(positional.values)} values were given for {len(records)} {model.name} records; "
                "nothing was changed"
            )
        for f, node in links:
            ids = self.ids(f, node)
            for r in records:
                self.link(f, r["id"], ids, replace=True)
        if links:
            return self.x.fetch_by_ids(self.conn, model.name, [r["id"] for r in records])
        return records

    def delete(self, model: Model, t: StepTree) -> list[Record]:
        table = self.x.tables.table(model.name)
        condition = self.sql.where(t.where, model)
        linked = self.cascaded_links(model, condition)
        total = self.row_count(model)
        rows = self.conn.execute(delete(table).where(condition).returning(*table.c)).mappings().all()
        records = [self.x.record(model.name, r) for r in rows]
        self.count_touched(len(records) + linked, model.name)
        self.check_not_bulk(model, t, len(records), total)
        return records

    def cascaded_links(self, model: Model, condition: Any) -> int:
        """Links a delete takes with it (join rows, references set to null): they count as changes."""
        table = self.x.tables.table(model.name)
        doomed = select(table.c.id).where(condition)
        total = 0
        for other in self.x.catalog.models.values():
            for f in other.fields.values():
                if f.type_name != model.name or f.relation is None:
                    continue
                if f.kind == "ref":
                    ot = self.x.tables.table(other.name)
                    total += (
                        self.conn.execute(select(func.count()).select_from(ot).where(ot.c[f.name].in_(doomed))).scalar()
                        or 0
                    )
        for f in model.fields.values():
            rel = f.relation
            if rel is not None and rel.kind == "join" and rel.table is not None and rel.own_column is not None:
                j = self.x.tables.joins[rel.table]
                total += (
                    self.conn.execute(
                        select(func.count()).select_from(j).where(j.c[rel.own_column].in_(doomed))
                    ).scalar()
                    or 0
                )
        return total

    def aggregate(self, model: Model, t: StepTree) -> list[Record]:
        step: Aggregate = t.step
        table = self.x.tables.table(model.name)
        groups = [table.c[g] for g in step.groupBy]
        measures = []
        for m in t.measures:
            fn = AGGREGATES[m.fn]
            measures.append((fn() if m.expr is None else fn(self.sql.expr(m.expr, model))).label(m.alias))
        stmt = select(*groups, *measures).select_from(table).where(self.sql.where(t.where, model))
        if groups:
            stmt = stmt.group_by(*groups)
        self.ctx.extra = {m.name: m for m in measures} | {g.name: g for g in groups}
        stmt = stmt.order_by(*self.sql.order(t.order, model))
        self.ctx.extra = {}
        if step.limit is not None:
            stmt = stmt.limit(step.limit)
        return [{k: plain(v) for k, v in dict(r).items()} for r in self.conn.execute(stmt).mappings()]

    def call(self, t: StepTree) -> list[Record]:
        catalog = self.x.catalog
        step: Call = t.step
        c = catalog.connectors[step.connector]
        args = {
            k: self.step_values(v, False) if isinstance(v, StepRef) else _plain_literal(v) for k, v in t.args.items()
        }
        return connectors.check_result(c, catalog.shapes[c.returns], catalog, connectors.invoke(c, args))

    # -- links ----------------------------------------------------------------------------
    def require_existing(self, model: str, ids: list[str]) -> None:
        if not ids:
            return
        t = self.x.tables.table(model)
        found = set(self.conn.execute(select(t.c.id).where(t.c.id.in_(set(ids)))).scalars())
        missing = [i for i in ids if i not in found]
        if missing:
            raise PlanFailed(f"{len(missing)} of the {model} ids given do not exist; nothing was changed")

    def link(self, f: ModelField, own_id: str, target_ids: list[str], replace: bool) -> None:
        """Point list reference ``f`` of ``own_id`` at ``target_ids``; every changed link counts."""
        rel = f.relation
        assert rel is not None
        wanted = list(dict.fromkeys(target_ids))
        if rel.kind == "join":
            assert rel.table is not None and rel.own_column is not None and rel.other_column is not None
            j = self.x.tables.joins[rel.table]
            current = set(
                self.conn.execute(select(j.c[rel.other_column]).where(j.c[rel.own_column] == own_id)).scalars()
            )
            removed = current - set(wanted) if replace else set()
            added = [i for i in wanted if i not in current]
            self.count_touched(len(removed) + len(added), f"{f.type_name} links")
            if removed:
                self.conn.execute(delete(j).where(j.c[rel.own_column] == own_id, j.c[rel.other_column].in_(removed)))
            if added:
                self.conn.execute(insert(j).values([{rel.own_column: own_id, rel.other_column: i} for i in added]))
            return
        assert rel.via is not None
        target = self.x.tables.table(rel.target)
        via = target.c[rel.via]
        current = set(self.conn.execute(select(target.c.id).where(via == own_id)).scalars())
        removed = current - set(wanted) if replace else set()
        added = [i for i in wanted if i not in current]
        self.count_touched(len(removed) + len(added), rel.target)
        if removed:
            self.conn.execute(update(target).where(target.c.id.in_(removed)).values({rel.via: None}))
        if added:
            self.conn.execute(update(target).where(target.c.id.in_(added)).values({rel.via: own_id}))


def _may_be_decimal(t: TypeEngine[Any]) -> bool:
    return isinstance(t, Numeric) and bool(t.asdecimal)


def _plain_literal(node: Expr) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, ListLiteral):
        return [_plain_literal(i) for i in node.items]
    raise PlanFailed(f"{node.path}: a value was expected here")


def _positional(values: Any) -> RowNumber | Respectively | None:
    """The numbering an update's values rely on (one ordering per step), if any."""
    found: list[RowNumber | Respectively] = []
    for v in values:
        found.extend(n for n in walk(v) if isinstance(n, (RowNumber, Respectively)))
    if len({tuple(o.content() for o in n.order) for n in found}) > 1:
        raise PlanFailed("one update numbers its rows in one order; split the step")
    return found[0] if found else None
