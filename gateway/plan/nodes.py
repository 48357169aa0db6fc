"""Typed nodes of the plan language: filters, expressions and orderings, parsed once from JSON.

The model answers JSON; :func:`parse_filter`, :func:`parse_expr` and :func:`parse_order` turn
each part into these frozen nodes exactly once (``Plan.tree``), and every later stage
(validation, access, policy, the SQL compiler, connector filtering, cache templating) walks
the same nodes with :class:`gateway.plan.visitor.Visitor`. Every node keeps the JSON path it
came from, so an error names the place in the plan.

Expressions (wherever a value goes)::

    "text" | 3 | true | null                      a literal
    {"field": "firstName"} / {"field": "project.name"}   the row's field, or through references
    {"$step": 0, "field": "id"}                   what an earlier step returned
    {"fn": "lower", "args": [E]}                  a function of the allow-list (FUNCTIONS)
    {"fn": "rowNumber", "orderBy": [O], "start": 0}      the row's position under an ordering
    {"fn": "respectively", "values": [E], "orderBy": [O]}  the n-th value for the n-th row
    {"fn": "byKey", "key": E, "map": {"k": E}}    a value looked up by the row's key
    {"if": FILTER, "then": E, "else": E}          a conditional

Filters::

    {"title": {"eq": E, "contains": E, ...}}      operators on a field
    {"project": {"name": {"eq": "Website"}}}      through a reference ("has some" for a list)
    {"compare": {"left": E, "op": "gt", "right": E}}   two computed operands
    {"and": [F]}, {"or": [F]}, {"not": F}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from ..errors import PlanInvalid

FILTER_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startsWith", "isNull")
COMPARE_OPS = ("eq", "ne", "lt", "lte", "gt", "gte")
CREATED = "$created"  # every model's creation order, orderable without being declared

# name -> (minimum args, maximum args or None); types are checked in validation.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "concat": (1, None),
    "lower": (1, 1),
    "upper": (1, 1),
    "trim": (1, 1),
    "replace": (3, 3),
    "substring": (2, 3),
    "length": (1, 1),
    "lpad": (2, 3),
    "rpad": (2, 3),
    "toString": (1, 1),
    "add": (2, None),
    "sub": (2, 2),
    "mul": (2, None),
    "div": (2, 2),
    "mod": (2, 2),
    "neg": (1, 1),
    "abs": (1, 1),
    "round": (1, 1),
    "now": (0, 0),
    "today": (0, 0),
    "year": (1, 1),
    "month": (1, 1),
    "day": (1, 1),
    "addDays": (2, 2),
    "addMonths": (2, 2),
    "addYears": (2, 2),
    "size": (1, 1),
    "has": (2, 2),
    "append": (2, 2),
    "remove": (2, 2),
    "coalesce": (2, None),
    "count": (1, 1),
    "sum": (1, 1),
    "avg": (1, 1),
    "min": (1, 1),
    "max": (1, 1),
}
RELATION_AGGREGATES = ("count", "sum", "avg", "min", "max")
# How the prompt names a function's arguments where the order is not obvious.
SIGNATURES = {
    "replace": "s, from, to",
    "substring": "s, start from 0, length",
    "lpad": 'x, width, "0"',
    "rpad": 'x, width, " "',
    "addDays": "date, n",
    "addMonths": "date, n",
    "addYears": "date, n",
    "size": "list",
    "has": "list, v",
    "append": "list, v",
    "remove": "list, v",
}
MAX_DEPTH = 24
MAX_NODES = 2000


@dataclass(frozen=True)
class Node:
    """Base of every node; ``path`` is where it sits in the plan's JSON."""

    path: str

    def children(self) -> Iterator[Node]:
        return iter(())

    def content(self) -> tuple[Any, ...]:
        """The node's content without its path: equal keys mean the same meaning."""
        parts: list[Any] = [type(self).__name__]
        for f in fields(self):
            if f.name != "path":
                parts.append(_key(getattr(self, f.name)))
        return tuple(parts)


def _key(value: Any) -> Any:
    if isinstance(value, Node):
        return value.content()
    if isinstance(value, tuple):
        return tuple(_key(v) for v in value)
    if isinstance(value, (list, dict)):
        return repr(value)
    return (type(value).__name__, value)


