"""Compile the plan's typed filters and expressions to SQLAlchemy Core, for SQLite and PostgreSQL.

Only functions of the allow-list exist here, each written once so both stores give the same
answer: text functions, arithmetic (division by zero gives null on both), ISO dates stored as
text and read by one rule on both stores (:mod:`gateway.dates`: a value that is not a real
``YYYY-MM-DD`` day stops the statement; ``addMonths``/``addYears`` clamp to the month's last
day as PostgreSQL does), scalar lists stored as JSON, and aggregates over list references as correlated
subqueries. ``now`` and ``today`` are computed once per plan run in the caller's time zone and
bound as parameters, so every row of a step sees the same instant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    Float,
    Integer,
    Numeric,
    Text,
    and_,
    case,
    cast,
    exists,
    extract,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by

from .arithmetic import SQLITE_DIVISOR
from .dates import SQLITE_ADD_DAYS, SQLITE_ADD_MONTHS, SQLITE_DAY
from .errors import PlanFailed
from .plan.nodes import (
    CREATED,
    AllOf,
    AnyOf,
    ByKey,
    Compare,
    Conditional,
    Expr,
    FieldRef,
    FieldTest,
    FnCall,
    ListLiteral,
    Literal,
    Not,
    OrderItem,
    Related,
    Respectively,
    RowNumber,
    StepRef,
)
from .plan.visitor import Visitor
from .sdl import Catalog, Model, ModelField
from .store import StoreTables
from .store.tables import CREATED_COLUMN


@dataclass
class Context:
    """What an expression may draw on while it is compiled for one step."""

    step_values: Callable[[StepRef, bool], Any]  # a step reference's value (all values when many)
    now: str
    today: str
    position: Any = None  # the row's 1-based position, for rowNumber/respectively in an update
    extra: dict[str, Any] = field(default_factory=dict)  # names an ordering may use (aggregate outputs)


class SqlCompiler(Visitor):
    """Filters and expressions of one model's rows to SQL; ``scope`` is the Model in scope."""

    def __init__(self, catalog: Catalog, tables: StoreTables, sqlite: bool, ctx: Context) -> None:
        self.catalog = catalog
        self.tables = tables
        self.sqlite = sqlite
        self.ctx = ctx

    def column(self, model: Model, name: str) -> Any:
        t = self.tables.table(model.name)
        return t.c[CREATED_COLUMN] if name == CREATED else t.c[name]

    # -- filters --------------------------------------------------------------------------
    def where(self, node: Any, model: Model) -> ColumnElement[bool]:
        return true() if node is None else self.visit(node, model)

    def visit_AllOf(self, node: AllOf, model: Model) -> ColumnElement[bool]:
        return and_(true(), *(self.visit(i, model) for i in node.items))

    def visit_AnyOf(self, node: AnyOf, model: Model) -> ColumnElement[bool]:
        return or_(false(), *(self.visit(i, model) for i in node.items))

    def visit_Not(self, node: Not, model: Model) -> ColumnElement[bool]:
        """A test on a null value is false, so its negation is true (SQL's NOT NULL is null):
        "not high priority" keeps the records with no priority, as ``ne`` does."""
        item: ColumnElement[bool] = self.visit(node.item, model)
        return not_(func.coalesce(item, false()))

    def visit_Related(self, node: Related, model: Model) -> ColumnElement[bool]:
        f = model.fields[node.field]
        target_model = self.catalog.models[f.type_name]
        target = self.tables.table(target_model.name)
        cond = self.visit(node.where, target_model)
        t = self.tables.table(model.name)
        if f.kind == "ref":
            return t.c[f.name].in_(select(target.c.id).where(cond))
        return t.c.id.in_(self.owners_of(f, cond))

    def owners_of(self, f: ModelField, target_cond: ColumnElement[bool]) -> Any:
        """Ids of records whose list field ``f`` holds some target matching ``target_cond``."""
        rel = f.relation
        assert rel is not None
        target = self.tables.table(rel.target)
        if rel.kind == "reverse":
            assert rel.via is not None
            return select(target.c[rel.via]).where(target_cond, target.c[rel.via].is_not(None))
        assert rel.table is not None and rel.own_column is not None and rel.other_column is not None
        j = self.tables.joins[rel.table]
        return select(j.c[rel.own_column]).where(j.c[rel.other_column].in_(select(target.c.id).where(target_cond)))

    def visit_FieldTest(self, node: FieldTest, model: Model) -> ColumnElement[bool]:
        f = model.fields[node.field]
        t = self.tables.table(model.name)
        if f.kind == "refs":  # only isNull: "has none" / "has some"
            owners = self.owners_of(f, true())
            return t.c.id.not_in(owners) if node.value.value else t.c.id.in_(owners)  # type: ignore[union-attr]
        col = t.c[f.name]
        op = node.op
        if op == "isNull":
            return col.is_(None) if node.value.value else col.is_not(None)  # type: ignore[union-attr]
        if op == "in":
            if isinstance(node.value, StepRef):
                values = [self.coerce(f, v) for v in self.ctx.step_values(node.value, True)]
                return col.in_(values) if values else false()
            items = node.value.items if isinstance(node.value, ListLiteral) else ()
            if not items:
                return false()
            return col.in_([self.operand(i, model, f) for i in items])
        if op == "contains" and f.kind == "scalars":
            return self.list_contains(col, self.operand(node.value, model, f))
        v = self.operand(node.value, model, f)
        if op == "contains":
            if isinstance(node.value, Literal):
                return func.lower(col).contains(str(node.value.value).lower(), autoescape=True)
            return (
                func.instr(func.lower(col), func.lower(v)) > 0
                if self.sqlite
                else func.strpos(func.lower(col), func.lower(v)) > 0
            )
        if op == "startsWith":
            if isinstance(node.value, Literal):
                return func.lower(col).startswith(str(node.value.value).lower(), autoescape=True)
            return func.substr(func.lower(col), 1, func.length(v)) == func.lower(v)
        return self.comparison(col, op, v, literal_null=isinstance(node.value, Literal) and node.value.value is None)

    def visit_Compare(self, node: Compare, model: Model) -> ColumnElement[bool]:
        left, right = self.expr(node.left, model), self.expr(node.right, model)
        return self.comparison(left, node.op, right)

    @staticmethod
    def comparison(left: ColumnElement[Any], op: str, right: Any, literal_null: bool = False) -> ColumnElement[bool]:
        if op == "eq":
            return left.is_(None) if literal_null else left == right
        if op == "ne":
            return left.is_not(None) if literal_null else or_(left != right, left.is_(None))
        ordered: dict[str, ColumnElement[bool]] = {
            "lt": left < right,
            "lte": left <= right,
            "gt": left > right,
            "gte": left >= right,
        }
        return ordered[op]

    def operand(self, node: Expr, model: Model, f: ModelField) -> Any:
        """A value compared with field ``f``: literals and step values as Python, others as SQL."""
        if isinstance(node, Literal):
            return self.coerce(f, node.value)
        if isinstance(node, StepRef):
            return self.coerce(f, self.ctx.step_values(node, False))
        return self.expr(node, model)

    def list_contains(self, col: Any, v: Any) -> ColumnElement[bool]:
        if self.sqlite:
            each = func.json_each(col).table_valued("value")
            return exists(select(literal(1)).select_from(each).where(each.c.value == v))
        return func.coalesce(cast(col, JSONB).contains(func.jsonb_build_array(v)), false())  # no list holds nothing

    @staticmethod
    def coerce(f: ModelField | None, v: Any) -> Any:
        if v is not None and f is not None and (f.type_name == "ID" or f.is_reference) and not isinstance(v, str):
            return str(v)
        return v

    # -- expressions ----------------------------------------------------------------------
    def expr(self, node: Expr, model: Model | None) -> Any:
        return self.visit(node, model)

    def visit_Literal(self, node: Literal, model: Model | None) -> Any:
        if node.value is None:
            return null()
        if isinstance(node.value, bool):
            return literal(node.value)
        if isinstance(node.value, int):
            return literal(node.value, Integer())
        if isinstance(node.value, float):
            return literal(node.value, Float())
        return literal(node.value, Text())

    def visit_StepRef(self, node: StepRef, model: Model | None) -> Any:
        value = self.ctx.step_values(node, False)
        return null() if value is None else literal(value)

    def visit_FieldRef(self, node: FieldRef, model: Model | None) -> Any:
        assert model is not None
        if node.names == (CREATED,):
            return self.column(model, CREATED)
        return self.path(model, node.names, self.tables.table(model.name))

    def path(self, model: Model, names: tuple[str, ...], table: Any) -> Any:
        """A field of the row, or of a record it references (a correlated subquery per hop)."""
        f = model.fields[names[0]]
        if len(names) == 1:
            return table.c[f.name]
        target_model = self.catalog.models[f.type_name]
        target = self.tables.table(target_model.name).alias()
        inner = self.path(target_model, names[1:], target)
        return select(inner).where(target.c.id == table.c[f.name]).scalar_subquery()

    def visit_Conditional(self, node: Conditional, model: Model | None) -> Any:
        assert model is not None
        return case((self.visit(node.test, model), self.expr(node.then, model)), else_=self.expr(node.otherwise, model))

    def visit_RowNumber(self, node: RowNumber, model: Model | None) -> Any:
        if self.ctx.position is None:
            raise PlanFailed("rowNumber gives values to the rows of an update only")
        return self.ctx.position + (node.start - 1)

    def visit_Respectively(self, node: Respectively, model: Model | None) -> Any:
        if self.ctx.position is None:
            raise PlanFailed("respectively gives values to the rows of an update only")
        return case({i + 1: self.expr(v, model) for i, v in enumerate(node.values)}, value=self.ctx.position)

    def visit_ByKey(self, node: ByKey, model: Model | None) -> Any:
        key = self.expr(node.key, model)
        return case({k: self.expr(v, model) for k, v in node.cases}, value=key, else_=self.ctx.extra.get("current"))

    def visit_FnCall(self, node: FnCall, model: Model | None) -> Any:
        fn = node.fn
        if fn in ("count", "sum", "avg", "min", "max"):
            assert model is not None
            return self.relation_aggregate(node, model)
        if fn == "size" and model is not None and _lists_records(node, model):
            return self.relation_aggregate(dataclasses.replace(node, fn="count"), model)  # validation allows it
        if fn == "now":
            return literal(self.ctx.now, Text())
        if fn == "today":
            return literal(self.ctx.today, Text())
        args = [self.expr(a, model) for a in node.args]
        return FUNCTIONS[fn](self, args, node)

    def relation_aggregate(self, node: FnCall, model: Model) -> Any:
        ref = node.args[0]
        assert isinstance(ref, FieldRef)
        f = model.fields[ref.names[0]]
        rel = f.relation
        assert rel is not None
        own = self.tables.table(model.name)
        target = self.tables.table(rel.target).alias()
        if rel.kind == "reverse":
            assert rel.via is not None
            link = target.c[rel.via] == own.c.id
            source: Any = target
        else:
            assert rel.table is not None and rel.own_column is not None and rel.other_column is not None
            j = self.tables.joins[rel.table].alias()
            source = target.join(j, j.c[rel.other_column] == target.c.id)
            link = j.c[rel.own_column] == own.c.id
        if node.fn == "count":
            return select(func.count()).select_from(source).where(link).scalar_subquery()
        value = target.c[ref.names[1]]
        aggs: dict[str, Callable[..., ColumnElement[Any]]] = {
            "sum": func.sum,
            "avg": func.avg,
            "min": func.min,
            "max": func.max,
        }
        agg = aggs[node.fn]
        measured = agg(cast(value, Float)) if node.fn == "avg" else agg(value)
        return select(measured).select_from(source).where(link).scalar_subquery()

    # -- orderings ------------------------------------------------------------------------
    def order(self, items: tuple[OrderItem, ...], model: Model) -> list[Any]:
        return [sort_key(e, descending) for e, descending in self.order_keys(items, model)]

    def order_keys(self, items: tuple[OrderItem, ...], model: Model) -> list[tuple[Any, bool]]:
        """Each ordering's SQL expression and whether it is descending."""
        out = []
        for o in items:
            if isinstance(o.expr, FieldRef) and o.expr.dotted in self.ctx.extra:
                e = self.ctx.extra[o.expr.dotted]
            else:
                e = self.expr(o.expr, model)
            out.append((e, o.descending))
        return out

    def past(self, keys: list[tuple[Any, bool]], values: tuple[Any, ...]) -> ColumnElement[bool]:
        """The rows that sort strictly after ``values`` under ``keys`` (a keyset condition).

        ``(a, b) > (x, y)`` is spelled ``a > x OR (a = x AND b > y)`` so each key keeps its own
        direction, and NULLs sit where ``sort_key`` puts them: last, in either direction.
        """
        alternatives: list[ColumnElement[bool]] = []
        equal: list[ColumnElement[bool]] = []
        for (e, descending), value in zip(keys, values, strict=True):
            if value is None:
                after = None  # nothing but a later key sorts past a NULL
            else:
                beyond = e < value if descending else e > value
                after = or_(beyond, e.is_(None))
            if after is not None:
                alternatives.append(and_(*equal, after))
            equal.append(e.is_(None) if value is None else e == value)
        return or_(false(), *alternatives)


