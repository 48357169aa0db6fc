"""Incremental delivery: ``@defer`` and ``@stream`` with graphql-core 3.3's incremental execution.

A page that asks for a cached or listing field and, under ``@defer``, a field the model must
plan gets the first part as soon as the first field is ready and the deferred one when the model
has answered. The payloads are graphql-core 3.3's, the format of graphql-js 17.0.0-alpha.9 and
later (Apollo Client's ``GraphQL17Alpha9Handler``, ``multipart/mixed;incrementalSpec=v0.2``;
urql reads it too): the first part carries ``data`` and ``pending: [{id, path, label}]``, later
parts ``incremental: [{id, data | items, subPath}]`` and ``completed: [{id}]``, each with
``hasNext``. A client that cannot take parts gets the whole result merged into one response.
"""

from __future__ import annotations

from inspect import isawaitable
from typing import Any, AsyncIterator, Callable

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLDeferDirective,
    GraphQLError,
    GraphQLSchema,
    GraphQLStreamDirective,
    experimental_execute_incrementally,
)
from graphql.language import DirectiveNode, Visitor, visit
from graphql.language.visitor import BREAK

FormatError = Callable[[GraphQLError], dict[str, Any]]


def enable(schema: GraphQLSchema) -> None:
    """Declare ``@defer`` and ``@stream`` on the schema (validation and introspection see them)."""
    names = {d.name for d in schema.directives}
    extra = tuple(d for d in (GraphQLDeferDirective, GraphQLStreamDirective) if d.name not in names)
    schema.directives = (*schema.directives, *extra)


class _FindsDeferOrStream(Visitor):
    found = False

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> Any:
        if node.name.value in ("defer", "stream"):
            self.found = True
            return BREAK
        return None


def uses_incremental(document: DocumentNode) -> bool:
    """True when the document asks for ``@defer`` or ``@stream`` anywhere."""
    finder = _FindsDeferOrStream()
    visit(document, finder)
    return finder.found


async def parts(schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any],
                operation_name: str | None, context: Any, format_error: FormatError,
                traces: Callable[[], dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """The payloads of one incremental execution, ready to send; each part carries the traces
    (``extensions.fields``) of the root fields that finished since the part before."""
    sent: set[str] = set()

    def with_traces(payload: dict[str, Any]) -> dict[str, Any]:
        new = {k: v for k, v in traces().items() if k not in sent}
        sent.update(new)
        if new:
            payload["extensions"] = {"fields": new}
        return payload

    result: Any = experimental_execute_incrementally(schema, document, context_value=context,
                                                     variable_values=variables, operation_name=operation_name)
    if isawaitable(result):
        result = await result
    if isinstance(result, ExecutionResult):
        yield with_traces(_complete(result, format_error))
        return
    initial = result.initial_result
    first = _complete(initial, format_error)
    first["pending"] = [p.formatted for p in initial.pending]
    first["hasNext"] = initial.has_next
    yield with_traces(first)
    async for subsequent in result.subsequent_results:
        payload: dict[str, Any] = dict(subsequent.formatted)
        for entry, formatted in zip(subsequent.incremental or (), payload.get("incremental", ())):
            if entry.errors:
                formatted["errors"] = [format_error(e) for e in entry.errors]
        for entry, formatted in zip(subsequent.completed or (), payload.get("completed", ())):
            if entry.errors:
                formatted["errors"] = [format_error(e) for e in entry.errors]
        yield with_traces(payload)


def _complete(result: Any, format_error: FormatError) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [format_error(e) for e in result.errors]
    body["data"] = result.data
    return body


def merge(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """All parts folded into one ordinary result, for a client that asked for plain JSON."""
    first = payloads[0]
    merged: dict[str, Any] = {"data": first.get("data")}
    errors = list(first.get("errors", ()))
    extensions = dict(first.get("extensions", {}).get("fields", {}))
    paths = {p["id"]: p["path"] for p in first.get("pending", ())}
    for payload in payloads[1:]:
        paths.update({p["id"]: p["path"] for p in payload.get("pending", ())})
        for entry in payload.get("incremental", ()):
            path = [*paths.get(entry.get("id"), []), *entry.get("subPath", [])]
            target = _at(merged["data"], path)
            if "items" in entry and isinstance(target, list):
                target.extend(entry["items"])
            elif isinstance(entry.get("data"), dict) and isinstance(target, dict):
                _deep_merge(target, entry["data"])
            errors += entry.get("errors", [])
        for done in payload.get("completed", ()):
            errors += done.get("errors", [])
        extensions.update(payload.get("extensions", {}).get("fields", {}))
    if errors:
        merged = {"errors": errors, **merged}
    if extensions:
        merged["extensions"] = {"fields": extensions}
    return merged


def _at(data: Any, path: list[Any]) -> Any:
    for key in path:
        if data is None:
            return None
        data = data[key]
    return data


def _deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value
