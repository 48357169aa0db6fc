"""References given by what the referenced record says, turned into lookup steps.

A person says "add 'Dune' by Frank Herbert": the Book's ``author`` is the Author whose name is
Frank Herbert. A plan may write exactly that, ``"author": {"name": {"eq": "Frank Herbert"}}``
(a filter on the referenced model in place of an id), instead of a ``find`` step and a ``$step``
reference to it. Small models get the two-step form wrong far more often (a ``$step`` to a step
that does not exist, seen in the eval); the gateway writes that form for them here, before the
plan is parsed, so everything after (validation, access, policy, SQL) sees ordinary steps.
"""

from __future__ import annotations

from typing import Any

from ..sdl import Catalog
from .steps import Plan, answer_json, parse_plan

_EXPRESSION_KEYS = {"$step", "fn", "field", "if"}


def expand_lookups(catalog: Catalog, data: Any) -> Any:
    """``data`` (a plan's JSON) with each filter given as a reference value in an insert's
    values or an update's ``set`` replaced by a ``find`` step placed before it; later ``$step``
    indexes and ``result`` move along. Anything else is returned unchanged."""
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        return data
    steps: list[Any] = []
    moved: dict[int, int] = {}  # old step index -> new
    for old, step in enumerate(data["steps"]):
        step = _renumber(step, moved)
        if isinstance(step, dict) and step.get("op") in ("insert", "update"):
            model = catalog.models.get(str(step.get("model")))
            if model is not None:
                step = _lift(catalog, model, step, steps)
        moved[old] = len(steps)
        steps.append(step)
    out = {**data, "steps": steps}
    if isinstance(data.get("result"), int) and data["result"] in moved:
        out["result"] = moved[data["result"]]
    return out


def _lift(catalog: Catalog, model: Any, step: dict[str, Any], steps: list[Any]) -> dict[str, Any]:
    """The step with its filter-valued references replaced by ``$step`` refs to new find steps
    appended to ``steps``."""

    def value(field_name: str, v: Any) -> Any:
        f = model.fields.get(field_name)
        if f is None or f.kind not in ("ref", "refs") or not _is_filter(v) or f.type_name not in catalog.models:
            return v
        steps.append({"op": "find", "model": f.type_name, "where": v})
        return {"$step": len(steps) - 1, "field": "id"}

    out = dict(step)
    if isinstance(step.get("values"), list):
        out["values"] = [
            {k: value(k, v) for k, v in row.items()} if isinstance(row, dict) else row for row in step["values"]
        ]
    if isinstance(step.get("set"), dict):
        out["set"] = {k: value(k, v) for k, v in step["set"].items()}
    return out


def _is_filter(v: Any) -> bool:
    return isinstance(v, dict) and bool(v) and not (set(v) & _EXPRESSION_KEYS)


def _renumber(node: Any, moved: dict[int, int]) -> Any:
    """``node`` with every ``{"$step": i}`` pointing at step i's new index."""
    if isinstance(node, dict):
        out = {k: _renumber(v, moved) for k, v in node.items()}
        if isinstance(node.get("$step"), int) and node["$step"] in moved:
            out["$step"] = moved[node["$step"]]
        if node.get("op") == "filter" and isinstance(node.get("step"), int) and node["step"] in moved:
            out["step"] = moved[node["step"]]  # a connector filter step names the call it filters
        return out
    if isinstance(node, list):
        return [_renumber(v, moved) for v in node]
    return node


def parse_answer(catalog: Catalog, answer: str | dict[str, Any]) -> Plan:
    """A model's answer (JSON text or object) as a plan, references by filter expanded."""
    data = answer_json(answer) if isinstance(answer, str) else answer
    return parse_plan(expand_lookups(catalog, data))
