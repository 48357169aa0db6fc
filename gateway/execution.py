"""One GraphQL request from document to result, apart from any transport: parse, limit, validate, run.

HTTP (``server.py``), the CLI, the evaluation and the benchmarks all call
:meth:`Execution.execute` (through ``Gateway.execute``), so every limit and error code holds the
same way wherever a request comes from. A request is refused before anything runs when its
document does not parse, passes a limit, fails validation or its variables do not fit; the
operations of a batch are all prepared before any of them runs, so a bad one cannot leave a
committed write behind a whole-batch error.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any, TypeGuard, TypeVar

import graphql.validation
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    experimental_execute_incrementally,
    get_operation_ast,
    parse,
    print_ast,
    subscribe,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import SelectionSetNode
from graphql.pyutils import is_awaitable as _is_awaitable
from graphql.validation import NoSchemaIntrospectionCustomRule, specified_rules

from .config import Settings
from .errors import (
    BadUserInput,
    BatchRefused,
    BatchTooLarge,
    GatewayError,
    GraphQLParseFailed,
    GraphQLValidationFailed,
    InternalError,
    MutationNotAllowed,
    QueryTooComplex,
    RequestError,
    SubscriptionNeedsStream,
)
from .incremental import merge, parts, uses_incremental
from .limits import Limits, TokenBudget, check_complexity

log = logging.getLogger("gateway.execution")
T = TypeVar("T")

# Documents up to this size are parsed and validated on the event loop (a few milliseconds at
# worst); larger ones in the gateway's own worker threads, so no client stalls the others and
# hostile documents queue there, not in the pool that store queries use.
INLINE_DOCUMENT_CHARS = 1_000
PREPARE_THREADS = 2
DOCUMENT_CACHE_SIZE = 1_000  # checked documents kept (each at most INLINE_DOCUMENT_CHARS long)

# Values a resolver returns that are never awaitable: graphql-core asks of every field value
# whether it is (hundreds of times for a list of records), and its own check tries isinstance
# twice and an attribute look-up each time (bench/README.md, "Cached path vs. hand-written").
_PLAIN_TYPES: frozenset[type] = frozenset({type(None), bool, int, float, str, bytes, list, tuple, dict})


def is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """graphql-core's ``is_awaitable`` with a fast answer for plain values (as strawberry does)."""
    return type(value) not in _PLAIN_TYPES and _is_awaitable(value)


@dataclass(frozen=True)
class Caller:
    """Who sends a request: their roles (from an API key) and their IANA time zone."""

    roles: frozenset[str] = frozenset()
    timezone: str | None = None
    id: str = ""  # "key:<digest of the API key>", or "addr:<client address>" where keys are off

    @property
    def key_id(self) -> str | None:
        """The API key's digest: whose requests taught which write templates (None without keys)."""
        return self.id if self.id.startswith("key:") else None


