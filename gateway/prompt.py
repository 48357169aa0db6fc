"""Build the model's messages from the versioned templates in ``prompts/``.

The system message (instructions, the SDL this field can reach, worked examples made from the
user's own SDL) is fixed per field, so a local model reuses its KV cache across requests. The
user message carries only the request, quoted and labelled as data, with the selection, the
argument hints and today's date.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from graphql import print_type

from .llm.base import Message
from .plan import Plan
from .plan_schema import connectors_for, reachable_models
from .sdl import Catalog, Model, RootField

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"


@cache
def load_template(name: str) -> tuple[str, str]:
    """Return (version, body) of ``prompts/<name>.md``; the first line is ``version: N``."""
    text = (PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    if not first.startswith("version:"):
        raise ValueError(f"prompts/{name}.md must start with a 'version: N' line")
    return first.split(":", 1)[1].strip(), body


PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render(name: str, /, **values: str) -> str:
    """Fill ``prompts/<name>.md``; a placeholder without a value, or a value without a
    placeholder, is an error (a renamed placeholder must not silently drop a section).
    ``name`` is positional only, so a template may have a ``{{name}}`` placeholder."""
    body = load_template(name)[1]
    wanted = set(PLACEHOLDER.findall(body))
    if wanted != set(values):
        raise ValueError(f"prompts/{name}.md: placeholders {sorted(wanted)} but values for {sorted(values)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], body)


def prompt_version() -> str:
    return "+".join(load_template(n)[0] for n in ("system", "request", "connectors", "connector_steps"))


def pruned_sdl(catalog: Catalog, root: RootField) -> str:
    """SDL of the types this field can reach: its models, their references and enums.

    Types come in the schema's own order, not the field's, so fields that reach the same types
    share this text and a local model reuses its KV cache across them.
    """
    reachable = set(reachable_models(catalog, root))
    objects = [m for n, m in catalog.models.items() if n in reachable]
    if root.type_name in catalog.shapes:
        objects.append(catalog.shapes[root.type_name])
    enums = sorted({f.type_name for m in objects for f in m.fields.values() if f.type_name in catalog.enums})
    types = [catalog.schema.type_map[name] for name in [*(m.name for m in objects), *enums]]
    return "\n\n".join(print_type(t) for t in types)


def _text_field(model: Model) -> str | None:
    for f in model.fields.values():
        if f.kind == "scalar" and f.type_name == "String":
            return f.name
    return None


def _example_value(catalog: Catalog, type_name: str, word: str) -> Any:
    if type_name in catalog.enums:
        return catalog.enums[type_name][0]
    return {"Int": 3, "Float": 2.5, "Boolean": True}.get(type_name, word)


def _subject(catalog: Catalog, root: RootField) -> Model | None:
    """The model a field is about: the one it returns, else one its name mentions, else one
    that has the fields its rows are grouped by (``GenreCount { genre total }``: a model with ``genre``)."""
    if root.models:
        return catalog.models[root.models[0]]
    shape = catalog.shapes.get(root.type_name)
    keys = {n for n, f in shape.fields.items() if f.kind == "enum" or f.type_name == "String"} if shape else set()
    named = [m for m in catalog.models.values() if m.name.lower() in root.name.lower()]
    grouped = [m for m in catalog.models.values() if keys and keys <= set(m.fields)]
    candidates = named or grouped or list(catalog.models.values())
    return candidates[0] if candidates else None


def _count(
    model: Model, where: dict[str, Any] | None = None, group: str | None = None, alias: str = "count"
) -> dict[str, Any]:
    step: dict[str, Any] = {"op": "aggregate", "model": model.name}
    if where:
        step["where"] = where
    if group:
        step["groupBy"] = [group]
    step["aggregates"] = [{"fn": "count", "field": None, "as": alias}]
    return {"steps": [step], "result": 0, "params": {}}


def _aggregate_examples(catalog: Catalog, root: RootField, model: Model) -> list[tuple[str, dict[str, Any]]]:
    """Examples for fields that return a number or rows of counts, not records."""
    shape = catalog.shapes.get(root.type_name)
    fields = shape.fields if shape is not None else {}
    alias = next((n for n, f in fields.items() if f.kind == "scalar" and f.type_name in ("Int", "Float")), "count")
    out = [(f"how many {model.name} are there", _count(model, alias=alias))]
    enum_field = next((f for f in model.fields.values() if f.kind == "enum"), None)
    if enum_field is not None:
        value = catalog.enums[enum_field.type_name][0]
        out.append(
            (
                f"how many {model.name} have {enum_field.name} {value.lower()}",
                _count(model, {enum_field.name: {"eq": value}}, alias=alias),
            )
        )
    group = next((n for n in fields if n in model.fields and model.fields[n].kind in ("enum", "scalar")), None)
    if group is not None:
        out.append((f"number of {model.name} per {group}", _count(model, group=group, alias=alias)))
    return out


def example_plans(catalog: Catalog, root: RootField) -> list[tuple[str, dict[str, Any]]]:
    """Worked examples (request, plan) in the vocabulary of the user's own SDL."""
    model = _subject(catalog, root)
    if model is None:
        return []
    text = _text_field(model) or "id"
    out: list[tuple[str, dict[str, Any]]] = []
    if not root.models:
        return _aggregate_examples(catalog, root, model)
    if root.readonly:
        out.append(
            (
                f'{model.name} whose {text} mentions "sample"',
                {
                    "steps": [{"op": "find", "model": model.name, "where": {text: {"contains": "sample"}}}],
                    "result": 0,
                    "params": {text: "sample"},
                },
            )
        )
        for f in model.fields.values():
            target = catalog.models.get(f.type_name)
            if f.kind == "ref" and target is not None and _text_field(target):
                tf = _text_field(target)
                out.append(
                    (
                        f'{model.name} whose {f.name} has {tf} "Sample B"',
                        {
                            "steps": [{"op": "find", "model": model.name, "where": {f.name: {tf: {"eq": "Sample B"}}}}],
                            "result": 0,
                            "params": {tf: "Sample B"},
                        },
                    )
                )
                break
        number = next(
            (f for f in model.fields.values() if f.kind == "scalar" and f.type_name in ("Int", "Float")), None
        )
        if number is not None:
            out.append(
                (
                    f"the 2 {model.name} with the highest {number.name}",
                    {
                        "steps": [
                            {
                                "op": "find",
                                "model": model.name,
                                "orderBy": [{"field": number.name, "direction": "desc"}],
                                "limit": 2,
                            }
                        ],
                        "result": 0,
                        "params": {},
                    },
                )
            )
        many = next((f for f in model.fields.values() if f.kind == "refs"), None)
        if many is not None:
            out.append(
                (
                    f"the {model.name} with the most {many.name}",
                    {
                        "steps": [
                            {
                                "op": "find",
                                "model": model.name,
                                "orderBy": [
                                    {"expr": {"fn": "count", "args": [{"field": many.name}]}, "direction": "desc"}
                                ],
                                "limit": 1,
                            }
                        ],
                        "result": 0,
                    },
                )
            )
        enum_field = next((f for f in model.fields.values() if f.kind == "enum"), None)
        if enum_field is not None:
            value = catalog.enums[enum_field.type_name][-1]
            out.append(
                (
                    f"{model.name} whose {enum_field.name} is not {value.lower()}",
                    {
                        "steps": [{"op": "find", "model": model.name, "where": {enum_field.name: {"ne": value}}}],
                        "result": 0,
                        "params": {},
                    },
                )
            )
        return out
    values: dict[str, Any] = {}
    for f in model.fields.values():
        if f.kind in ("scalar", "enum") and f.name != "id" and (not f.nullable or f.name == text):
            values[f.name] = _example_value(catalog, f.type_name, "Sample C")
    steps: list[dict[str, Any]] = []
    for f in model.fields.values():
        target = catalog.models.get(f.type_name)
        if f.kind == "ref" and target is not None and _text_field(target):
            tf = _text_field(target)
            steps.append({"op": "find", "model": target.name, "where": {tf: {"eq": "Sample D"}}, "limit": 1})
            values[f.name] = {"$step": 0, "field": "id"}
            break
    steps.append({"op": "insert", "model": model.name, "values": [values]})
    out.append(
        (
            f'add a {model.name} with {text} "Sample C"' + (' for "Sample D"' if len(steps) > 1 else ""),
            {"steps": steps, "result": len(steps) - 1, "params": {text: "Sample C"}},
        )
    )
    enum_field = next((f for f in model.fields.values() if f.kind == "enum"), None)
    if enum_field is not None and text != "id":
        value = catalog.enums[enum_field.type_name][-1]
        out.append(
            (
                f'set the {enum_field.name} of "Sample C" to {value.lower()}',
                {
                    "steps": [
                        {
                            "op": "update",
                            "model": model.name,
                            "where": {text: {"eq": "Sample C"}},
                            "set": {enum_field.name: value},
                        }
                    ],
                    "result": 0,
                    "params": {text: "Sample C"},
                },
            )
        )
    if text != "id":
        out.append(
            (
                f'delete the {model.name} "Sample C"',
                {
                    "steps": [{"op": "delete", "model": model.name, "where": {text: {"eq": "Sample C"}}}],
                    "result": 0,
                    "params": {text: "Sample C"},
                },
            )
        )
    if enum_field is not None and text != "id":
        value = catalog.enums[enum_field.type_name][0]
        out.append(
            (
                f"rename the {model.name} whose {enum_field.name} is {value.lower()} to N-01, N-02... "
                f"in creation order",
                {
                    "steps": [
                        {
                            "op": "update",
                            "model": model.name,
                            "where": {enum_field.name: {"eq": value}},
                            "set": {
                                text: {
                                    "fn": "concat",
                                    "args": [
                                        "N-",
                                        {
                                            "fn": "lpad",
                                            "args": [
                                                {
                                                    "fn": "rowNumber",
                                                    "orderBy": [{"field": "$created", "direction": "asc"}],
                                                    "start": 1,
                                                },
                                                2,
                                                "0",
                                            ],
                                        },
                                    ],
                                }
                            },
                        }
                    ],
                    "result": 0,
                },
            )
        )
    out.append((f"make every {model.name} feel happier", {"refuse": f"no field of {model.name} stores a feeling"}))
    return out


