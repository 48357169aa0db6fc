"""The gateway itself: SDL, store, planner and policy wired behind one generic resolver.

``Gateway.resolve_field`` is the one resolver every root field of ``Query`` and ``Mutation``
shares (a ``Subscription`` field prepares the same plan once and runs it again per change): plan (or take a listing plan when no ``q`` is given), check policy, run the plan in
one transaction, load the nested selection, and record a trace for ``extensions``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, default_field_resolver

from . import pagination, subscriptions
from .access import Access, ApiKeys
from .cache import CacheHit, PlanCache
from .config import Settings
from .connectors import load_connectors
from .describe import describe
from .errors import GatewayError, PlanInvalid, PlanNotFrozen, PlanRejected
from .execution import Caller, Execution, GraphQLRequest, RequestContext, Result
from .executor import Executor, Keyset, Record
from .grounding import GroundingLimits, format_hints, ground
from .llm import Provider, get_provider
from .notify import make_notifier
from .plan import MAX_LIMIT, Aggregate, Find, Plan
from .planner import Planned, Planner
from .policy import Policy
from .sdl import Catalog, RootField, load_sdl
from .selection import Prefetcher, describe_selection
from .store import build_tables, create_store_engine, is_sqlite, migrate
from .store.changes import ensure_change_triggers
from .store.values import ensure_value_index
from .traces import TraceLog
from .validation import validate_plan

INLINE_BELOW_S = 0.002  # a read plan that ran faster than this runs on the event loop ...
SLOW_RUNS_TO_THREAD = 3  # ... until it runs slower this many times in a row


@dataclass
class Prepared:
    """A root field planned and checked, ready to run (once, or again for a subscription)."""

    root: RootField
    plan: Plan
    paged: Plan
    page: pagination.Page | None
    field_nodes: list[Any]
    fragments: dict[str, Any]
    trace: dict[str, Any]
    request: str | None
    selection: str
    hints: dict[str, Any]
    started: float
    timezone: str | None = None
    caller: str | None = None  # the API key's digest, for the plan cache
    remembered: bool = False
    variables: dict[str, Any] | None = None  # the request's variables (nested ``limit`` arguments)


__all__ = ["Caller", "Gateway", "RequestContext", "Result"]


class Gateway:
    """One served contract: the SDL, its store and migrations, the planner, policy and the executable schema."""

    def __init__(self, settings: Settings, provider: Provider | None = None) -> None:
        self.settings = settings
        self.catalog: Catalog = load_sdl(settings.schema)
        self.engine = create_store_engine(settings.db)
        self.tables = build_tables(self.catalog)
        self.migrations = migrate(self.engine, self.catalog, self.tables)
        ensure_value_index(self.engine, self.catalog, enabled=settings.grounding_probes > 0)
        live = any(r.operation == "subscription" for r in self.catalog.root_fields.values())
        announces = live and ensure_change_triggers(self.engine, self.tables)
        self.executor = Executor(self.engine, self.catalog, self.tables)
        self.prefetcher = Prefetcher(
            self.executor,
            self.catalog,
            functools.partial(
                pagination.page_size,
                default=settings.default_page_size,
                maximum=settings.max_page_size,
                argument="limit",
            ),
        )
        self.catalog.connectors = load_connectors(settings.connectors, self.catalog)
        self.policy = Policy(self.catalog, settings.max_rows)
        self._lookups: dict[tuple[Any, ...], asyncio.Task[CacheHit | None]] = {}  # in flight (_lookup)
        self._slow_runs: dict[int, int] = {}  # a read plan's slow runs since its last fast one (_run_read)
        self.access = Access(self.catalog)
        self.api_keys = ApiKeys.load(settings.api_keys, settings.api_keys_file)
        self._provider = provider
        self.plan_cache = self._make_plan_cache()
        self.notifier = make_notifier(settings.notify, self.engine, settings.redis_url, announces=announces)
        self.subscription_slots = subscriptions.Slots(settings.max_subscriptions)
        self._planner: Planner | None = None
        self.schema = self._executable_schema()
        self.execution = Execution(self.schema, settings)

    # -- requests -------------------------------------------------------------------------
    async def execute(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        caller: Caller | None = None,
        *,
        read_only: bool = False,
    ) -> Result:
        """Parse, limit, validate and run one GraphQL request: every transport goes through here."""
        return await self.execution.execute(document, variables, operation_name, caller, read_only=read_only)

    async def execute_batch(
        self, requests: list[GraphQLRequest | Result], caller: Caller | None = None, *, read_only: bool = False
    ) -> list[Result]:
        """Several requests as one: none runs unless all are ready; caps and budget count them together."""
        return await self.execution.execute_batch(requests, caller, read_only=read_only)

    # -- model ----------------------------------------------------------------------------
    @property
    def planner(self) -> Planner:
        """The planner, created on first use so a gateway without a model can still list."""
        if self.settings.frozen:
            raise PlanNotFrozen("this gateway serves frozen plans only and has no model")
        if self._planner is None:
            provider = self._provider or get_provider(self.settings.model, self.settings)
            self._planner = Planner(
                self.catalog,
                provider,
                self.settings,
                traces=TraceLog(self.settings.traces) if self.settings.traces else None,
            )
        return self._planner

    async def warm_model(self) -> int:
        """Read every root field's prompt prefix into the model (start-up work of ``serve``:
        a field's first request then costs only its own tokens); returns how many were kept.
        Stops early when the model keeps no more; a gateway without a model does nothing."""
        if self.settings.frozen or not self.settings.warm_prompts:
            return 0
        kept = 0
        for root in self.catalog.root_fields.values():
            while self.planner.in_flight:  # requests first: warming only fills idle time
                await asyncio.sleep(0.05)
            if not await self.planner.warm(root):
                break
            kept += 1
        return kept

    def _make_plan_cache(self) -> PlanCache | None:
        """The frozen plans of a lock file; else the plan cache (store, plus Redis), or None when off."""
        if self.settings.frozen:
            from .cache.lockfile import load

            return PlanCache.frozen(load(self.settings.frozen, self.catalog), self.catalog)
        if not self.settings.plan_cache:
            return None
        return PlanCache.open(self.engine, self.catalog, self.settings.redis_url, self.settings.redis_prefix)

    # -- schema ---------------------------------------------------------------------------
    def _executable_schema(self) -> GraphQLSchema:
        schema = self.catalog.schema
        for root_type in (schema.query_type, schema.mutation_type):
            if root_type is None:
                continue
            for f in root_type.fields.values():
                f.resolve = self._resolver
        if schema.subscription_type is not None:
            for f in schema.subscription_type.fields.values():
                f.subscribe = functools.partial(subscriptions.subscribe_field, self)
                f.resolve = subscriptions.event_value
        for t in schema.type_map.values():
            if isinstance(t, GraphQLInterfaceType):
                t.resolve_type = lambda value, _info, _type: value.get("__typename")
        for model in [*self.catalog.models.values(), *self.catalog.shapes.values()]:
            gql_type = schema.type_map[model.name]
            assert isinstance(gql_type, GraphQLObjectType)  # every model is an object type (build_catalog)
            for f in model.fields.values():
                target = self.catalog.object_type(f.type_name)
                if (
                    f.auth_roles is not None
                    or model.auth_roles is not None
                    or (target is not None and target.auth_roles is not None)
                ):
                    gql_type.fields[f.name].resolve = self._guarded(model, f.name)
        return schema

    def _guarded(self, model: Any, field_name: str) -> Any:
        """A field resolver that checks ``@auth`` (the field's, its type's, its target's) first.

        Every object type is guarded, models and shapes alike (aggregate rows, connector
        records, embedded objects), whichever path produced the value.
        """

        def resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
            try:
                self.access.check_model(model, info.context.roles)
                self.access.check_field(model, field_name, info.context.roles)
            except GatewayError as e:
                raise e.as_graphql_error() from e
            return default_field_resolver(source, info, **args)

        return resolve

    async def _resolver(self, _source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        ctx: RequestContext = info.context
        root = self.catalog.root(info.operation.operation.value, info.field_name)
        key = str(info.path.key)
        try:
            return await self.resolve_field(root, args, info, ctx, key)
        except GatewayError as e:
            ctx.traces.setdefault(key, {})["error"] = e.code
            raise e.as_graphql_error() from e

    # -- the one resolver -----------------------------------------------------------------
    async def resolve_field(
        self, root: RootField, args: dict[str, Any], info: GraphQLResolveInfo[Any], ctx: RequestContext, key: str
    ) -> Any:
        prepared = await self.prepare_field(root, args, info, ctx, key)
        return await self.run_prepared(prepared)

    async def prepare_field(
        self, root: RootField, args: dict[str, Any], info: GraphQLResolveInfo[Any], ctx: RequestContext, key: str
    ) -> Prepared:
        """Plan a root field (model, cache or listing) and check it; nothing runs on the store yet."""
        started = time.perf_counter()
        args = dict(args)
        request = args.pop("q", None)
        first, after = (args.pop("first", None), args.pop("after", None)) if root.connection else (None, None)
        hints = {k: v for k, v in args.items() if v is not None}
        trace: dict[str, Any] = {"field": root.key}
        ctx.traces[key] = trace
        self.access.check_root(root, ctx.roles)
        field_nodes = list(info.field_nodes)
        if root.connection:
            field_nodes = pagination.node_field_nodes(field_nodes, info.fragments)
        self.prefetcher.check(field_nodes, info.fragments, info.variable_values.coerced)  # before any model call
        selection = ""
        if request is None or not request.strip():
            plan = self.listing_plan(root, hints)
            trace.update(model=None, source="listing")
        else:
            selection = describe_selection(field_nodes, info.fragments)
            plan = await self._plan(root, request, selection, hints, ctx, trace)
        trace["plan"] = plan.dump()
        trace["reading"] = plan.derived("reading", lambda: describe(trace["plan"]))
        try:
            self.policy.check(root, plan)
            self.access.check_plan(plan, ctx.roles)
            paged, page = self._page(root, plan, hints, first, after)
        except GatewayError as e:
            self._trace_outcome(trace, e.code)
            raise
        return Prepared(
            root,
            plan,
            paged,
            page,
            field_nodes,
            info.fragments,
            trace,
            request,
            selection,
            hints,
            started,
            ctx.timezone,
            ctx.caller,
            variables=info.variable_values.coerced,
        )

    async def run_prepared(self, p: Prepared) -> Any:
        """Run a prepared plan in one transaction, load the nested selection, shape the result."""
        try:
            keyset = p.page.keyset if p.page is not None else None
            nested: dict[str, Any] = {}
            args = (p.root, p.paged, p.field_nodes, p.fragments, p.timezone, keyset, p.variables, nested)
            if p.paged.writes:
                records = await asyncio.to_thread(self._run, *args)
            else:
                records = await self._run_read(p.plan, args)
        except GatewayError as e:
            self._trace_outcome(p.trace, e.code)
            raise
        self._trace_outcome(p.trace, "ok")
        if nested:
            p.trace["pages"] = nested
        if p.paged.writes:
            await asyncio.to_thread(self.notifier.publish, subscriptions.written_models(self.catalog, p.paged))
        if (
            p.trace.get("source") == "model"
            and p.request is not None  # a model's plan always answers a request
            and self.plan_cache is not None
            and not p.remembered
        ):
            p.remembered = True
            await asyncio.to_thread(self.plan_cache.remember, p.root, p.request, p.selection, p.hints, p.plan, p.caller)
        p.trace["totalMs"] = round((time.perf_counter() - p.started) * 1000, 2)
        return self.shape(p.root, p.plan, records, p.page, p.trace)

    def _page(
        self, root: RootField, plan: Plan, hints: dict[str, Any], first: Any, after: Any
    ) -> tuple[Plan, pagination.Page | None]:
        """The plan narrowed to the page asked for (default page size, ``limit``, ``first``/``after``)."""
        s = self.settings
        if not plan.steps:  # a refusal: nothing to page
            return plan, None
        if root.connection:
            size = pagination.page_size(first, s.default_page_size, s.max_page_size, "first")
            return pagination.page_connection(plan, size, after, self.catalog, root.key, is_sqlite(self.engine))
        if not root.returns_list:
            return plan, None
        size = pagination.page_size(hints.get("limit"), s.default_page_size, s.max_page_size, "limit")
        return pagination.page_list(plan, size)

    async def _plan(
        self,
        root: RootField,
        request: str,
        selection: str,
        hints: dict[str, Any],
        ctx: RequestContext,
        trace: dict[str, Any],
    ) -> Plan:
        """A cached (or frozen) plan when one fits this request, else a fresh one from the model.

        Identical model requests within one incoming request are planned once (``shared``).
        """
        key = (root.key, request, selection, json.dumps(hints, sort_keys=True, default=str))
        (plan, found), shared = await ctx.scope.once(key, lambda: self._plan_once(root, request, selection, hints, ctx))
        trace.update(found, **({"shared": True} if shared else {}))
        return plan

    async def _plan_once(
        self, root: RootField, request: str, selection: str, hints: dict[str, Any], ctx: RequestContext
    ) -> tuple[Plan, dict[str, Any]]:
        cache = self.plan_cache
        if cache is not None:
            # a repeat answered from this process's memory needs no worker thread; else the store
            # (and Redis) are read on one. Either way the plan is bound and validated (``_bound``).
            hit = cache.remembered(root, request, selection, hints, ctx.caller)
            if hit is None:
                hit = await self._lookup(cache, root, request, selection, hints, ctx.caller)
            if hit is not None:
                return hit.plan, {
                    "source": "frozen" if cache.read_only else "cache",
                    "cache": hit.kind,
                    "model": None,
                }
            if cache.read_only:
                raise PlanNotFrozen(
                    f"no frozen plan answers this request to {root.key}; add it with "
                    "`gateway plans freeze` and review the lock file"
                )
        limits = GroundingLimits(probes=self.settings.grounding_probes, hints=self.settings.grounding_hints)
        matches = await asyncio.to_thread(ground, self.catalog, self.engine, root, request, ctx.roles, limits)
        learned = (
            []
            if cache is None or self.settings.plan_examples <= 0
            else await asyncio.to_thread(cache.similar_examples, root, request, self.settings.plan_examples, ctx.caller)
        )
        planned = await self.planner.plan(
            root,
            request,
            selection,
            hints,
            budget=ctx.scope.budget,
            grounded_values=[m.value for m in matches if m.enum is None],
            grounding=format_hints(matches, limits.value_chars),
            learned=learned,
        )
        if cache is not None and await asyncio.to_thread(
            cache.rejected, root, request, selection, hints, planned.plan, ctx.caller
        ):
            raise PlanRejected("the model answered with a plan a developer rejected for this request")
        return planned.plan, {**self._model_trace(planned), "source": "model"}

    async def _lookup(
        self, cache: PlanCache, root: RootField, request: str, selection: str, hints: dict[str, Any], caller: str | None
    ) -> CacheHit | None:
        """``cache.lookup`` on a worker thread, one per request in flight at a time: the others
        asking for the same plan meanwhile await it. When the memo of a plan expired, every
        request in flight for it missed the memo at once: with 64 in flight 12 % of requests
        read the store on a thread of their own."""
        loop = asyncio.get_running_loop()
        key = (loop, root.key, request, selection, json.dumps(hints, sort_keys=True, default=str), caller)
        pending = self._lookups.get(key)
        if pending is None:
            pending = loop.create_task(asyncio.to_thread(cache.lookup, root, request, selection, hints, caller))
            self._lookups[key] = pending
            pending.add_done_callback(lambda _: self._lookups.pop(key, None))
        return await asyncio.shield(pending)  # one caller cancelled leaves the lookup to the others

    def _trace_outcome(self, trace: dict[str, Any], outcome: str) -> None:
        if trace.get("source") == "model":
            self.planner.trace_outcome(trace.get("requestId", ""), outcome)

    @staticmethod
    def _model_trace(planned: Planned) -> dict[str, Any]:
        u = planned.usage
        return {
            "model": planned.model,
            "requestId": planned.request_id,
            "latencyMs": round(u.latency_ms, 2),
            "tokens": {"prompt": u.prompt_tokens, "completion": u.completion_tokens},
            "attempts": len(planned.attempts),
        }

    async def _run_read(self, plan: Plan, args: tuple[Any, ...]) -> list[Record]:
        """Run a read on the event loop when the same plan has run in under ``INLINE_BELOW_S``
        and not ``SLOW_RUNS_TO_THREAD`` times slower since, else on a worker thread.

        A worker thread keeps a slow plan from stalling every other request, but for a cached
        plan that reads a few rows the hop to it and back, and the two threads passing the GIL
        to each other, cost more than the query: with 8 requests in flight the gateway answered
        0.87x the hand-written app's requests per second, which runs its queries on the loop.
        Every run is timed, so a plan that turns slow goes back to the thread.
        """
        key = id(plan)  # cached plans are shared objects; a reused id only picks thread or loop
        slow = self._slow_runs.get(key)
        if len(self._slow_runs) >= 4096:
            self._slow_runs.clear()
        if slow is not None and slow < SLOW_RUNS_TO_THREAD:
            return self._timed_run(key, args)
        return await asyncio.to_thread(self._timed_run, key, args)

    def _timed_run(self, key: int, args: tuple[Any, ...]) -> list[Record]:
        """``_run``, counting the plan's slow runs in a row (see ``_run_read``).

        Timed is the run itself, not the wait for a worker thread nor for the event loop to
        take the result back: under load those waits alone passed ``INLINE_BELOW_S`` (10 ms on
        average with 8 requests in flight, 90 ms with 64), so a plan that once ran on a thread
        stayed there. The run itself can still be slowed by the machine's other work or by
        another thread holding the GIL, hence a few slow runs in a row before the thread.
        """
        started = time.perf_counter()
        try:
            return self._run(*args)
        finally:
            if time.perf_counter() - started < INLINE_BELOW_S:
                self._slow_runs[key] = 0
            elif key in self._slow_runs:
                self._slow_runs[key] += 1

    def _run(
        self,
        root: RootField,
        plan: Plan,
        field_nodes: list[Any],
        fragments: dict[str, Any],
        timezone: str | None = None,
        keyset: Keyset | None = None,
        variables: dict[str, Any] | None = None,
        pages: dict[str, Any] | None = None,
    ) -> list[Record]:
        """Run the plan and load the nested selection in the same transaction (one snapshot).

        ``pages`` receives each nested list's page (size, and whether more were left out).
        """

        def nested(conn: Any, records: list[Record]) -> None:
            loaded = self.prefetcher.load_in(conn, records, field_nodes, fragments, root.type_name, variables)
            if pages is not None:
                pages.update(loaded)

        return self.executor.run(
            plan,
            max_rows=self.policy.max_rows(root),
            allow_bulk=root.allow_bulk,
            timezone=timezone,
            then=nested,
            keyset=keyset,
        )

    def listing_plan(self, root: RootField, hints: dict[str, Any]) -> Plan:
        """A field called without ``q`` lists its records, with no model call."""
        if root.operation == "mutation":
            raise PlanInvalid(f"mutation {root.name} needs a request in `q`")
        if not root.models:
            raise PlanInvalid(f"{root.name} needs a request in `q`")
        limit = hints.get("limit") if root.returns_list else 1
        if isinstance(limit, int) and not 0 <= limit <= MAX_LIMIT:
            raise PlanInvalid(f"limit must be between 0 and {MAX_LIMIT}")
        plan = Plan(steps=[Find(op="find", model=root.models[0], limit=limit)], result=0)
        return validate_plan(self.catalog, plan, root)

    def shape(
        self,
        root: RootField,
        plan: Plan,
        records: list[Record],
        page: pagination.Page | None = None,
        trace: dict[str, Any] | None = None,
    ) -> Any:
        """Fit the result step's records to the field's return type (a page of a list, a connection)."""
        if root.connection and page is not None:
            return pagination.connection(records, page)
        step = plan.steps[plan.result_index]
        if root.returns_list:
            if page is None:
                return records
            rows = pagination.cut(records, page)
            if trace is not None:
                trace["page"] = {"size": page.size, "more": page.has_next}
            return rows
        if not records:
            return None
        if isinstance(step, Aggregate) and root.type_name not in self.catalog.shapes:
            return records[0].get(step.aggregates[0].as_)
        return records[0]

    def close(self) -> None:
        self.notifier.close()
        self.execution.close()
        if self.plan_cache is not None:
            self.plan_cache.close()
        self.engine.dispose()
