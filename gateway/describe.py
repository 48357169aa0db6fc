"""A plan in plain English ("counted Tasks where status is DONE"), generated from the plan itself.

Shown in every response's ``extensions`` and in lock files, so a person can check what a
request will do without reading JSON. Works on the plan's JSON; a step or node it does not
know is described by its name rather than dropped.
"""

from __future__ import annotations

import json
from typing import Any

from .plan import Plan

OPS = {
    "eq": "is",
    "ne": "is not",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is more than",
    "gte": "is at least",
    "in": "is one of",
    "contains": "contains",
    "startsWith": "starts with",
}
VERBS = {
    "find": "found",
    "insert": "added",
    "update": "updated",
    "delete": "deleted",
    "aggregate": "counted",
    "call": "called",
    "filter": "filtered",
}
FUNCTIONS = {
    "count": "counted",
    "sum": "summed",
    "avg": "averaged",
    "min": "took the smallest",
    "max": "took the largest",
}


def describe(plan: Plan | dict[str, Any]) -> str:
    """One line: each step in order, joined by "then"; the result step is marked when not the last."""
    data = plan.dump() if isinstance(plan, Plan) else plan
    if data.get("refuse"):
        return f"refused: {data['refuse']}"
    steps = data.get("steps") or []
    parts = [_step(s) for s in steps if isinstance(s, dict)]
    text = "; then ".join(parts) if parts else "does nothing"
    result = data.get("result")
    if isinstance(result, int) and 0 <= result < len(steps) - 1:
        text += f"; answers with step {result + 1}"
    return text


def _plural(model: str) -> str:
    return model + ("es" if model.endswith(("s", "x", "ch", "sh")) else "s")


def _step(step: dict[str, Any]) -> str:
    op = str(step.get("op", "?"))
    model = str(step.get("model", "records"))
    where = _where(step.get("where"))
    cond = f" where {where}" if where else ""
    if op == "find":
        text = f"found {_plural(model)}{cond}"
    elif op == "aggregate":
        text = _aggregate(model, step) + cond
        groups = step.get("groupBy") or []
        if groups:
            text += " by " + ", ".join(map(str, groups))
    elif op == "insert":
        values = step.get("values") or []
        noun = f"a {model}" if len(values) == 1 else f"{len(values)} {_plural(model)}"
        text = f"added {noun}" + (f" ({_assignments(values[0])})" if len(values) == 1 else "")
    elif op == "update":
        text = f"updated {_plural(model)}{cond or ' (all of them)'}: set {_assignments(step.get('set') or {}, 'to')}"
    elif op == "delete":
        text = f"deleted {_plural(model)}{cond or ' (all of them)'}"
    elif op == "call":
        args = step.get("args") or {}
        text = f"called {step.get('connector')}" + (f" with {_assignments(args, '=')}" if args else "")
    elif op == "filter":
        text = f"filtered the records of step {int(step.get('step', 0)) + 1}{cond}"
    else:
        text = f"{VERBS.get(op, op)} {_plural(model)}{cond}"
    return text + _order(step)


def _aggregate(model: str, step: dict[str, Any]) -> str:
    parts = []
    for a in step.get("aggregates") or []:
        fn = str(a.get("fn", "count"))
        if fn == "count" and not a.get("field"):
            parts.append(f"counted {_plural(model)}")
        else:
            what = a.get("field") or (_value(a["expr"]) if a.get("expr") is not None else "")
            parts.append(f"{FUNCTIONS.get(fn, fn)} {what} of {_plural(model)}".replace("  ", " "))
    return " and ".join(parts) or f"aggregated {_plural(model)}"


def _order(step: dict[str, Any]) -> str:
    text = ""
    if step.get("orderBy"):
        ordering = _orders(step["orderBy"])
        text += ", " + ("ordered " + ordering if ordering.startswith("by ") else ordering)
    if step.get("offset"):
        text += f", skipping {step['offset']}"
    if step.get("limit") is not None:
        text += f", at most {step['limit']}"
    return text


def _name(field: Any) -> str:
    return "creation order" if field == "$created" else str(field)


def _orders(order: Any) -> str:
    """A listing's ordering: "by title descending", "newest first", "by the count of tags, highest first"."""
    items = [o for o in order if isinstance(o, dict)] if isinstance(order, list) else []
    return ", then ".join(_ordering(o) for o in items) or "their order"


def _ordering(o: dict[str, Any]) -> str:
    desc = o.get("direction") == "desc"
    if o.get("field") == "$created" or o.get("expr") == {"field": "$created"}:
        return "newest first" if desc else "oldest first"
    if o.get("field") is not None:
        return f"by {o['field']}{' descending' if desc else ''}"
    expr = o.get("expr")
    if isinstance(expr, dict) and set(expr) == {"field"}:
        return f"by {expr['field']}{' descending' if desc else ''}"
    return f"by {_noun(expr)}, {'highest' if desc else 'lowest'} first"