def sort_key(e: Any, descending: bool) -> Any:
    """One ``ORDER BY`` key; NULLs come last in either direction on every store (SQLite puts
    them first ascending, PostgreSQL first descending)."""
    return (e.desc() if descending else e.asc()).nulls_last()


def _text(c: SqlCompiler, value: Any) -> Any:
    """A value as text, the same on both stores: a whole float reads "5" (PostgreSQL's
    ``float8::text``), where SQLite alone would write "5.0"."""
    if not c.sqlite:
        return cast(value, Text())
    whole = and_(func.typeof(value) == "real", value == cast(value, Integer()), func.abs(value) < 1e15)
    return case((whole, cast(cast(value, Integer()), Text())), else_=cast(value, Text()))


def _lpad(c: SqlCompiler, args: list[Any], node: FnCall, left: bool) -> Any:
    width = node.args[1].value  # type: ignore[union-attr]
    fill = node.args[2].value if len(node.args) > 2 else "0"  # type: ignore[union-attr]
    text = _text(c, args[0])
    pad = literal(fill * width, Text())
    padded = (
        func.substr(pad + text, -width if c.sqlite else func.length(pad + text) - width + 1, width)
        if left
        else func.substr(text + pad, 1, width)
    )
    return case((func.length(text) >= width, text), else_=padded)


