"""``gateway plans freeze``: gather the plans a deployment uses into a lock file's text.

From the cache (every current plan that ran well or was approved, except plans that used
today's date: frozen, they would answer with a stale date) and, given a
persisted-documents manifest, from each literal ``q`` in its documents: answered from the
cache when it can be, else planned by the model and checked by policy, never run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    parse,
    validate,
    value_from_ast_untyped,
)

from ..errors import GatewayError
from ..selection import describe_selection
from .entry import CacheEntry
from .lockfile import render
from .plan_cache import PlanCache


class FreezeError(Exception):
    """The lock file cannot be written: a bad manifest, or requests that could not be planned."""


def freeze(gateway: Any, documents: Path | None = None, approved_only: bool = False) -> tuple[str, list[str]]:
    """The lock file's text and notes (requests left to templates at run time)."""
    catalog = gateway.catalog
    cache: PlanCache = gateway.plan_cache or PlanCache.open(gateway.engine, catalog)
    chosen: dict[tuple[str, str, str, str, str], CacheEntry] = {}

    def add(e: CacheEntry) -> None:
        key = (e.field, e.kind, e.text, e.selection, json.dumps(e.hints, sort_keys=True))
        if key not in chosen or (e.status == "approved" and chosen[key].status != "approved"):
            chosen[key] = e

    notes: list[str] = []
    for e in cache.list():
        if e.servable and cache.is_current(e) and (e.status == "approved" or not approved_only):
            if e.day:
                notes.append(f"{e.field} {e.text!r}: uses today's date, so it is not frozen")
            else:
                add(e)
    if documents is not None:
        failures: list[str] = []
        asyncio.run(_plan_documents(gateway, cache, _manifest(documents), add, notes, failures))
        if failures:
            raise FreezeError("some requests of the documents could not be frozen:\n  " + "\n  ".join(failures))
    return render(list(chosen.values()), catalog), notes


def _manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FreezeError(f"{path} is not a readable JSON manifest: {e}") from e
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise FreezeError(f"{path}: a persisted-documents manifest is a JSON object of hash -> document text")
    return data


async def _plan_documents(gateway: Any, cache: PlanCache, manifest: dict[str, str], add: Any,
                          notes: list[str], failures: list[str]) -> None:
    catalog = gateway.catalog
    for doc_id, text in sorted(manifest.items()):
        try:
            document = parse(text)
        except GraphQLError as e:
            failures.append(f"{doc_id}: {e.message}")
            continue
        errors = validate(catalog.schema, document)
        if errors:
            failures.append(f"{doc_id}: {errors[0].message}")
            continue
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        for op in document.definitions:
            if not isinstance(op, OperationDefinitionNode) or op.operation.value not in ("query", "mutation"):
                continue
            for node in _root_fields(op.selection_set, fragments):
                where = f"{doc_id} {op.operation.value}.{node.name.value}"
                if node.name.value.startswith("__"):
                    continue
                args = {a.name.value: a.value for a in node.arguments or ()}
                q = args.pop("q", None)
                if q is None:
                    continue  # a listing: no plan needed
                if not isinstance(q, StringValueNode) or any(isinstance(v, VariableNode) for v in args.values()):
                    notes.append(f"{where}: q or an argument is a variable; served by a template if one matches")
                    continue
                root = catalog.root(op.operation.value, node.name.value)
                hints = {k: value_from_ast_untyped(v) for k, v in args.items()}
                hints = {k: v for k, v in hints.items() if v is not None}
                selection = describe_selection([node], fragments)
                try:
                    entry = await _entry(gateway, cache, root, q.value, selection, hints)
                except GatewayError as e:
                    failures.append(f"{where} {q.value!r}: {e.code}: {e.message}")
                    continue
                if entry.day:
                    notes.append(f"{where} {q.value!r}: its plan uses today's date, so it is not frozen")
                else:
                    add(entry)


async def _entry(gateway: Any, cache: PlanCache, root: Any, request: str, selection: str,
                 hints: dict[str, Any]) -> CacheEntry:
    """An exact entry for one request: the cached plan if one answers it, else the model's, checked by policy."""
    hit = cache.lookup(root, request, selection, hints)
    if hit is not None:
        plan, status = hit.plan, hit.status
    else:
        plan, status = (await gateway.planner.plan(root, request, selection, hints)).plan, "learned"
    gateway.policy.check(root, plan)
    entry = cache.entries_for(root, request, selection, hints, plan)[0]
    entry.status = status
    return entry


def _root_fields(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]) -> Iterator[FieldNode]:
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            yield sel
        elif isinstance(sel, InlineFragmentNode):
            yield from _root_fields(sel.selection_set, fragments)
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
            yield from _root_fields(fragments[sel.name.value].selection_set, fragments)