def _sequence(order: Any) -> str:
    """The order rows are numbered in (rowNumber, respectively): "creation order", "title descending"."""
    items = [o for o in order if isinstance(o, dict)] if isinstance(order, list) else []
    parts = []
    for o in items:
        expr = o.get("expr")
        name = o.get("field") or (expr.get("field") if isinstance(expr, dict) and set(expr) == {"field"} else None)
        desc = o.get("direction") == "desc"
        if name == "$created":
            parts.append("reverse creation order" if desc else "creation order")
            continue
        what = str(name) if name is not None else _noun(expr)
        parts.append(f"{what}{' descending' if desc else ''}")
    return ", then ".join(parts) or "their order"


AGGREGATE_NOUNS = {
    "count": "the count of",
    "sum": "the total of",
    "avg": "the average of",
    "min": "the smallest",
    "max": "the largest",
}


def _noun(e: Any) -> str:
    """An expression as a noun phrase: "the count of tags", "the average of books.pages"."""
    if isinstance(e, dict) and e.get("fn") in AGGREGATE_NOUNS:
        args = e.get("args") or []
        first = args[0] if args else None
        if isinstance(first, dict) and set(first) == {"field"}:
            return f"{AGGREGATE_NOUNS[e['fn']]} {_name(first['field'])}"
    return _value(e)


def _where(where: Any, prefix: str = "") -> str:
    if not isinstance(where, dict) or not where:
        return ""
    parts = []
    for key, cond in where.items():
        if key in ("and", "or") and isinstance(cond, list):
            inner = [_where(c, prefix) for c in cond]
            inner = [i for i in inner if i]
            if inner:
                joined = f" {key} ".join(inner)
                parts.append(f"({joined})" if len(inner) > 1 and key == "or" else joined)
        elif key == "not":
            parts.append(f"not ({_where(cond, prefix)})")
        elif key == "compare" and isinstance(cond, dict) and "left" in cond:
            parts.append(
                f"{_value(cond['left'])} {OPS.get(str(cond.get('op')), cond.get('op'))} {_value(cond.get('right'))}"
            )
        elif isinstance(cond, dict) and cond and set(cond) <= {*OPS, "isNull"}:
            parts.extend(_condition(prefix + key, op, v) for op, v in cond.items())
        elif isinstance(cond, dict):
            parts.append(_where(cond, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key} is {_value(cond)}")
    return " and ".join(p for p in parts if p)


def _condition(name: str, op: str, value: Any) -> str:
    if op == "isNull":
        return f"{name} is {'empty' if value else 'set'}"
    if op == "in" and isinstance(value, list):
        return f"{name} is one of {', '.join(_value(v) for v in value)}"
    return f"{name} {OPS.get(op, op)} {_value(value)}"


def _assignments(values: dict[str, Any], verb: str = "") -> str:
    sep = f" {verb} " if verb else " "
    if not verb:
        return ", ".join(f"{k} {_value(v)}" for k, v in values.items())
    return ", ".join(f"{k}{sep}{_value(v)}" for k, v in values.items())


def _value(v: Any) -> str:
    if isinstance(v, dict):
        if "$step" in v:
            what = v.get("field", "id")
            return f"the {what} from step {int(v['$step']) + 1}"
        if "field" in v and len(v) == 1:
            return f"its {_name(v['field'])}"
        if "if" in v:
            return f"(if {_where(v['if'])} then {_value(v.get('then'))} else {_value(v.get('else'))})"
        if v.get("fn") == "rowNumber":
            return f"its position by {_sequence(v.get('orderBy'))}" + (f" from {v['start']}" if "start" in v else "")
        if v.get("fn") == "respectively":
            values = ", ".join(_value(x) for x in v.get("values") or [])
            return f"respectively {values} by {_sequence(v.get('orderBy'))}"
        if v.get("fn") == "byKey" and isinstance(v.get("map"), dict):
            key = _value(v.get("key"))
            return ", ".join(f"{_value(x)} where {key} is {_value(k)}" for k, x in v["map"].items())
        if v.get("fn") in AGGREGATE_NOUNS:
            return _noun(v)
        if v.get("fn") in ("append", "remove") and len(v.get("args") or []) == 2:
            listed, item = v["args"]
            return f"{_value(listed)} {'with' if v['fn'] == 'append' else 'without'} {_value(item)}"
        if "fn" in v:
            args = v.get("args") or []
            return f"{v['fn']}({', '.join(_value(a) for a in args)})"
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"' if " " in v or not v else v
    if isinstance(v, bool):
        return "true" if v else "false"
    return "empty" if v is None else str(v)
