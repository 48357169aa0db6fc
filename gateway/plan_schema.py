"""The JSON Schema a model's answer must satisfy, narrowed to one root field.

Small models need the narrowing: model names, field names, operators and enum values are
listed as enums, so a grammar-constrained decoder cannot even spell an unknown field, and a
``Query`` field's schema offers no write steps at all.
"""

from __future__ import annotations

from typing import Any

from .plan.nodes import COMPARE_OPS, CREATED, FUNCTIONS
from .sdl import Catalog, Model, ModelField, RootField

NUMBER_TYPES = {"Int": {"type": "integer"}, "Float": {"type": "number"}, "Boolean": {"type": "boolean"}}
READ_OPS = ("find", "aggregate")
ALL_OPS = ("find", "insert", "update", "delete", "aggregate")


def reachable_models(catalog: Catalog, root: RootField) -> list[str]:
    """Models the field returns plus every model they reference, transitively."""
    if not root.models:
        return list(catalog.models)
    seen: list[str] = []
    todo = list(root.models)
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.append(name)
        todo.extend(f.type_name for f in catalog.models[name].fields.values() if f.is_reference)
    return seen


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _scalar(catalog: Catalog, type_name: str) -> dict[str, Any]:
    if type_name in catalog.enums:
        return {"enum": list(catalog.enums[type_name])}
    return dict(NUMBER_TYPES.get(type_name, {"type": "string"}))


def _value(catalog: Catalog, type_name: str) -> dict[str, Any]:
    """A literal of the type, what an earlier step returned, or a function of such values.

    Enums and flags take a literal only: no function gives one (a model offered
    ``upper("low")`` for an enum took it), and a model whose own spelling ("low") the grammar
    refused took the step reference instead, three times over ("with low priority", the eval).
    """
    if type_name in catalog.enums or type_name == "Boolean":
        return _scalar(catalog, type_name)
    return {"anyOf": [_scalar(catalog, type_name), _ref("StepRef"), _ref("Fn")]}


def _row_value(catalog: Catalog, type_name: str, model: Model) -> dict[str, Any]:
    """A value computed from the row being changed (update ``set``)."""
    return {
        "anyOf": [
            _scalar(catalog, type_name),
            _ref("StepRef"),
            _ref(f"SetExpr_{model.name}"),
        ]
    }


def _field_paths(catalog: Catalog, model: Model) -> list[str]:
    """Names an expression may read: the row's fields, one hop through a reference, creation order."""
    names = [f.name for f in model.fields.values() if f.kind != "json"]
    for f in model.fields.values():
        target = catalog.models.get(f.type_name)
        if target is not None:
            names += [f"{f.name}.{g.name}" for g in target.fields.values() if g.kind in ("scalar", "enum")]
    return [*names, CREATED]


def _expression(model: str, kind: str, *more: dict[str, Any]) -> dict[str, Any]:
    """A value computed for a row of ``model``: a literal, a field, an earlier step's value, a
    function or a conditional whose operands are again ``kind``, or one of ``more``."""
    me = _ref(f"{kind}_{model}")
    return {
        "anyOf": [
            {"type": ["string", "number", "boolean", "null"]},
            _ref(f"Field_{model}"),
            _ref("StepRef"),
            {
                "type": "object",
                "properties": {"fn": {"enum": list(FUNCTIONS)}, "args": {"type": "array", "items": me}},
                "required": ["fn", "args"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"if": _ref(f"Where_{model}"), "then": me, "else": me},
                "required": ["if", "then", "else"],
                "additionalProperties": False,
            },
            *more,
        ]
    }