# -- expressions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True)
class ListLiteral(Node):
    items: tuple[Expr, ...]

    def children(self) -> Iterator[Node]:
        return iter(self.items)


@dataclass(frozen=True)
class FieldRef(Node):
    """A field of the row in scope; several names walk through single references."""

    names: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.names)


@dataclass(frozen=True)
class StepRef(Node):
    step: int
    field: str = "id"


@dataclass(frozen=True)
class FnCall(Node):
    fn: str
    args: tuple[Expr, ...]

    def children(self) -> Iterator[Node]:
        return iter(self.args)


@dataclass(frozen=True)
class OrderItem(Node):
    expr: Expr
    descending: bool = False

    def children(self) -> Iterator[Node]:
        yield self.expr


@dataclass(frozen=True)
class RowNumber(Node):
    """1, 2, 3... (from ``start``) in the order given, over the rows the step touches."""

    order: tuple[OrderItem, ...]
    start: int = 1

    def children(self) -> Iterator[Node]:
        return iter(self.order)


@dataclass(frozen=True)
class Respectively(Node):
    """The first value for the first row under ``order``, the second for the second..."""

    values: tuple[Expr, ...]
    order: tuple[OrderItem, ...]

    def children(self) -> Iterator[Node]:
        yield from self.values
        yield from self.order


@dataclass(frozen=True)
class ByKey(Node):
    """The value whose key equals the row's ``key``; rows whose key is not listed keep theirs."""

    key: Expr
    cases: tuple[tuple[str, Expr], ...]

    def children(self) -> Iterator[Node]:
        yield self.key
        for _, value in self.cases:
            yield value


@dataclass(frozen=True)
class Conditional(Node):
    test: Filter
    then: Expr
    otherwise: Expr

    def children(self) -> Iterator[Node]:
        yield self.test
        yield self.then
        yield self.otherwise


Expr = Literal | ListLiteral | FieldRef | StepRef | FnCall | RowNumber | Respectively | ByKey | Conditional


# -- filters ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AllOf(Node):
    items: tuple[Filter, ...]

    def children(self) -> Iterator[Node]:
        return iter(self.items)


@dataclass(frozen=True)
class AnyOf(Node):
    items: tuple[Filter, ...]

    def children(self) -> Iterator[Node]:
        return iter(self.items)


@dataclass(frozen=True)
class Not(Node):
    item: Filter

    def children(self) -> Iterator[Node]:
        yield self.item


@dataclass(frozen=True)
class FieldTest(Node):
    """One operator on one field of the row in scope, e.g. ``title contains "login"``."""

    field: str
    op: str
    value: Expr

    def children(self) -> Iterator[Node]:
        yield self.value


@dataclass(frozen=True)
class Related(Node):
    """A filter on the records a reference points at ("has some" for a list reference)."""

    field: str
    where: Filter

    def children(self) -> Iterator[Node]:
        yield self.where


@dataclass(frozen=True)
class Compare(Node):
    left: Expr
    op: str
    right: Expr

    def children(self) -> Iterator[Node]:
        yield self.left
        yield self.right


Filter = AllOf | AnyOf | Not | FieldTest | Related | Compare


# -- parsing ---------------------------------------------------------------------------------
@dataclass
class _Budget:
    """Caps how deep and how large a plan's trees may be, so a hostile answer stays cheap."""

    nodes: int = 0
    max_nodes: int | None = MAX_NODES

    def spend(self, path: str, depth: int) -> None:
        self.nodes += 1
        if depth > MAX_DEPTH:
            raise PlanInvalid(f"{path}: nested deeper than {MAX_DEPTH} levels", errors=[f"{path}: too deep"])
        if self.max_nodes is not None and self.nodes > self.max_nodes:
            raise PlanInvalid(f"the plan has more than {MAX_NODES} nodes", errors=[f"{path}: too many nodes"])


def _bad(path: str, message: str) -> PlanInvalid:
    return PlanInvalid(f"{path}: {message}", errors=[f"{path}: {message}"])