#: PostgreSQL: a date's day (a time may follow), then anything not shaped like a day made unreadable
PG_DAY = r"^((?!0000)[0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ].*)?$"
PG_AD_DAY = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}) AD$"
PG_NOT_A_DAY = r"^(?![0-9]{4}-[0-9]{2}-[0-9]{2}$).*$"


def _pg_strict(text: Any, pattern: str) -> Any:
    """``text`` reduced to the day ``pattern`` captures, cast to DATE; anything else fails the cast.

    PostgreSQL's own date input reads "now", "2026-1-5" or "Jan 5 2026", so the value is first
    held to :mod:`gateway.dates`' rule; a day that does not exist (2026-02-30) fails the cast
    itself. The value is used once, so nested date functions never copy their operands.
    """
    day = func.regexp_replace(text, pattern, r"\1")
    return cast(func.regexp_replace(day, PG_NOT_A_DAY, "not a date"), Date())


def _day(c: SqlCompiler, value: Any) -> Any:
    """The day a date value names: ``YYYY-MM-DD`` text on SQLite, a DATE on PostgreSQL; null stays null."""
    if c.sqlite:
        return getattr(func, SQLITE_DAY)(value)
    return _pg_strict(cast(value, Text()), PG_DAY)


def _pg_text(day: Any) -> Any:
    """A computed PostgreSQL date as ``YYYY-MM-DD``; one before year 1 or after 9999 fails."""
    return func.to_char(_pg_strict(func.to_char(day, "YYYY-MM-DD AD"), PG_AD_DAY), "YYYY-MM-DD")