@dataclass
class RequestScope:
    """What the operations of one incoming request (a whole batch) share.

    The model token budget is counted here rather than per field, and an identical model
    request (field, request text, selection, hints) is planned once and its plan reused.
    """

    budget: TokenBudget | None = None
    plans: dict[Any, asyncio.Future[Any]] = field(default_factory=dict)

    async def once(self, key: Any, make: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run ``make`` once per key; later callers await the same result. Returns (result, shared)."""
        task = self.plans.get(key)
        if task is not None:
            return await task, True
        task = self.plans[key] = asyncio.ensure_future(make())
        return await task, False


@dataclass
class RequestContext:
    """Per-operation state the resolvers see: the caller, the traces for ``extensions``, the scope.

    Defined here and handed to the resolvers as graphql-core's ``context_value``: the resolvers
    depend on it, execution never on them.
    """

    roles: frozenset[str] = frozenset()
    timezone: str | None = None
    traces: dict[str, Any] = field(default_factory=dict)
    scope: RequestScope = field(default_factory=RequestScope)
    caller: str | None = None  # the API key's digest (Caller.key_id)
    caller_id: str = ""  # Caller.id (API key or address): whose open subscriptions these are
    closers: list[Any] = field(default_factory=list)  # what a streamed operation releases at its end


@dataclass
class Result:
    """The outcome of one GraphQL request. ``executed`` is False when it was refused before running."""

    data: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    extensions: dict[str, Any] | None = None
    executed: bool = True

    @classmethod
    def refused(cls, error: GatewayError) -> Result:
        return cls(errors=[error.formatted()], executed=False)

    @property
    def code(self) -> str | None:
        """The code of the first error, if any."""
        return self.errors[0].get("extensions", {}).get("code") if self.errors else None

    def formatted(self) -> dict[str, Any]:
        """The response body of the GraphQL spec: errors, then data (absent when nothing ran)."""
        body: dict[str, Any] = {}
        if self.errors:
            body["errors"] = self.errors
        if self.executed:
            body["data"] = self.data
        if self.extensions:
            body["extensions"] = self.extensions
        return body


@dataclass
class GraphQLRequest:
    """The parameters of one GraphQL request, as any transport carries them."""

    document: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None

    @classmethod
    def from_params(cls, params: Any) -> GraphQLRequest | Result:
        """Read ``{"query", "variables", "operationName", "extensions"}``; a refusal when malformed."""
        if not isinstance(params, dict):
            return Result.refused(RequestError("a GraphQL request is a JSON object with a query"))
        query, variables, op_name = params.get("query"), params.get("variables"), params.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return Result.refused(RequestError("the request has no query string"))
        if variables is not None and not isinstance(variables, dict):
            return Result.refused(RequestError("variables must be an object"))
        if op_name is not None and not isinstance(op_name, str):
            return Result.refused(RequestError("operationName must be a string"))
        if params.get("extensions") is not None and not isinstance(params["extensions"], dict):
            return Result.refused(RequestError("extensions must be an object"))
        return cls(query, variables, op_name)


@dataclass(frozen=True)
class _Checked:
    """A document that parsed, fits the limits and validated, with the operation to run."""

    document: DocumentNode
    operation: OperationDefinitionNode
    model_fields: int
    incremental: bool


@dataclass
class _Prepared:
    """A request that parsed, fits the limits, validated and whose variables fit: ready to run."""

    document: DocumentNode
    operation: OperationDefinitionNode
    variables: dict[str, Any]
    model_fields: int
    incremental: bool = False  # asks for @defer or @stream


class Execution:
    """Parses, limits, validates and executes GraphQL requests against an executable schema.

    It knows the schema (whose resolvers the gateway attached) and the settings' limits, not the
    gateway: the request flows from here into the resolvers and never back.
    """

    def __init__(self, schema: GraphQLSchema, settings: Settings) -> None:
        self.schema = schema
        self.settings = settings
        s = settings
        rules = list(specified_rules)
        # refuses cyclic introspection (fields { type { fields ... } }); graphql-core >= 3.2.7
        depth_rule = getattr(graphql.validation, "MaxIntrospectionDepthRule", None)
        if depth_rule is not None and depth_rule not in rules:
            rules.append(depth_rule)
        if not s.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.rules = rules
        self.limits = Limits(s.max_depth, s.max_fields, s.max_introspection_fields, s.max_introspection_depth)
        # Parsing and validating took 60 % of a cached request (bench/README.md): a document seen
        # before is checked once. Bounded, and only for documents of ordinary size.
        self._checked_cached = functools.lru_cache(maxsize=DOCUMENT_CACHE_SIZE)(self._check_document)
        self._pool = ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="gateway-prepare")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def execute(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        caller: Caller | None = None,
        *,
        read_only: bool = False,
    ) -> Result:
        """Run one request; ``read_only`` refuses mutations (HTTP GET)."""
        [result] = await self.execute_batch(
            [GraphQLRequest(document, variables, operation_name)], caller, read_only=read_only
        )
        return result

    async def execute_batch(
        self, requests: list[GraphQLRequest | Result], caller: Caller | None = None, *, read_only: bool = False
    ) -> list[Result]:
        """Run several requests as one: all are prepared first and none runs unless all are ready.

        Entries that are already a ``Result`` are transport-level refusals (a malformed entry).
        """
        caller = caller or Caller()
        s = self.settings
        if len(requests) > s.max_batch:
            refusal = Result.refused(BatchTooLarge(f"a batch holds at most {s.max_batch} requests"))
            return [refusal for _ in requests]
        prepared: list[_Prepared | Result] = [
            r if isinstance(r, Result) else await self._prepare(r, read_only) for r in requests
        ]
        if any(isinstance(p, Result) for p in prepared):
            return [
                p
                if isinstance(p, Result)
                else Result.refused(
                    BatchRefused("not run: another request of the batch was refused, so none of it ran")
                )
                for p in prepared
            ]
        calls = sum(p.model_fields for p in prepared if isinstance(p, _Prepared))
        if calls > s.max_model_fields:
            refusal = Result.refused(
                QueryTooComplex(
                    f"the request asks the model for {calls} fields; at most {s.max_model_fields} per request"
                )
            )
            return [refusal for _ in prepared]
        scope = RequestScope(TokenBudget(s.max_tokens_per_request))
        return [await self._run(p, caller, scope) for p in prepared if isinstance(p, _Prepared)]

    async def stream(
        self, request: GraphQLRequest, caller: Caller | None = None, *, read_only: bool = False
    ) -> AsyncIterator[Result | dict[str, Any]]:
        """Results as they come, for the streaming transports (multipart, SSE, WebSocket): one for a
        query or mutation, the parts of one using ``@defer``/``@stream`` (dicts, see
        :mod:`gateway.incremental`), one per change for a subscription (:mod:`gateway.subscriptions`).
        A refusal is one result that did not run. Closing the iterator releases what the operation holds."""
        caller = caller or Caller()
        p = await self._prepare(request, read_only=read_only, streaming=True)
        if isinstance(p, Result):
            yield p
            return
        scope = RequestScope(TokenBudget(self.settings.max_tokens_per_request))
        if p.operation.operation != OperationType.SUBSCRIPTION:
            if p.incremental:
                ctx = RequestContext(
                    caller.roles, caller.timezone, scope=scope, caller=caller.key_id, caller_id=caller.id
                )
                async for part in self._parts(p, ctx):
                    yield part
            else:
                yield await self._run(p, caller, scope)
            return
        ctx = RequestContext(caller.roles, caller.timezone, scope=scope, caller=caller.key_id, caller_id=caller.id)
        name = p.operation.name.value if p.operation.name else None
        async for result in _live_results(self.schema, p.document, p.variables, name, ctx):
            yield Result(result.data, [_field_error(e) for e in result.errors or ()])

    async def refusal(self, request: GraphQLRequest) -> Result | None:
        """What a streamed operation would be refused with before running (parse, limits,
        validation, variables), or None when it would run."""
        p = await self._prepare(request, read_only=False, streaming=True)
        return p if isinstance(p, Result) else None

    # -- before anything runs -------------------------------------------------------------
    async def _prepare(self, request: GraphQLRequest, read_only: bool, streaming: bool = False) -> _Prepared | Result:
        if len(request.document) <= INLINE_DOCUMENT_CHARS:
            return self._prepare_now(request, read_only, streaming)
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._prepare_now, request, read_only, streaming
        )

    def _prepare_now(self, request: GraphQLRequest, read_only: bool, streaming: bool = False) -> _Prepared | Result:
        try:
            return self._checked(request, read_only, streaming)
        except RecursionError:
            return Result.refused(QueryTooComplex("the request is nested too deeply"))

    def _check_document(self, text: str, operation_name: str | None) -> _Checked | Result:
        """Parse, limits and validation of one document: the same answer every time for the same text."""
        s = self.settings
        try:
            document = parse(text, max_tokens=s.max_document_tokens)
        except GraphQLError as e:
            return _graphql_errors([e], GraphQLParseFailed)
        problem = check_complexity(document, self.limits)
        if problem:
            return Result.refused(QueryTooComplex(problem))
        errors = validate(self.schema, document, self.rules)
        if errors:
            return _graphql_errors(errors, GraphQLValidationFailed)
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return Result.refused(
                RequestError(
                    f"no operation named {operation_name!r}" if operation_name else "several operations: name one"
                )
            )
        deferred = ("defer" in text or "stream" in text) and uses_incremental(document)
        return _Checked(document, operation, len(_model_fields(document, operation)), deferred)

    def _checked(self, request: GraphQLRequest, read_only: bool, streaming: bool = False) -> _Prepared | Result:
        check = self._checked_cached if len(request.document) <= INLINE_DOCUMENT_CHARS else self._check_document
        checked = check(request.document, request.operation_name)
        if isinstance(checked, Result):
            return checked
        document, operation = checked.document, checked.operation
        if operation.operation == OperationType.SUBSCRIPTION and not streaming:
            return Result.refused(
                SubscriptionNeedsStream(
                    "subscriptions are streamed: send Accept: text/event-stream (graphql-sse) or use a WebSocket "
                    "(graphql-transport-ws)"
                )
            )
        if read_only and operation.operation != OperationType.QUERY:
            return Result.refused(MutationNotAllowed("this request may only read: send mutations with POST"))
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), request.variables or {})
        if isinstance(coerced, list):
            return _graphql_errors(coerced, BadUserInput)
        return _Prepared(document, operation, request.variables or {}, checked.model_fields, checked.incremental)

    # -- running --------------------------------------------------------------------------
    async def _run(self, p: _Prepared, caller: Caller, scope: RequestScope) -> Result:
        ctx = RequestContext(caller.roles, caller.timezone, scope=scope, caller=caller.key_id, caller_id=caller.id)
        name = p.operation.name.value if p.operation.name else None
        if p.incremental:  # a client that takes one response: the parts merged
            merged = merge([part async for part in self._parts(p, ctx)])
            return Result(merged.get("data"), merged.get("errors", []), merged.get("extensions"))
        # graphql-core's execute() refuses a schema that declares @defer/@stream; this is the same
        # call without that check, and a document without them always has one result
        result: Any = experimental_execute_incrementally(
            self.schema,
            p.document,
            variable_values=p.variables,
            operation_name=name,
            context_value=ctx,
            is_awaitable=is_awaitable,
        )
        if isawaitable(result):
            result = await result
        return Result(
            result.data, [_field_error(e) for e in result.errors or ()], {"fields": ctx.traces} if ctx.traces else None
        )

    def _parts(self, p: _Prepared, ctx: RequestContext) -> AsyncIterator[dict[str, Any]]:
        name = p.operation.name.value if p.operation.name else None
        return parts(self.schema, p.document, p.variables, name, ctx, _field_error, lambda: ctx.traces)


async def _live_results(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any],
    operation_name: str | None,
    ctx: RequestContext,
) -> AsyncIterator[ExecutionResult]:
    """graphql-core's ``subscribe`` over the live queries, a result equal to the last one dropped;
    what the subscription holds is released however the iteration ends."""
    try:
        result: Any = subscribe(
            schema, document, context_value=ctx, variable_values=variables, operation_name=operation_name
        )
        if isawaitable(result):
            result = await result
        if isinstance(result, ExecutionResult):
            yield result
            return
        last = None
        async for event in result:
            text = json.dumps([event.data, [e.formatted for e in event.errors or ()]], sort_keys=True, default=str)
            if text != last:
                last = text
                yield event
    finally:
        while ctx.closers:
            await ctx.closers.pop()()


def _graphql_errors(errors: list[GraphQLError], kind: type[GatewayError]) -> Result:
    """graphql-core's errors found before running, each given the code of ``kind`` unless it has one."""
    formatted = []
    for e in errors:
        f: dict[str, Any] = dict(e.formatted)
        f["extensions"] = {"code": kind.code, **(f.get("extensions") or {})}
        formatted.append(f)
    return Result(errors=formatted, executed=False)


def _field_error(e: GraphQLError) -> dict[str, Any]:
    """A field error as the client sees it; an unexpected exception is logged, not shown."""
    original = e.original_error
    if original is None or isinstance(original, (GatewayError, GraphQLError)):
        return dict(e.formatted)
    log.error("unexpected error in %s", e.path, exc_info=original)
    f: dict[str, Any] = dict(e.formatted)
    f["message"] = "internal error while resolving this field (logged on the server)"
    f["extensions"] = {"code": InternalError.code}
    return f


def _model_fields(document: DocumentNode, operation: OperationDefinitionNode) -> set[str]:
    """The distinct root fields given a ``q``: each may cost a model call (identical ones count once)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    found: set[str] = set()

    def walk(ss: SelectionSetNode | None, seen: frozenset[str]) -> None:
        for sel in ss.selections if ss else ():
            if isinstance(sel, FieldNode):
                if any(a.name.value == "q" for a in sel.arguments or ()):
                    unaliased = FieldNode(
                        name=sel.name,
                        arguments=sel.arguments,
                        directives=sel.directives,
                        selection_set=sel.selection_set,
                    )
                    found.add(print_ast(unaliased))
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set, seen)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments and sel.name.value not in seen:
                walk(fragments[sel.name.value].selection_set, seen | {sel.name.value})

    walk(operation.selection_set, frozenset())
    return found


def dumps_response(body: Any) -> bytes:
    """JSON bytes of a response; text a model answered with unpaired surrogates is escaped, not a 500."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, ensure_ascii=True, separators=(",", ":"), default=str).encode("ascii")
