"""The gateway itself: SDL, store, planner and policy wired behind one generic resolver.

``Gateway.resolve_field`` is the one resolver every root field of ``Query`` and ``Mutation``
shares: plan (or take a listing plan when no ``q`` is given), check policy, run the plan in
one transaction, load the nested selection, and record a trace for ``extensions``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, GraphQLInterfaceType, GraphQLResolveInfo, GraphQLSchema

from .config import Settings
from .errors import GatewayError, PlanInvalid
from .executor import Executor, Record
from .llm import Provider, get_provider
from .plan import Aggregate, Find, Plan
from .planner import Planned, Planner, PlannerSettings
from .policy import Policy
from .sdl import Catalog, RootField, load_sdl
from .selection import Prefetcher, describe_selection
from .store import build_tables, create_store_engine, migrate
from .validation import validate_plan


@dataclass
class RequestContext:
    """Per-request state: who is calling and the traces that go into ``extensions``."""

    gateway: "Gateway"
    roles: frozenset[str] = frozenset()
    timezone: str | None = None
    traces: dict[str, Any] = field(default_factory=dict)


class Gateway:
    def __init__(self, settings: Settings, provider: Provider | None = None) -> None:
        self.settings = settings
        self.catalog: Catalog = load_sdl(settings.schema)
        self.engine = create_store_engine(settings.db)
        self.tables = build_tables(self.catalog)
        self.migrations = migrate(self.engine, self.catalog, self.tables)
        self.executor = Executor(self.engine, self.catalog, self.tables)
        self.prefetcher = Prefetcher(self.executor, self.catalog)
        self.policy = Policy(settings.max_rows)
        self._provider = provider
        self._planner: Planner | None = None
        self.schema = self._executable_schema()

    # -- model ----------------------------------------------------------------------------
    @property
    def planner(self) -> Planner:
        """The planner, created on first use so a gateway without a model can still list."""
        if self._planner is None:
            provider = self._provider or get_provider(self.settings.model)
            self._planner = Planner(self.catalog, provider, PlannerSettings(
                repairs=self.settings.repairs,
                timeout_s=self.settings.model_timeout_s,
                max_tokens_per_request=self.settings.max_tokens_per_request,
                concurrency=self.settings.model_concurrency,
            ))
        return self._planner

    # -- schema ---------------------------------------------------------------------------
    def _executable_schema(self) -> GraphQLSchema:
        schema = self.catalog.schema
        for root_type in (schema.query_type, schema.mutation_type):
            if root_type is None:
                continue
            for f in root_type.fields.values():
                f.resolve = self._resolver
        for t in schema.type_map.values():
            if isinstance(t, GraphQLInterfaceType):
                t.resolve_type = lambda value, _info, _type: value.get("__typename")
        return schema

    async def _resolver(self, _source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        ctx: RequestContext = info.context
        root = self.catalog.root(info.operation.operation.value, info.field_name)
        key = str(info.path.key)
        try:
            return await self.resolve_field(root, args, info, ctx, key)
        except GatewayError as e:
            ctx.traces.setdefault(key, {})["error"] = e.code
            raise GraphQLError(e.message, original_error=e, extensions=e.as_extensions()) from e

    # -- the one resolver -----------------------------------------------------------------
    async def resolve_field(self, root: RootField, args: dict[str, Any], info: GraphQLResolveInfo,
                            ctx: RequestContext, key: str) -> Any:
        started = time.perf_counter()
        request = args.pop("q", None)
        hints = {k: v for k, v in args.items() if v is not None}
        trace: dict[str, Any] = {"field": root.key}
        ctx.traces[key] = trace
        if request is None or not request.strip():
            plan = self.listing_plan(root, hints)
            trace.update(model=None, source="listing")
        else:
            selection = describe_selection(list(info.field_nodes), info.fragments)
            planned = await self.planner.plan(root, request, selection, hints, ctx.timezone)
            plan = planned.plan
            trace.update(self._model_trace(planned), source="model")
        trace["plan"] = plan.dump()
        self.policy.check(root, plan)
        records = await asyncio.to_thread(self._run, root, plan, list(info.field_nodes), info.fragments)
        trace["totalMs"] = round((time.perf_counter() - started) * 1000, 2)
        return self.shape(root, plan, records, hints.get("limit"))

    @staticmethod
    def _model_trace(planned: Planned) -> dict[str, Any]:
        u = planned.usage
        return {"model": planned.model, "latencyMs": round(u.latency_ms, 2),
                "tokens": {"prompt": u.prompt_tokens, "completion": u.completion_tokens},
                "attempts": len(planned.attempts)}

    def _run(self, root: RootField, plan: Plan, field_nodes: list[Any], fragments: dict[str, Any]) -> list[Record]:
        records = self.executor.run(plan, max_rows=self.policy.max_rows(root))
        if root.models:
            self.prefetcher.load(records, field_nodes, fragments)
        return records

    def listing_plan(self, root: RootField, hints: dict[str, Any]) -> Plan:
        """A field called without ``q`` lists its records, with no model call."""
        if root.operation == "mutation":
            raise PlanInvalid(f"mutation {root.name} needs a request in `q`")
        if not root.models:
            raise PlanInvalid(f"{root.name} needs a request in `q`")
        limit = hints.get("limit") if root.returns_list else 1
        plan = Plan(steps=[Find(op="find", model=root.models[0], limit=limit)], result=0)
        return validate_plan(self.catalog, plan, root)

    def shape(self, root: RootField, plan: Plan, records: list[Record], limit: Any = None) -> Any:
        """Fit the result step's records to the field's return type."""
        if isinstance(limit, int) and limit >= 0:
            records = records[:limit]
        step = plan.steps[plan.result_index]
        if root.returns_list:
            return records
        if not records:
            return None
        if isinstance(step, Aggregate) and root.type_name not in self.catalog.shapes:
            return records[0].get(step.aggregates[0].as_)
        return records[0]

    def close(self) -> None:
        self.engine.dispose()