def _add_days(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
    if c.sqlite:
        return getattr(func, SQLITE_ADD_DAYS)(args[0], args[1])
    return _pg_text(_day(c, args[0]) + cast(args[1], Integer()))


def _add_months(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
    """Whole months, clamped to the month's last day (PostgreSQL's rule, see :mod:`gateway.dates`)."""
    if c.sqlite:
        return getattr(func, SQLITE_ADD_MONTHS)(args[0], args[1])
    return _pg_text(_day(c, args[0]) + func.make_interval(0, cast(args[1], Integer())))


def _add_years(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
    if c.sqlite:
        return getattr(func, SQLITE_ADD_MONTHS)(args[0], args[1] * 12)
    return _pg_text(_day(c, args[0]) + func.make_interval(cast(args[1], Integer())))


def _date_part(unit: str, start: int, length: int) -> Callable[[SqlCompiler, list[Any], FnCall], Any]:
    """year/month/day of a date value, read by the one rule (a value that is not a date fails)."""

    def part(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
        day = _day(c, args[0])
        if c.sqlite:
            return cast(func.substr(day, start, length), Integer())
        return cast(extract(unit, day), Integer())

    return part


def _divisor(c: SqlCompiler, value: Any) -> Any:
    """A divisor that fails the statement when it is zero, on both stores (:mod:`gateway.arithmetic`)."""
    return getattr(func, SQLITE_DIVISOR)(value) if c.sqlite else value


def _div(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
    return cast(args[0], Float()) / _divisor(c, cast(args[1], Float()))


def _size(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
    if c.sqlite:
        return func.json_array_length(args[0])
    return func.jsonb_array_length(cast(args[0], JSONB))


def _append(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
    """The list with the value at its end, unless it holds it already (a label is added once)."""
    col, v = args
    if c.sqlite:
        base = func.coalesce(cast(col, Text()), literal("[]", Text()))
        return case((c.list_contains(col, v), base), else_=func.json_insert(base, "$[#]", v))
    listed = func.coalesce(cast(col, JSONB), cast(literal("[]", Text()), JSONB))
    return cast(case((c.list_contains(col, v), listed), else_=listed.op("||")(func.jsonb_build_array(v))), JSON)


def _remove(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
    """The list without the value (every occurrence), the others in their order."""
    col, v = args
    if c.sqlite:
        each = func.json_each(col).table_valued("value", "key")
        kept = select(each.c.value).where(each.c.value != v).order_by(each.c.key).subquery()
        return select(func.json_group_array(kept.c.value)).scalar_subquery()
    items = (
        func.jsonb_array_elements(cast(col, JSONB)).table_valued("value", with_ordinality="position").render_derived()
    )
    kept_items = (
        select(
            func.coalesce(
                func.jsonb_agg(aggregate_order_by(items.c.value, items.c.position)), cast(literal("[]", Text()), JSONB)
            )
        )
        .where(func.jsonb_build_array(items.c.value) != func.jsonb_build_array(v))
        .scalar_subquery()
    )
    return cast(kept_items, JSON)


def _round(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
    return cast(func.round(cast(args[0], Float()) if c.sqlite else cast(args[0], Numeric())), Integer())


def _concat(c: SqlCompiler, args: list[Any], node: FnCall) -> Any:
    out: ColumnElement[Any] = _text(c, args[0])
    for a in args[1:]:
        out = out.op("||")(_text(c, a))
    return out


FUNCTIONS: dict[str, Callable[[SqlCompiler, list[Any], FnCall], Any]] = {
    "concat": _concat,
    "lower": lambda c, a, n: func.lower(a[0]),
    "upper": lambda c, a, n: func.upper(a[0]),
    "trim": lambda c, a, n: func.trim(a[0]),
    "replace": lambda c, a, n: func.replace(a[0], a[1], a[2]),
    "substring": lambda c, a, n: func.substr(a[0], a[1] + 1, *a[2:]),  # counts from 0, as JavaScript does
    "length": lambda c, a, n: func.length(a[0]),
    "lpad": lambda c, a, n: _lpad(c, a, n, left=True),
    "rpad": lambda c, a, n: _lpad(c, a, n, left=False),
    "toString": lambda c, a, n: _text(c, a[0]),
    "add": lambda c, a, n: _fold(a, lambda x, y: x + y),
    "sub": lambda c, a, n: a[0] - a[1],
    "mul": lambda c, a, n: _fold(a, lambda x, y: x * y),
    "div": _div,
    "mod": lambda c, a, n: a[0] % _divisor(c, a[1]),
    "neg": lambda c, a, n: -a[0],
    "abs": lambda c, a, n: func.abs(a[0]),
    "round": _round,
    "year": _date_part("year", 1, 4),
    "month": _date_part("month", 6, 2),
    "day": _date_part("day", 9, 2),
    "addDays": _add_days,
    "addMonths": _add_months,
    "addYears": _add_years,
    "size": _size,
    "has": lambda c, a, n: c.list_contains(a[0], a[1]),
    "append": _append,
    "remove": _remove,
    "coalesce": lambda c, a, n: func.coalesce(*a),
}


def _fold(args: list[Any], op: Callable[[Any, Any], Any]) -> Any:
    out = args[0]
    for a in args[1:]:
        out = op(out, a)
    return out


def _lists_records(node: FnCall, model: Model) -> bool:
    """Whether ``size``'s argument is a list reference (its size is a count of records)."""
    arg = node.args[0] if node.args else None
    f = model.fields.get(arg.names[0]) if isinstance(arg, FieldRef) and len(arg.names) == 1 else None
    return f is not None and f.kind == "refs"