def _expressions(catalog: Catalog, model: Model, defs: dict[str, Any]) -> None:
    """Expression defs for rows of ``model``: field references, functions, conditionals, numbering."""
    me = _ref(f"Expr_{model.name}")
    name = model.name
    defs[f"Field_{name}"] = {
        "type": "object",
        "properties": {"field": {"enum": _field_paths(catalog, model)}},
        "required": ["field"],
        "additionalProperties": False,
    }
    defs[f"Expr_{name}"] = _expression(name, "Expr")
    # In an update's set, numbering may sit inside a function ("00000" + n: lpad(rowNumber(...)));
    # the grammar allowed it only at the top, and forced the model off its choice of rowNumber
    # (into addDays of now() for "phone numbers from 00000", the scenario).
    defs[f"SetExpr_{name}"] = _expression(name, "SetExpr", _ref(f"Positional_{name}"))
    order = {"type": "array", "items": _ref(f"Order_{name}")}
    defs[f"Order_{name}"] = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"field": {"enum": _orderable(model)}, "direction": {"enum": ["asc", "desc"]}},
                "required": ["field", "direction"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"expr": me, "direction": {"enum": ["asc", "desc"]}},
                "required": ["expr", "direction"],
                "additionalProperties": False,
            },
        ]
    }
    defs[f"Positional_{name}"] = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"fn": {"const": "rowNumber"}, "orderBy": order, "start": {"type": "integer"}},
                "required": ["fn", "orderBy", "start"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "fn": {"const": "respectively"},
                    "values": {"type": "array", "items": me},
                    "orderBy": order,
                },
                "required": ["fn", "values", "orderBy"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "fn": {"const": "byKey"},
                    "key": me,  # a field, or computed: a whole name from first and last name
                    "map": {"type": "object", "additionalProperties": me},
                },
                "required": ["fn", "key", "map"],
                "additionalProperties": False,
            },
        ]
    }


def _cond_name(f: ModelField) -> str:
    return "Cond_ID" if f.is_reference else f"Cond_{f.type_name}"


def _condition(catalog: Catalog, type_name: str, text: bool) -> dict[str, Any]:
    # A function of values only where it is the natural way to say it (dates: "today + 7");
    # numbers, enums and flags compare with literals (or a step's value), and computed
    # operands go through "compare". A small model offered a function after "gt" for a number
    # was seen nesting add/mul/div until the token limit.
    value = (
        _value(catalog, type_name)
        if type_name not in NUMBER_TYPES and type_name not in catalog.enums
        else {"anyOf": [_scalar(catalog, type_name), _ref("StepRef")]}
    )
    props: dict[str, Any] = dict.fromkeys(("eq", "ne"), value)
    if type_name in ("Int", "Float", "String", "ID") or (
        type_name not in NUMBER_TYPES and type_name not in catalog.enums
    ):
        props.update(dict.fromkeys(("lt", "lte", "gt", "gte"), value))
    props["in"] = {"type": "array", "items": value}
    if text:
        props.update(contains={"type": "string"}, startsWith={"type": "string"})
    props["isNull"] = {"type": "boolean"}
    return {"type": "object", "properties": props, "additionalProperties": False}


def _where(model: Model, computed: bool = True) -> dict[str, Any]:
    me = _ref(f"Where_{model.name}")
    props: dict[str, Any] = {"and": {"type": "array", "items": me}, "or": {"type": "array", "items": me}, "not": me}
    if computed:
        expr = _ref(f"Expr_{model.name}")
        props["compare"] = {
            "type": "object",
            "properties": {"left": expr, "op": {"enum": list(COMPARE_OPS)}, "right": expr},
            "required": ["left", "op", "right"],
            "additionalProperties": False,
        }
    for f in model.fields.values():
        if f.kind in ("scalar", "enum"):
            props[f.name] = _ref(_cond_name(f))
        elif f.kind == "scalars":
            props[f.name] = {"type": "object", "properties": {"contains": _value_ref(f)}, "additionalProperties": False}
        elif f.kind == "ref":
            props[f.name] = {"anyOf": [_ref(f"Where_{f.type_name}"), _ref("Cond_ID")]}
        elif f.kind == "refs":
            props[f.name] = _ref(f"Where_{f.type_name}")
    return {"type": "object", "properties": props, "additionalProperties": False}


def _value_ref(f: ModelField) -> dict[str, Any]:
    return {"anyOf": [NUMBER_TYPES.get(f.type_name, {"type": "string"}), _ref("StepRef")]}


