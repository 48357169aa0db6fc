"""Check a parsed plan against the SDL before anything runs.

Unknown models or fields, values of the wrong type, enum values that do not exist and
references to steps that have not run yet are all refused here, with every error listed so
that the planner can send them back to the model for repair.
"""

from __future__ import annotations

from typing import Any

from .errors import PlanInvalid
from .plan import FILTER_OPS, Aggregate, Call, Filter, Find, Insert, Plan, Update, is_operator_condition, is_step_ref
from .sdl import Catalog, Model, ModelField, RootField

NUMERIC = ("Int", "Float")
ORDERED_OPS = ("lt", "lte", "gt", "gte")


class _Checker:
    def __init__(self, catalog: Catalog, plan: Plan) -> None:
        self.catalog = catalog
        self.plan = plan
        self.errors: list[str] = []
        self.step_outputs: list[set[str]] = []
        self.step_shapes: dict[int, Model] = {}  # connector records each call/filter step yields

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    # -- values ---------------------------------------------------------------------------
    def value(self, path: str, type_name: str, value: Any, step_index: int) -> None:
        if is_step_ref(value):
            self.step_ref(path, value, step_index)
            return
        problem = scalar_problem(self.catalog, type_name, value)
        if problem:
            self.error(path, problem)

    def step_ref(self, path: str, ref: dict[str, Any], step_index: int) -> None:
        target = ref.get("$step")
        extra = set(ref) - {"$step", "field"}
        if extra:
            self.error(path, f"a step reference takes only $step and field, not {sorted(extra)}")
        if not isinstance(target, int) or isinstance(target, bool) or not 0 <= target < step_index:
            self.error(path, f"$step must name an earlier step (0..{step_index - 1}), got {target!r}")
            return
        name = ref.get("field", "id")
        if name not in self.step_outputs[target]:
            self.error(path, f"step {target} has no field {name!r}")

    # -- filters --------------------------------------------------------------------------
    def where(self, path: str, model: Model, where: Any, step_index: int) -> None:
        if not isinstance(where, dict):
            self.error(path, "a filter is an object")
            return
        for key, cond in where.items():
            sub = f"{path}.{key}"
            if key in ("and", "or"):
                if not isinstance(cond, list):
                    self.error(sub, f"{key} takes a list of filters")
                    continue
                for i, c in enumerate(cond):
                    self.where(f"{sub}[{i}]", model, c, step_index)
            elif key == "not":
                self.where(sub, model, cond, step_index)
            elif key not in model.fields:
                self.error(sub, f"{model.name} has no field {key!r} (fields: {', '.join(model.fields)})")
            else:
                self.field_condition(sub, model.fields[key], cond, step_index)

    def field_condition(self, path: str, f: ModelField, cond: Any, step_index: int) -> None:
        if not isinstance(cond, dict):
            self.error(path, "a field condition is an object such as {\"eq\": value}")
            return
        if f.is_reference and not is_operator_condition(cond):
            self.where(path, self.catalog.models[f.type_name], cond, step_index)
            return
        type_name = "ID" if f.is_reference else f.type_name
        for op, value in cond.items():
            sub = f"{path}.{op}"
            if op not in FILTER_OPS:
                self.error(sub, f"unknown operator {op!r} (one of {', '.join(FILTER_OPS)})")
            elif op == "isNull":
                if not isinstance(value, bool):
                    self.error(sub, "isNull takes true or false")
            elif op == "in":
                if is_step_ref(value):
                    self.step_ref(sub, value, step_index)
                elif not isinstance(value, list):
                    self.error(sub, "in takes a list")
                else:
                    for i, v in enumerate(value):
                        self.value(f"{sub}[{i}]", type_name, v, step_index)
            elif op in ("contains", "startsWith"):
                if f.kind == "scalars" and op == "contains":
                    self.value(sub, f.type_name, value, step_index)
                elif f.kind not in ("scalar", "enum") or f.type_name in NUMERIC + ("Boolean",):
                    self.error(sub, f"{op} applies to text fields, not {f.name}")
                elif not isinstance(value, str) and not is_step_ref(value):
                    self.error(sub, f"{op} takes a string")
            elif f.kind in ("scalars", "json", "refs"):
                self.error(sub, f"{op} does not apply to list field {f.name}; use contains or a nested filter")
            else:
                if op in ORDERED_OPS and f.type_name == "Boolean":
                    self.error(sub, f"{op} does not apply to Boolean")
                self.value(sub, type_name, value, step_index)

    # -- records --------------------------------------------------------------------------
    def record(self, path: str, model: Model, values: Any, step_index: int, inserting: bool) -> None:
        if not isinstance(values, dict):
            self.error(path, "a record is an object of field values")
            return
        for key, value in values.items():
            sub = f"{path}.{key}"
            f = model.fields.get(key)
            if f is None:
                self.error(sub, f"{model.name} has no field {key!r} (fields: {', '.join(model.fields)})")
                continue
            if key == "id" and not inserting:
                self.error(sub, "id cannot be changed")
                continue
            if value is None:
                if not f.nullable and f.kind != "refs":
                    self.error(sub, f"{model.name}.{key} is required and cannot be null")
                continue
            if f.kind == "ref":
                self.value(sub, "ID", value, step_index)
            elif f.kind == "refs" or f.kind == "scalars":
                item_type = "ID" if f.kind == "refs" else f.type_name
                if is_step_ref(value):
                    self.step_ref(sub, value, step_index)
                elif not isinstance(value, list):
                    self.error(sub, f"{key} takes a list")
                else:
                    for i, v in enumerate(value):
                        self.value(f"{sub}[{i}]", item_type, v, step_index)
            elif f.kind == "json":
                if not isinstance(value, (dict, list)):
                    self.error(sub, f"{key} takes an object")
            else:
                self.value(sub, f.type_name, value, step_index)
        if inserting:
            for f in model.fields.values():
                missing = values.get(f.name) is None
                if missing and not f.nullable and f.stored_as_column and f.name != "id" and f.kind != "scalars":
                    self.error(f"{path}.{f.name}", f"{model.name}.{f.name} is required")

    def order(self, path: str, model: Model, orders: list[Any], extra: set[str] = frozenset()) -> None:
        for i, o in enumerate(orders):
            f = model.fields.get(o.field)
            if o.field in extra:
                continue
            if f is None or f.kind not in ("scalar", "enum", "ref"):
                self.error(f"{path}[{i}].field", f"cannot order {model.name} by {o.field!r}")

    # -- steps ----------------------------------------------------------------------------
    def step(self, i: int, step: Any) -> None:
        path = f"steps[{i}]"
        if isinstance(step, (Call, Filter)):
            shape = self.connector_step(path, i, step)
            if shape is not None:
                self.step_shapes[i] = shape
            self.step_outputs.append(set(shape.fields) if shape else set())
            return
        model = self.catalog.models.get(step.model)
        if model is None:
            self.error(f"{path}.model", f"unknown model {step.model!r} (models: {', '.join(self.catalog.models)})")
            self.step_outputs.append(set())
            return
        outputs = set(model.fields)
        if getattr(step, "where", None) is not None:
            self.where(f"{path}.where", model, step.where, i)
        if isinstance(step, Find):
            self.order(f"{path}.orderBy", model, step.orderBy)
        elif isinstance(step, Insert):
            for j, v in enumerate(step.values):
                self.record(f"{path}.values[{j}]", model, v, i, inserting=True)
        elif isinstance(step, Update):
            self.record(f"{path}.set", model, step.set, i, inserting=False)
        elif isinstance(step, Aggregate):
            outputs = self.aggregate(path, model, step)
        self.step_outputs.append(outputs)

    def connector_step(self, path: str, i: int, step: Call | Filter) -> Model | None:
        """Check a call's connector and arguments, or a filter over an earlier call; return the record shape."""
        if isinstance(step, Call):
            c = self.catalog.connectors.get(step.connector)
            if c is None:
                known = ", ".join(self.catalog.connectors) or "none are registered"
                self.error(f"{path}.connector", f"unknown connector {step.connector!r} ({known})")
                return None
            for problem in c.check_args(step.args):
                self.error(f"{path}.args", problem)
            return self.catalog.shape_models[c.returns]
        shape = self.step_shapes.get(step.step) if 0 <= step.step < i else None
        if shape is None:
            self.error(f"{path}.step", "a filter step takes the records of an earlier call step")
            return None
        if step.where is not None:
            self.where(f"{path}.where", shape, step.where, i)
        self.order(f"{path}.orderBy", shape, step.orderBy)
        return shape

    def aggregate(self, path: str, model: Model, step: Aggregate) -> set[str]:
        names: set[str] = set()
        for g in step.groupBy:
            f = model.fields.get(g)
            if f is None or f.kind not in ("scalar", "enum", "ref"):
                self.error(f"{path}.groupBy", f"cannot group {model.name} by {g!r}")
            names.add(g)
        for j, a in enumerate(step.aggregates):
            sub = f"{path}.aggregates[{j}]"
            if a.as_ in names:
                self.error(sub, f"duplicate output name {a.as_!r}")
            names.add(a.as_)
            if a.field is None:
                if a.fn != "count":
                    self.error(sub, f"{a.fn} needs a field")
                continue
            f = model.fields.get(a.field)
            if f is None or f.kind not in ("scalar", "enum", "ref"):
                self.error(sub, f"{model.name} has no aggregatable field {a.field!r}")
            elif a.fn in ("sum", "avg") and f.type_name not in NUMERIC:
                self.error(sub, f"{a.fn} needs a numeric field, {a.field} is {f.type_name}")
        self.order(f"{path}.orderBy", model, step.orderBy, extra=names)
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


def scalar_problem(catalog: Catalog, type_name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``type_name``, or None when it is."""
    if type_name in catalog.enums:
        if value not in catalog.enums[type_name]:
            return f"{value!r} is not a {type_name} (one of {', '.join(catalog.enums[type_name])})"
        return None
    if type_name == "Int":
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    elif type_name == "Float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif type_name == "Boolean":
        ok = isinstance(value, bool)
    elif type_name == "ID":
        ok = isinstance(value, (str, int)) and not isinstance(value, bool)
    else:  # String and custom scalars are stored as text
        ok = isinstance(value, str)
    return None if ok else f"{value!r} is not a valid {type_name}"


def validate_plan(catalog: Catalog, plan: Plan, root: RootField | None = None) -> Plan:
    """Return the plan if it fits the SDL, else raise PlanInvalid listing every error."""
    checker = _Checker(catalog, plan)
    for i, step in enumerate(plan.steps):
        checker.step(i, step)
    checker.result(root)
    if checker.errors:
        raise PlanInvalid("the plan does not fit the schema: " + "; ".join(checker.errors[:5]),
                          errors=checker.errors)
    return plan
