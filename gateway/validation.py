"""Check a parsed plan against the SDL before anything runs.

One typed visitor walks every step's filters, values, expressions and orderings: unknown
models, fields or functions, values of the wrong type (a String expression into an ``Int``
field, a Project id into a Person reference, a title into an enum), enum values that do not
exist and references to steps that have not run yet are refused here, every error listed with
its path so the planner can send them back to the model for repair.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .dates import is_iso_date
from .errors import PlanInvalid
from .plan import FILTER_OPS, Aggregate, Call, Filter, Find, Insert, Plan, Update, is_finite_number
from .plan.nodes import (
    CREATED,
    RELATION_AGGREGATES,
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
    Node,
    Not,
    OrderItem,
    Related,
    Respectively,
    RowNumber,
    StepRef,
    walk,
)
from .plan.nodes import Filter as FilterNode
from .plan.steps import StepTree
from .plan.visitor import ScopedVisitor
from .sdl import Catalog, Model, RootField
from .types import ANY, BOOLEAN, FLOAT, INT, NULL, STRING, ValueType, field_type, fits, is_numeric, is_text, unify

TEXT_FNS = {"lower", "upper", "trim"}
LIST_FNS = ("size", "has", "append", "remove")  # functions of a list field of values
MAX_INT = 2**31
#: date arithmetic: the unit of its count, and the largest count that can stay within years 1 to 9999
DATE_STEPS = {"addDays": ("days", 3_652_058), "addMonths": ("months", 119_987), "addYears": ("years", 9_998)}


class _Scope:
    """Where an expression is evaluated: the row's model (None for insert values and call args),
    and whether positional values (rowNumber, respectively, byKey) make sense there."""

    def __init__(self, model: Model | None, positional: bool = False) -> None:
        self.model = model
        self.positional = positional


class Checker(ScopedVisitor):
    def __init__(self, catalog: Catalog, plan: Plan) -> None:
        super().__init__(catalog)
        self.plan = plan
        self.errors: list[str] = []
        self.step_outputs: list[dict[str, ValueType]] = []
        self.step_shapes: dict[int, Model] = {}  # connector records each call/filter step yields
        self.step_index = 0

    def error(self, node_or_path: Node | str, message: str) -> ValueType:
        path = node_or_path if isinstance(node_or_path, str) else node_or_path.path
        self.errors.append(f"{path}: {message}")
        return ANY

    # -- expressions ----------------------------------------------------------------------
    def expr(self, node: Expr, scope: _Scope, expected: ValueType | None = None) -> ValueType:
        """The type of ``node`` (literals are checked against ``expected`` when given)."""
        if isinstance(node, Literal):
            return self.literal(node, expected)
        if isinstance(node, ListLiteral):
            item = expected.item() if expected is not None else None
            types = [self.expr(i, scope, item) for i in node.items]
            found = item or (types[0] if types else ANY)
            return found.as_list()
        if isinstance(node, FieldRef):
            return self.field_ref(node, scope)
        if isinstance(node, StepRef):
            return self.step_ref(node)
        if isinstance(node, FnCall):
            return self.call(node, scope, expected)
        if isinstance(node, RowNumber):
            self.positional(node, scope)
            for o in node.order:
                self.order_item(o, scope)
            return INT
        if isinstance(node, Respectively):
            self.positional(node, scope)
            for o in node.order:
                self.order_item(o, scope)
            return self.branches(node, [self.expr(v, scope, expected) for v in node.values])
        if isinstance(node, ByKey):
            self.positional(node, scope)
            key = self.expr(node.key, scope)
            if not is_text(self.catalog, key):
                self.error(node.key, f"byKey matches on a text field, not {key}")
            return self.branches(node, [self.expr(v, scope, expected) for _, v in node.cases])
        if isinstance(node, Conditional):
            self.filter(node.test, scope)
            return self.branches(
                node, [self.expr(node.then, scope, expected), self.expr(node.otherwise, scope, expected)]
            )
        # the parser makes only the kinds above; kept for a node kind added later without a check here
        return self.error(node, "not a value")  # type: ignore[unreachable]  # pragma: no cover

    def literal(self, node: Literal, expected: ValueType | None) -> ValueType:
        v = node.value
        if isinstance(v, str) and not _encodable(v):
            return self.error(node, "text with an unpaired surrogate cannot be stored")
        if isinstance(v, float) and not is_finite_number(v):
            return self.error(node, f"{v!r} is not a finite number")
        if isinstance(v, dict):
            if expected is not None and expected.name != "Json":
                return self.error(node, f"an object is not a valid {expected}")
            return ValueType("Json")
        if expected is not None and v is not None and not expected.is_list and expected.name not in ("Any", "Json"):
            problem = scalar_problem(self.catalog, "ID" if expected.model else expected.name, v)
            if problem:
                return self.error(node, problem)
            return expected
        if v is None:
            return NULL
        if isinstance(v, bool):
            return BOOLEAN
        if isinstance(v, int):
            return INT
        if isinstance(v, float):
            return FLOAT
        return STRING

    def field_ref(self, node: FieldRef, scope: _Scope, through_lists: bool = False) -> ValueType:
        if scope.model is None:
            return self.error(node, "there is no row here to read a field from; give the value itself")
        model: Model = scope.model
        if node.names == (CREATED,):
            return INT
        for i, name in enumerate(node.names):
            f = model.fields.get(name)
            if f is None:
                return self.error(node, f"{model.name} has no field {name!r} (fields: {', '.join(model.fields)})")
            last = i == len(node.names) - 1
            if last:
                t = field_type(f, model.name)
                return t.item() if through_lists and f.kind == "refs" else t
            if not f.is_reference or f.type_name not in self.catalog.models:
                return self.error(node, f"{model.name}.{name} is not a reference, so {node.dotted} goes nowhere")
            if f.kind == "refs" and not through_lists:
                return self.error(node, f"{model.name}.{name} is a list; use count/sum/avg/min/max over it")
            model = self.catalog.models[f.type_name]
        return ANY  # pragma: no cover - names is never empty

    def step_ref(self, node: StepRef) -> ValueType:
        if not 0 <= node.step < self.step_index:
            return self.error(node, f"$step must name an earlier step (0..{self.step_index - 1}), got {node.step}")
        outputs = self.step_outputs[node.step]
        if node.field not in outputs:
            return self.error(node, f"step {node.step} has no field {node.field!r}")
        return outputs[node.field]

    def positional(self, node: Node, scope: _Scope) -> None:
        if not scope.positional:
            self.error(node, "rowNumber, respectively and byKey give values to the rows of an update's set")

    def branches(self, node: Node, types: list[ValueType]) -> ValueType:
        result = NULL
        for t in types:
            merged = unify(self.catalog, result, t)
            if merged is None:
                return self.error(node, f"the branches give different types ({result} and {t})")
            result = merged
        return result

    def call(self, node: FnCall, scope: _Scope, expected: ValueType | None) -> ValueType:
        fn, args = node.fn, node.args
        if fn in RELATION_AGGREGATES:
            return self.relation_aggregate(node, scope)
        if fn in LIST_FNS and args and isinstance(args[0], FieldRef) and scope.model is not None:
            first = scope.model.fields.get(args[0].names[0])
            if first is not None and first.kind == "refs" and fn == "size" and len(args[0].names) == 1:
                return self.relation_aggregate(dataclasses.replace(node, fn="count"), scope)  # its length: a count
            if first is not None and first.kind == "refs":
                return self.error(
                    args[0],
                    f"{fn} applies to list fields of values; {args[0].dotted} lists {first.type_name} records: "
                    + (
                        f"set {args[0].dotted} to the ids it should hold"
                        if fn in ("append", "remove")
                        else f'count them with {{"fn": "count", "args": [{{"field": "{args[0].dotted}"}}]}}'
                        + (" or filter through it" if fn == "has" else "")
                    ),
                )
        if fn == "coalesce":
            return self.branches(node, [self.expr(a, scope, expected) for a in args])
        types = [self.expr(a, scope) for a in args]

        def need(i: int, ok: bool, what: str) -> None:
            if not ok:
                self.error(args[i], f"{fn} takes {what} here, not {types[i]}" + _field_hint(args[i], scope))

        if fn in ("year", "month", "day"):
            need(0, is_text(self.catalog, types[0]), "a date")
            self.date_literal(args[0])
            return INT
        if fn in TEXT_FNS or fn == "length":
            need(0, is_text(self.catalog, types[0]), "text")
            return INT if fn == "length" else STRING
        if fn == "concat":
            for i, t in enumerate(types):
                need(i, not t.is_list and t.name != "Json", "single values")
            return STRING
        if fn == "toString":
            need(0, not types[0].is_list and types[0].name != "Json", "a single value")
            return STRING
        if fn == "replace":
            for i in range(3):
                need(i, is_text(self.catalog, types[i]), "text")
            return STRING
        if fn == "substring":
            need(0, is_text(self.catalog, types[0]), "text")
            for i in range(1, len(args)):
                need(i, types[i].name in ("Int", "Any") and not types[i].is_list, "an Int")
                given = args[i]
                if isinstance(given, Literal) and isinstance(given.value, int) and given.value < 0:
                    self.error(given, "substring counts from 0: its start and length are not negative")
            return STRING
        if fn in ("lpad", "rpad"):
            need(0, not types[0].is_list and types[0].name not in ("Json", "Boolean"), "text or a number")
            need(1, types[1].name in ("Int", "Any") and not types[1].is_list, "an Int width")
            if not isinstance(args[1], Literal) or not isinstance(args[1].value, int) or not 0 <= args[1].value <= 100:
                self.error(args[1], f"{fn} takes a width from 0 to 100 as a number")
            if len(args) == 3 and (
                not isinstance(args[2], Literal) or not isinstance(args[2].value, str) or len(args[2].value) != 1
            ):
                self.error(args[2], f'{fn} pads with one character, e.g. "0"')
            return STRING
        if fn in ("add", "sub", "mul", "div", "mod", "neg", "abs", "round"):
            for i, t in enumerate(types):
                need(i, is_numeric(t), "numbers")
            if fn == "div" and isinstance(args[1], Literal) and args[1].value == 0:
                self.error(args[1], "division by zero")
            if fn == "div":
                return FLOAT
            if fn == "round":
                return INT
            if fn == "mod":
                for i, t in enumerate(types):
                    need(i, t.name in ("Int", "Any"), "whole numbers")
                return INT
            return INT if all(t.name in ("Int", "Any") for t in types) else FLOAT
        if fn in ("now", "today"):
            return STRING
        if fn in DATE_STEPS:
            unit, most = DATE_STEPS[fn]
            need(0, is_text(self.catalog, types[0]), "a date")
            need(1, types[1].name in ("Int", "Any") and not types[1].is_list, f"a whole number of {unit}")
            self.date_literal(args[0])
            n = args[1].value if isinstance(args[1], Literal) else None
            if isinstance(n, int) and not isinstance(n, bool) and abs(n) > most:
                self.error(args[1], f"{fn} moves a date at most {most} {unit} (years 1 to 9999)")
            return STRING
        if fn == "size":
            need(0, types[0].is_list or types[0].name == "Any", "a list field")
            return INT
        if fn in ("append", "remove") and not types[0].is_list and is_text(self.catalog, types[0]):
            text = {"append": 'concat: {"fn": "concat", "args": [E, " more"]}', "remove": 'replace(s, part, "")'}
            return self.error(args[0], f"{fn} changes a list field; text is changed with {text[fn]}")
        if fn in ("has", "append", "remove"):
            need(0, types[0].is_list or types[0].name == "Any", "a list field")
            if isinstance(args[1], Literal) and types[0].is_list:
                self.literal(args[1], types[0].item())
            else:
                need(1, not types[1].is_list and types[1].name != "Json", "a single value")
            return BOOLEAN if fn == "has" else types[0]
        return self.error(node, f"unknown function {fn!r}")  # pragma: no cover - the parser checks names

    def date_literal(self, node: Expr) -> None:
        """A date given as text must be a real day: ``2026-02-30`` is refused before anything runs."""
        if isinstance(node, Literal) and isinstance(node.value, str) and not is_iso_date(node.value):
            self.error(node, f"{node.value!r} is not a date (YYYY-MM-DD, a real day of the years 1 to 9999)")

    def relation_aggregate(self, node: FnCall, scope: _Scope) -> ValueType:
        """``count`` of a list reference, or sum/avg/min/max of a field of the records it lists."""
        arg = node.args[0]
        if not isinstance(arg, FieldRef) or scope.model is None:
            return self.error(node, f'{node.fn} takes a list reference such as {{"field": "books.pages"}}')
        first = scope.model.fields.get(arg.names[0])
        if first is None or first.kind != "refs":
            own = (
                f'; for the row\'s own {arg.dotted} write {{"field": "{arg.dotted}"}} without {node.fn}'
                if first is not None
                else ""
            )
            return self.error(
                arg, f"{node.fn} goes over a list reference of {scope.model.name}, not {arg.dotted!r}{own}"
            )
        if len(arg.names) > 2:
            return self.error(arg, f"{node.fn} goes one list deep: {arg.names[0]}.<field>")
        t = self.field_ref(arg, scope, through_lists=True)
        if node.fn == "count":
            return INT
        if len(arg.names) != 2:
            return self.error(arg, f"{node.fn} needs the field to {node.fn}: {arg.names[0]}.<field>")
        if node.fn in ("sum", "avg") and not is_numeric(t):
            return self.error(arg, f"{node.fn} needs a number, {arg.dotted} is {t}")
        return FLOAT if node.fn == "avg" else t

    # -- filters --------------------------------------------------------------------------
    def filter(self, node: FilterNode, scope: _Scope) -> None:
        if isinstance(node, (AllOf, AnyOf)):
            for item in node.items:
                self.filter(item, scope)
        elif isinstance(node, Not):
            self.filter(node.item, scope)
        elif isinstance(node, Compare):
            self.compare(node, scope)
        elif isinstance(node, Related):
            self.related_filter(node, scope)
        elif isinstance(node, FieldTest):
            self.field_test(node, scope)

    def related_filter(self, node: Related, scope: _Scope) -> None:
        model = scope.model
        assert model is not None
        f = model.fields.get(node.field)
        if f is None:
            self.error(node, f"{model.name} has no field {node.field!r} (fields: {', '.join(model.fields)})")
            return
        target = self.target(model, node.field)
        if target is None:
            self.error(node, f'{model.name}.{node.field} is not a reference; use operators such as {{"eq": v}}')
            return
        self.filter(node.where, _Scope(target))

    def compare(self, node: Compare, scope: _Scope) -> None:
        left = self.expr(node.left, scope)
        right = self.expr(node.right, scope, left if isinstance(node.right, Literal) else None)
        if isinstance(node.left, Literal) and not isinstance(node.right, Literal):
            self.expr(node.left, scope, right)
        comparable = (
            (is_numeric(left) and is_numeric(right))
            or fits(self.catalog, left, right)
            or fits(self.catalog, right, left)
        )
        if not comparable:
            self.error(node, f"cannot compare {left} with {right}")
        elif node.op not in ("eq", "ne") and "Boolean" in (left.name, right.name):
            self.error(node, f"{node.op} does not apply to Boolean")

    def field_test(self, node: FieldTest, scope: _Scope) -> None:
        model = scope.model
        assert model is not None
        f = model.fields.get(node.field)
        if f is None:
            self.error(node, f"{model.name} has no field {node.field!r} (fields: {', '.join(model.fields)})")
            return
        t = field_type(f, model.name)
        op, value = node.op, node.value
        if op not in FILTER_OPS:
            self.error(node, f"unknown operator {op!r} (one of {', '.join(FILTER_OPS)})")
        elif op == "isNull":
            return
        elif op in ("eq", "ne") and isinstance(value, Literal) and str(value.value).lower() in ("null", "none"):
            self.error(
                value,
                f'"{value.value}" is text, not a missing value: to test whether {node.field} is set write '
                f'{{"{node.field}": {{"isNull": {"false" if op == "ne" else "true"}}}}}',
            )
        elif f.kind == "refs":
            self.error(
                node,
                f"{node.field} is a list of {f.type_name}; filter its records by nesting, "
                f'e.g. {{"{node.field}": {{"id": {{"eq": ...}}}}}}, or use isNull',
            )
        elif f.kind in ("json",):
            self.error(node, f"{op} does not apply to the embedded object {node.field}")
        elif op == "in":
            if isinstance(value, ListLiteral):
                for item in value.items:
                    self.value(item, scope, t)
            else:
                self.value(value, scope, t.as_list(), many=True)
        elif op in ("contains", "startsWith"):
            if f.kind == "scalars" and op == "contains":
                self.value(value, scope, t.item())
            elif f.kind == "scalars" or not is_text(self.catalog, t) or f.kind == "ref":
                self.error(node, f"{op} applies to text fields, not {f.name}")
            else:
                got = self.expr(value, scope, STRING)
                if not is_text(self.catalog, got):
                    self.error(value, f"{op} takes text, not {got}")
        elif f.kind == "scalars":
            self.error(node, f"{op} does not apply to list field {f.name}; use contains or size")
        else:
            if op in ("lt", "lte", "gt", "gte") and f.type_name == "Boolean":
                self.error(node, f"{op} does not apply to Boolean")
            self.value(value, scope, t)

    def value(self, node: Expr, scope: _Scope, target: ValueType, many: bool = False) -> None:
        """Check a value that is stored in or compared with a field of type ``target``."""
        actual = self.expr(node, scope, target)
        if many and isinstance(node, StepRef):  # every record of that step: its field's values
            actual = actual.as_list()
        if not fits(self.catalog, target, actual):
            self.error(node, f"a {actual} value cannot go where {target} is expected")

    # -- orderings ------------------------------------------------------------------------
    def order_item(self, node: OrderItem, scope: _Scope, extra: dict[str, ValueType] | None = None) -> None:
        if extra is not None and isinstance(node.expr, FieldRef) and node.expr.dotted in extra:
            return
        t = self.expr(node.expr, scope)
        if t.is_list or t.name == "Json":
            self.error(node, f"cannot order by a {t} value")

    # -- records --------------------------------------------------------------------------
    def record(self, path: str, model: Model, values: dict[str, Expr], scope: _Scope, inserting: bool) -> None:
        for key, node in values.items():
            f = model.fields.get(key)
            if f is None:
                self.error(f"{path}.{key}", f"{model.name} has no field {key!r} (fields: {', '.join(model.fields)})")
                continue
            if key == "id" and not inserting:
                self.error(node, "id cannot be changed")
                continue
            if isinstance(node, Literal) and node.value is None:
                if not f.nullable and f.kind != "refs":
                    self.error(node, f"{model.name}.{key} is required and cannot be null")
                continue
            target = field_type(f, model.name)
            if f.kind == "json":
                if not isinstance(node, Literal) and not isinstance(node, ListLiteral):
                    self.value(node, scope, target)
                continue
            if f.kind == "refs":
                if isinstance(node, ListLiteral):
                    for item in node.items:
                        self.value(item, scope, target.item())
                elif isinstance(node, StepRef):
                    self.value(node, scope, target, many=True)
                else:
                    self.error(node, f"{key} takes a list of {f.type_name} ids or a step reference")
                continue
            self.value(node, scope, target)
        if inserting:
            for f in model.fields.values():
                given = values.get(f.name)
                missing = given is None or (isinstance(given, Literal) and given.value is None)
                if (
                    missing
                    and not f.nullable
                    and f.stored_as_column
                    and f.name != "id"
                    and f.kind != "scalars"
                    and f.default is None
                    and not f.auto_time
                ):
                    self.error(f"{path}.{f.name}", f"{model.name}.{f.name} is required")

    # -- steps ----------------------------------------------------------------------------
    def step(self, i: int, t: StepTree) -> None:
        self.step_index = i
        step = t.step
        path = f"steps[{i}]"
        if isinstance(step, (Call, Filter)):
            shape = self.connector_step(path, i, t)
            if shape is not None:
                self.step_shapes[i] = shape
            self.step_outputs.append({n: field_type(f) for n, f in shape.fields.items()} if shape else {})
            return
        model = self.catalog.models.get(step.model)
        if model is None:
            self.error(f"{path}.model", f"unknown model {step.model!r} (models: {', '.join(self.catalog.models)})")
            self.step_outputs.append({})
            return
        row = _Scope(model)
        outputs = {n: field_type(f, model.name) for n, f in model.fields.items()}
        if t.where is not None:
            self.filter(t.where, row)
        if isinstance(step, Find):
            for o in t.order:
                self.order_item(o, row)
        elif isinstance(step, Insert):
            for j, values in enumerate(t.rows):
                self.record(f"{path}.values[{j}]", model, values, _Scope(None), inserting=True)
        elif isinstance(step, Update):
            self.record(f"{path}.set", model, t.set, _Scope(model, positional=True), inserting=False)
        elif isinstance(step, Aggregate):
            outputs = self.aggregate(path, model, t)
        self.step_outputs.append(outputs)

    def connector_step(self, path: str, i: int, t: StepTree) -> Model | None:
        """Check a call's connector and arguments, or a filter over an earlier call; return the record shape."""
        step = t.step
        if isinstance(step, Call):
            c = self.catalog.connectors.get(step.connector)
            if c is None:
                known = ", ".join(self.catalog.connectors) or "none are registered"
                self.error(f"{path}.connector", f"unknown connector {step.connector!r} ({known})")
                return None
            for node in t.args.values():
                if not isinstance(node, (Literal, ListLiteral, StepRef)):
                    self.error(node, "connector arguments are values or step references")
                elif isinstance(node, StepRef):
                    self.step_ref(node)
            for problem in c.check_args(self.resolved_args(t)):
                self.error(f"{path}.args", problem)
            return self.catalog.shapes[c.returns]
        shape = self.step_shapes.get(step.step) if 0 <= step.step < i else None
        if shape is None:
            self.error(f"{path}.step", "a filter step takes the records of an earlier call step")
            return None
        scope = _Scope(shape)
        if t.where is not None:
            self.filter(t.where, scope)
            for part in walk(t.where):
                if isinstance(part, (StepRef, Related, Compare, FnCall)):
                    self.error(part, "a filter over connector records compares its fields with plain values")
                    break
        for o in t.order:
            if not isinstance(o.expr, FieldRef):
                self.error(o, "a filter step orders by a field of the records")
            else:
                self.order_item(o, scope)
        return shape

    @staticmethod
    def resolved_args(t: StepTree) -> dict[str, Any]:
        """Arguments with step references left as placeholders strings, for the signature check."""
        out: dict[str, Any] = {}
        for name, node in t.args.items():
            if isinstance(node, Literal):
                out[name] = node.value
            elif isinstance(node, ListLiteral):
                out[name] = [i.value if isinstance(i, Literal) else None for i in node.items]
            else:
                out[name] = t.step.args[name]
        return out

    def aggregate(self, path: str, model: Model, t: StepTree) -> dict[str, ValueType]:
        step: Aggregate = t.step
        row = _Scope(model)
        names: dict[str, ValueType] = {}
        for g in step.groupBy:
            f = model.fields.get(g)
            if f is None or f.kind not in ("scalar", "enum", "ref"):
                self.error(f"{path}.groupBy", f"cannot group {model.name} by {g!r}")
                names[g] = ANY
            else:
                names[g] = field_type(f, model.name)
        for j, m in enumerate(t.measures):
            sub = f"{path}.aggregates[{j}]"
            if m.alias in names:
                self.error(sub, f"duplicate output name {m.alias!r}")
            if m.expr is None:
                if m.fn != "count":
                    self.error(sub, f"{m.fn} needs a field")
                names[m.alias] = INT
                continue
            vt = self.expr(m.expr, row)
            if vt.is_list or vt.name == "Json":
                self.error(sub, f"cannot {m.fn} a {vt} value")
            elif m.fn in ("sum", "avg") and not is_numeric(vt):
                self.error(sub, f"{m.fn} needs a number, not {vt}")
            names[m.alias] = INT if m.fn == "count" else FLOAT if m.fn == "avg" else vt
        for o in t.order:
            self.order_item(o, row, extra=names)
        return names

    def result(self, root: RootField | None) -> None:
        index = self.plan.result_index
        if not 0 <= index < len(self.plan.steps):
            self.error("result", f"result must be a step index (0..{len(self.plan.steps) - 1})")
            return
        if root is None:
            return
        step = self.plan.steps[index]
        if isinstance(step, (Call, Filter)):
            shape = self.step_shapes.get(index)
            if shape is not None and shape.name != root.type_name:
                self.error("result", f"{root.name} returns {root.type_name}; step {index} gives {shape.name} records")
            return
        if root.models and not isinstance(step, Aggregate) and step.model not in root.models:
            self.error("result", f"{root.name} returns {root.type_name}; step {index} gives {step.model}")
        if root.models and isinstance(step, Aggregate):
            self.error("result", f"{root.name} returns {root.type_name} records, not an aggregate")
        if not root.models and not isinstance(step, Aggregate):
            self.error("result", f"{root.name} returns {root.type_name}; the result step must be an aggregate")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def scalar_problem(catalog: Catalog, type_name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``type_name``, or None when it is."""
    if isinstance(value, str) and not _encodable(value):
        return "text with an unpaired surrogate cannot be stored"
    if type_name in catalog.enums:
        if value not in catalog.enums[type_name]:
            return f"{value!r} is not a {type_name} (one of {', '.join(catalog.enums[type_name])})"
        return None
    if type_name == "Int":
        ok = isinstance(value, int) and not isinstance(value, bool) and -MAX_INT <= value < MAX_INT
    elif type_name == "Float":
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and is_finite_number(value)
            and abs(value) < 1e300
        )
    elif type_name == "Boolean":
        ok = isinstance(value, bool)
    elif type_name == "ID":
        ok = isinstance(value, (str, int)) and not isinstance(value, bool)
    else:  # String and custom scalars are stored as text
        ok = isinstance(value, str)
    return None if ok else f"{value!r} is not a valid {type_name}"


def validate_plan(catalog: Catalog, plan: Plan, root: RootField | None = None) -> Plan:
    """Return the plan if it fits the SDL, else raise PlanInvalid listing every error.

    A refusal is valid as it is: it runs nothing.
    """
    if plan.refuse is not None:
        return plan
    checker = Checker(catalog, plan)
    for i, t in enumerate(plan.tree):
        checker.step(i, t)
    checker.result(root)
    if checker.errors:
        raise PlanInvalid("the plan does not fit the schema: " + "; ".join(checker.errors[:5]), errors=checker.errors)
    return plan


def _field_hint(arg: Node, scope: _Scope) -> str:
    """A text literal that names a field of the row: say how to write the field's value."""
    if not isinstance(arg, Literal) or not isinstance(arg.value, str) or scope.model is None:
        return ""
    if arg.value not in scope.model.fields:
        return ""
    return f' ("{arg.value}" is text; for the field\'s value write {{"field": "{arg.value}"}})'


def ordering_types(catalog: Catalog, plan: Plan) -> list[ValueType]:
    """The value types of a validated plan's result-step orderings (``find`` only).

    A page cursor carries values of these orderings; they are checked against these types
    before they reach the store, so a forged cursor is refused instead of failing in SQL.
    """
    checker = Checker(catalog, plan)
    index = plan.result_index
    for i, t in enumerate(plan.tree[:index]):
        checker.step(i, t)
    checker.step_index = index
    t = plan.tree[index]
    scope = _Scope(catalog.models[t.step.model])
    return [checker.expr(o.expr, scope) for o in t.order]