def _record(catalog: Catalog, model: Model, inserting: bool, reachable: set[str]) -> dict[str, Any]:
    """An insert's values or an update's ``set``; a reference takes an id, a step's value, or a
    filter on the referenced model (the record it names: see ``plan/lookups.py``)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in model.fields.values():
        if (f.name == "id" and not inserting) or f.auto_time in ("created", "updated"):
            continue
        if f.kind in ("scalar", "enum"):
            props[f.name] = _value(catalog, f.type_name) if inserting else _row_value(catalog, f.type_name, model)
        elif f.kind == "scalars":
            whole = {"type": "array", "items": _scalar(catalog, f.type_name)}
            # an update adds to or takes from the row's own list ("add the label x"): written
            # as a whole list, the model replaced what was there
            changed = {
                "type": "object",
                "properties": {
                    "fn": {"enum": ["append", "remove"]},
                    "args": {
                        "type": "array",
                        "items": {"anyOf": [_ref(f"Field_{model.name}"), _scalar(catalog, f.type_name)]},
                    },
                },
                "required": ["fn", "args"],
                "additionalProperties": False,
            }
            props[f.name] = whole if inserting else {"anyOf": [whole, changed]}
        elif f.kind == "json":
            props[f.name] = {"type": "object"}
        elif f.kind == "ref":
            lookup = [_ref(f"Where_{f.type_name}")] if f.type_name in reachable else []
            props[f.name] = {"anyOf": [*_value(catalog, "ID")["anyOf"], *lookup]}
        else:
            ids = {"type": "array", "items": _value(catalog, "ID")}
            props[f.name] = {"anyOf": [ids, _ref(f"Where_{f.type_name}")]} if f.type_name in reachable else ids
        if (
            inserting
            and not f.nullable
            and f.kind in ("scalar", "enum", "ref")
            and f.name != "id"
            and f.default is None
            and f.auto_time is None
        ):
            required.append(f.name)
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    if not inserting:
        schema["minProperties"] = 1
    return schema


def _orderable(model: Model) -> list[str]:
    return [*(f.name for f in model.fields.values() if f.kind in ("scalar", "enum", "ref")), CREATED]


def _order(model: Model) -> dict[str, Any]:
    return {"type": "array", "items": _ref(f"Order_{model.name}")}


def _steps(catalog: Catalog, model: Model, ops: tuple[str, ...]) -> list[dict[str, Any]]:
    name = model.name

    def head(op: str) -> dict[str, Any]:
        return {"op": {"const": op}, "model": {"const": name}}

    where = _ref(f"Where_{name}")
    order = _order(model)
    numeric = {"type": "integer", "minimum": 0}
    shapes = {
        "find": ({**head("find"), "where": where, "orderBy": order, "limit": numeric, "offset": numeric}, []),
        "insert": (
            {**head("insert"), "values": {"type": "array", "minItems": 1, "items": _ref(f"Values_{name}")}},
            ["values"],
        ),
        "update": ({**head("update"), "where": where, "set": _ref(f"Set_{name}")}, ["where", "set"]),
        "delete": ({**head("delete"), "where": where}, ["where"]),
        "aggregate": (
            {
                **head("aggregate"),
                "where": where,
                "groupBy": {"type": "array", "items": {"enum": _orderable(model)[:-1]}},
                "aggregates": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "fn": {"enum": ["count", "sum", "avg", "min", "max"]},
                            "field": {"anyOf": [{"enum": _orderable(model)[:-1]}, {"type": "null"}]},
                            "expr": _ref(f"Expr_{name}"),
                            "as": {"type": "string"},
                        },
                        "required": ["fn", "field", "as"],
                        "additionalProperties": False,
                    },
                },
                "orderBy": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "direction": {"enum": ["asc", "desc"]}},
                        "required": ["field", "direction"],
                        "additionalProperties": False,
                    },
                },
                "limit": numeric,
            },
            ["aggregates"],
        ),
    }
    out = []
    for op in ops:
        props, required = shapes[op]
        out.append(
            {
                "type": "object",
                "properties": props,
                "required": ["op", "model", *required],
                "additionalProperties": False,
            }
        )
    return out


def connectors_for(catalog: Catalog, root: RootField) -> list[Any]:
    """Connectors whose records this field returns; side-effecting ones only on writable fields."""
    return [
        c for c in catalog.connectors.values() if c.returns == root.type_name and not (root.readonly and c.side_effects)
    ]


def _connector_steps(catalog: Catalog, root: RootField, defs: dict[str, Any]) -> list[dict[str, Any]]:
    found = connectors_for(catalog, root)
    if not found:
        return []
    shape = catalog.shapes[root.type_name]
    defs[f"Where_{shape.name}"] = _where(shape, computed=False)
    for f in shape.fields.values():
        if f.kind in ("scalar", "enum") and _cond_name(f) not in defs:
            text = f.type_name not in NUMBER_TYPES and f.type_name not in catalog.enums
            defs[_cond_name(f)] = _condition(catalog, f.type_name, text)
    steps = [
        {
            "type": "object",
            "properties": {"op": {"const": "call"}, "connector": {"const": c.name}, "args": c.args_schema()},
            "required": ["op", "connector", "args"],
            "additionalProperties": False,
        }
        for c in found
    ]
    order = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"field": {"enum": _orderable(shape)[:-1]}, "direction": {"enum": ["asc", "desc"]}},
            "required": ["field", "direction"],
            "additionalProperties": False,
        },
    }
    steps.append(
        {
            "type": "object",
            "properties": {
                "op": {"const": "filter"},
                "step": {"type": "integer", "minimum": 0},
                "where": _ref(f"Where_{shape.name}"),
                "orderBy": order,
                "limit": {"type": "integer", "minimum": 0},
            },
            "required": ["op", "step"],
            "additionalProperties": False,
        }
    )
    return steps


def plan_json_schema(catalog: Catalog, root: RootField) -> dict[str, Any]:
    """The narrowed JSON Schema for plans answering ``root``."""
    names = reachable_models(catalog, root)
    ops = READ_OPS if root.readonly else ALL_OPS
    defs: dict[str, Any] = {
        "StepRef": {
            "type": "object",
            "properties": {"$step": {"type": "integer", "minimum": 0}, "field": {"type": "string"}},
            "required": ["$step", "field"],
            "additionalProperties": False,
        },
        "Fn": {
            "type": "object",
            "properties": {
                "fn": {"enum": list(FUNCTIONS)},
                "args": {
                    "type": "array",
                    "items": {
                        "anyOf": [{"type": ["string", "number", "boolean", "null"]}, _ref("StepRef"), _ref("Fn")]
                    },
                },
            },
            "required": ["fn", "args"],
            "additionalProperties": False,
        },
    }
    steps: list[dict[str, Any]] = []
    for name in names:
        model = catalog.models[name]
        defs[f"Where_{name}"] = _where(model)
        _expressions(catalog, model, defs)
        for f in model.fields.values():
            if f.kind in ("scalar", "enum", "ref", "refs"):
                cond = _cond_name(f)
                if cond not in defs:
                    type_name = "ID" if f.is_reference else f.type_name
                    text = type_name not in NUMBER_TYPES and type_name not in catalog.enums and not f.is_reference
                    defs[cond] = _condition(catalog, type_name, text)
        if not root.readonly:
            defs[f"Values_{name}"] = _record(catalog, model, inserting=True, reachable=set(names))
            defs[f"Set_{name}"] = _record(catalog, model, inserting=False, reachable=set(names))
        steps.extend(_steps(catalog, model, ops))
    steps.extend(_connector_steps(catalog, root, defs))
    plan = {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "minItems": 1, "maxItems": 8, "items": {"anyOf": steps}},
            "result": {"type": "integer", "minimum": 0},
        },
        "required": ["steps", "result"],
        "additionalProperties": False,
    }
    refusal = {
        "type": "object",
        "properties": {"refuse": {"type": "string", "minLength": 3, "maxLength": 300}},
        "required": ["refuse"],
        "additionalProperties": False,
    }
    return {"type": "object", "anyOf": [plan, refusal], "$defs": defs}