def is_operator_condition(cond: Any) -> bool:
    """``{"eq": ..}``-style: operators on the field itself, not a filter on a referenced model."""
    return isinstance(cond, dict) and set(cond) <= set(FILTER_OPS)


def is_step_ref(value: Any) -> bool:
    return isinstance(value, dict) and "$step" in value


class Parser:
    """Turns the JSON parts of one plan into nodes; shares one budget across the plan."""

    def __init__(self, max_nodes: int | None = MAX_NODES) -> None:
        self.budget = _Budget(max_nodes=max_nodes)

    def filter(self, raw: Any, path: str, depth: int = 0) -> Filter:
        self.budget.spend(path, depth)
        if not isinstance(raw, dict):
            raise _bad(path, "a filter is an object")
        items: list[Filter] = []
        for key, cond in raw.items():
            sub = f"{path}.{key}"
            if key in ("and", "or"):
                if not isinstance(cond, list):
                    raise _bad(sub, f"{key} takes a list of filters")
                parts = tuple(self.filter(c, f"{sub}[{i}]", depth + 1) for i, c in enumerate(cond))
                items.append(AllOf(sub, parts) if key == "and" else AnyOf(sub, parts))
            elif key == "not":
                items.append(Not(sub, self.filter(cond, sub, depth + 1)))
            elif key == "compare":
                items.append(self.compare(cond, sub, depth + 1))
            elif not isinstance(cond, dict):
                raise _bad(sub, 'a field condition is an object such as {"eq": value}')
            elif is_operator_condition(cond):
                items.extend(self.field_test(key, op, value, f"{sub}.{op}", depth + 1) for op, value in cond.items())
            else:
                items.append(Related(sub, key, self.filter(cond, sub, depth + 1)))
        return items[0] if len(items) == 1 else AllOf(path, tuple(items))

    def field_test(self, name: str, op: str, value: Any, path: str, depth: int) -> FieldTest:
        if op == "isNull":
            if not isinstance(value, bool):
                raise _bad(path, "isNull takes true or false")
            return FieldTest(path, name, op, Literal(path, value))
        if op == "in" and not is_step_ref(value) and not isinstance(value, list):
            raise _bad(path, "in takes a list")
        return FieldTest(path, name, op, self.expr(value, path, depth + 1))

    def compare(self, raw: Any, path: str, depth: int) -> Compare:
        if not isinstance(raw, dict) or set(raw) != {"left", "op", "right"}:
            raise _bad(path, 'compare takes {"left": E, "op": "gt", "right": E}')
        if raw["op"] not in COMPARE_OPS:
            raise _bad(f"{path}.op", f"unknown comparison {raw['op']!r} (one of {', '.join(COMPARE_OPS)})")
        return Compare(
            path,
            self.expr(raw["left"], f"{path}.left", depth + 1),
            raw["op"],
            self.expr(raw["right"], f"{path}.right", depth + 1),
        )

    def order(self, raw: Any, path: str, depth: int = 0) -> tuple[OrderItem, ...]:
        if not isinstance(raw, list):
            raise _bad(path, "orderBy takes a list")
        out = []
        for i, item in enumerate(raw):
            sub = f"{path}[{i}]"
            self.budget.spend(sub, depth)
            if hasattr(item, "model_dump"):
                item = item.model_dump(exclude_none=True)
            if not isinstance(item, dict):
                raise _bad(sub, 'an ordering is {"field": f, "direction": "asc"|"desc"}')
            direction = item.get("direction", "asc")
            if direction not in ("asc", "desc"):
                raise _bad(f"{sub}.direction", "direction is asc or desc")
            if "expr" in item:
                expr = self.expr(item["expr"], f"{sub}.expr", depth + 1)
            elif isinstance(item.get("field"), str):
                expr = FieldRef(f"{sub}.field", tuple(item["field"].split(".")))
            else:
                raise _bad(sub, "an ordering names a field or gives an expr")
            out.append(OrderItem(sub, expr, direction == "desc"))
        return tuple(out)

    def expr(self, raw: Any, path: str, depth: int = 0) -> Expr:
        self.budget.spend(path, depth)
        if raw is None or isinstance(raw, (str, int, float, bool)):
            return Literal(path, raw)
        if isinstance(raw, list):
            return ListLiteral(path, tuple(self.expr(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(raw)))
        if not isinstance(raw, dict):
            raise _bad(path, "not a value")
        if "$step" in raw:
            step, name = raw.get("$step"), raw.get("field", "id")
            if set(raw) - {"$step", "field"}:
                raise _bad(
                    path, f"a step reference takes only $step and field, not {sorted(set(raw) - {'$step', 'field'})}"
                )
            if not isinstance(step, int) or isinstance(step, bool) or not isinstance(name, str):
                raise _bad(path, 'a step reference is {"$step": <step index>, "field": <name>}')
            return StepRef(path, step, name)
        if "if" in raw:
            if set(raw) != {"if", "then", "else"}:
                raise _bad(path, 'a conditional is {"if": FILTER, "then": E, "else": E}')
            return Conditional(
                path,
                self.filter(raw["if"], f"{path}.if", depth + 1),
                self.expr(raw["then"], f"{path}.then", depth + 1),
                self.expr(raw["else"], f"{path}.else", depth + 1),
            )
        if "fn" in raw:
            return self.call(raw, path, depth)
        if set(raw) == {"field"} and isinstance(raw["field"], str) and raw["field"]:
            return FieldRef(path, tuple(raw["field"].split(".")))
        return Literal(path, raw)  # an embedded object's value; validation checks where it may go

    def call(self, raw: dict[str, Any], path: str, depth: int) -> Expr:
        fn = raw["fn"]
        if fn == "rowNumber":
            start = raw.get("start", 1)
            if set(raw) - {"fn", "orderBy", "start"} or not isinstance(start, int) or isinstance(start, bool):
                raise _bad(path, 'rowNumber is {"fn": "rowNumber", "orderBy": [...], "start": n}')
            return RowNumber(path, self.order(raw.get("orderBy", []), f"{path}.orderBy", depth + 1), start)
        if fn == "respectively":
            if set(raw) - {"fn", "values", "orderBy"} or not isinstance(raw.get("values"), list) or not raw["values"]:
                raise _bad(path, 'respectively is {"fn": "respectively", "values": [...], "orderBy": [...]}')
            return Respectively(
                path,
                tuple(self.expr(v, f"{path}.values[{i}]", depth + 1) for i, v in enumerate(raw["values"])),
                self.order(raw.get("orderBy", []), f"{path}.orderBy", depth + 1),
            )
        if fn == "byKey":
            cases = raw.get("map")
            if set(raw) != {"fn", "key", "map"} or not isinstance(cases, dict) or not cases:
                raise _bad(path, 'byKey is {"fn": "byKey", "key": E, "map": {"key": value}}')
            return ByKey(
                path,
                self.expr(raw["key"], f"{path}.key", depth + 1),
                tuple((str(k), self.expr(v, f"{path}.map.{k}", depth + 1)) for k, v in cases.items()),
            )
        if fn not in FUNCTIONS:
            known = ", ".join([*FUNCTIONS, "rowNumber", "respectively", "byKey"])
            raise _bad(f"{path}.fn", f"unknown function {fn!r} (allowed: {known})")
        if set(raw) - {"fn", "args"}:
            raise _bad(path, f"{fn} takes only args, not {sorted(set(raw) - {'fn', 'args'})}")
        args = raw.get("args", [])
        if not isinstance(args, list):
            raise _bad(f"{path}.args", "args is a list")
        low, high = FUNCTIONS[fn]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = f"{low}" if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
            raise _bad(f"{path}.args", f"{fn} takes {wanted} arguments, got {len(args)}")
        return FnCall(path, fn, tuple(self.expr(a, f"{path}.args[{i}]", depth + 1) for i, a in enumerate(args)))


def walk(node: Node) -> Iterator[Node]:
    """Every node under ``node``, itself first."""
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        todo.extend(reversed(list(current.children())))


def is_trivially_true(f: Filter | None) -> bool:
    """A filter that matches every row whatever the data: absent, or an empty ``and``."""
    return f is None or (isinstance(f, AllOf) and all(is_trivially_true(i) for i in f.items))