def describe_connectors(catalog: Catalog, root: RootField) -> str:
    """Connectors this field may call, each with its argument schema."""
    lines = []
    for c in connectors_for(catalog, root):
        props = c.args_schema().get("properties", {})
        args = ", ".join(f"{n}: {p.get('type') or p.get('anyOf') or 'any'}" for n, p in props.items())
        effect = " (has side effects)" if c.side_effects else ""
        lines.append(f"- {c.name}({args}) -> [{c.returns}]{effect}: {c.description}")
    return "\n".join(lines) or "(none)"


def build_messages(
    catalog: Catalog,
    root: RootField,
    request: str,
    selection: str,
    hints: dict[str, Any],
    timezone: str | None = None,
    today: dt.date | None = None,
    grounding: str = "(none)",
    learned: Sequence[tuple[str, Plan]] = (),
) -> list[Message]:
    """System instructions, worked examples as earlier turns, then the request.

    Small models follow examples given as conversation turns far better than examples in the
    instructions; the examples made from the SDL depend only on the field, so that prefix stays
    cacheable. ``learned`` (plans of this deployment like the request, from the plan cache)
    come after it, just before the request.
    """
    has_connectors = bool(connectors_for(catalog, root))  # small models do better without steps they cannot use
    system = render(
        "system",
        sdl=pruned_sdl(catalog, root),
        connector_steps=render("connector_steps") if has_connectors else "",
        connectors=render("connectors", connectors=describe_connectors(catalog, root)) if has_connectors else "",
    )
    messages: list[Message] = [{"role": "system", "content": system}]
    shape = f"[{root.type_name}]" if root.returns_list else root.type_name
    today_text = (today or dt.date.today()).isoformat()

    def ask(text: str, sel: str, hint: dict[str, Any], matched: str = "(none)") -> str:
        return render(
            "request",
            operation=root.operation,
            intent=(
                "This field only reads: use find or aggregate."
                if root.readonly
                else "This field changes data: plan the insert, update or delete the request asks for "
                "(a find only to look up records the change needs)."
            ),
            field=root.name,
            return_type=shape,
            selection=sel or "(nothing nested)",
            hints=json.dumps(hint) if hint else "(none)",
            grounding=matched,
            today=today_text,
            timezone=timezone or "UTC",
            request=text.replace(">>>", "> > >"),
        )

    for example, answer in example_plans(catalog, root):
        messages.append({"role": "user", "content": ask(example, "id", {})})
        messages.append({"role": "assistant", "content": json.dumps(answer)})
    for example, plan in learned:
        learned_answer = plan.dump()
        learned_answer.pop("params", None)
        messages.append({"role": "user", "content": ask(example, "id", {})})
        messages.append({"role": "assistant", "content": json.dumps(learned_answer)})
    messages.append({"role": "user", "content": ask(request, selection, hints, grounding)})
    return messages
