"""Lock files: the reviewed plans a frozen gateway serves, as a stable, diff-friendly JSON text.

One entry per field and request (exact) or template, sorted, each with its plan, parameters
and plain-English reading, under the fingerprint of the SDL it was made for. Reading a lock
file checks everything a frozen gateway relies on and fails with one clear message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..describe import describe
from ..errors import GatewayError, LockFileInvalid
from ..plan import Plan
from ..sdl import Catalog
from ..validation import validate_plan
from .entry import CacheEntry, Slot
from .fingerprints import fingerprint, plan_dependencies, sdl_fingerprint
from .keys import exact_id, relevant_selection, scope_of, template_id
from .templates import bind, normalise

VERSION = 1


def render(entries: list[CacheEntry], catalog: Catalog) -> str:
    """The lock file's text for these entries (order and ids do not depend on how they were found)."""
    plans = []
    for e in sorted(entries, key=lambda e: (e.field, e.kind, e.text, json.dumps(e.hints, sort_keys=True))):
        item: dict[str, Any] = {"field": e.field, "kind": e.kind}
        if e.kind == "template":
            item["template"] = e.text
        item["request"] = e.request
        item["reading"] = describe(e.plan)
        if e.selection:
            item["selection"] = e.selection
        if e.hints:
            item["hints"] = e.hints
        item["status"] = e.status
        item["params"] = e.plan.get("params", {})
        if e.kind == "template":
            item["slots"] = {n: {"param": s.param, "type": s.type, "words": s.words, "path": s.path}
                             for n, s in sorted(e.slots.items())}
        item["plan"] = e.plan
        plans.append(item)
    doc = {"version": VERSION, "sdl": sdl_fingerprint(catalog), "plans": plans}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def load(path: str | Path, catalog: Catalog) -> list[CacheEntry]:
    """The entries of a lock file, each checked against this SDL; LockFileInvalid otherwise."""
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise LockFileInvalid(f"cannot read the lock file {where}: {e.strerror or e}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LockFileInvalid(f"{where} is not valid JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("plans"), list):
        raise LockFileInvalid(f"{where} is not a plans lock file of version {VERSION} "
                              "(an object with version, sdl and plans)")
    ours = sdl_fingerprint(catalog)
    if doc.get("sdl") != ours:
        raise LockFileInvalid(f"{where} was made for another SDL (fingerprint {doc.get('sdl')!r}, this SDL is "
                              f"{ours!r}); run `gateway plans freeze` again and review the changes")
    entries = []
    for i, item in enumerate(doc["plans"]):
        try:
            entries.append(_entry(item, catalog))
        except (GatewayError, ValidationError, ValueError, KeyError, TypeError) as e:
            reason = e.message if isinstance(e, GatewayError) else str(e).splitlines()[0]
            raise LockFileInvalid(f"{where}: plan {i + 1} ({item.get('field') if isinstance(item, dict) else '?'}, "
                                  f"{item.get('request') if isinstance(item, dict) else '?'!r}): {reason}") from e
    return entries


def _entry(item: Any, catalog: Catalog) -> CacheEntry:
    if not isinstance(item, dict):
        raise ValueError("a plan entry is an object")
    field_key, kind, request = item["field"], item["kind"], item["request"]
    root = catalog.root_fields.get(field_key)
    if root is None:
        raise ValueError(f"no root field {field_key!r} in this SDL")
    if kind not in ("exact", "template") or not isinstance(request, str):
        raise ValueError("kind is exact or template, request a string")
    hints = item.get("hints") or {}
    selection = relevant_selection(root, str(item.get("selection", "")))
    plan = validate_plan(catalog, Plan.model_validate(item["plan"]), root).dump()
    scope = scope_of(root, selection, hints)
    deps = plan_dependencies(catalog, plan)
    base = {"field": field_key, "scope": scope, "request": request, "plan": plan, "selection": selection,
            "hints": hints, "deps": deps, "fingerprint": fingerprint(catalog, field_key, deps),
            "status": str(item.get("status", "approved")),
            "writes": any(isinstance(s, dict) and s.get("op") in ("insert", "update", "delete") for s in plan["steps"])}
    if kind == "exact":
        text = normalise(request)
        return CacheEntry.parse({**base, "id": exact_id(scope, text), "kind": "exact", "text": text})
    slots = {n: Slot.parse(s) for n, s in (item.get("slots") or {}).items()}
    text = item["template"]
    entry = CacheEntry.parse({**base, "id": template_id(scope, text, None), "kind": "template", "text": text,
                              "slots": {n: vars(s) for n, s in slots.items()}})
    if bind(entry, normalise(request)) != plan:
        raise ValueError("the template does not give back its own plan for its request")
    return entry
