"""The gateway's own admin API at /admin/graphql: plans, recent traces and stats, for admin callers.

Its schema is ours and fixed, so it is written with strawberry's code-first types (the user's
SDL, known only at start-up, stays on graphql-core in ``server.py``). Who may call it:

- with API keys configured, a key holding the admin role (``GATEWAY_ADMIN_ROLE``, default
  ``admin``); no key or a wrong key is 401 ``UNAUTHENTICATED``, a key without the role is 403
  ``FORBIDDEN``;
- with no API keys, nobody, unless ``--admin-local`` (``GATEWAY_ADMIN_LOCAL``) opens it to
  loopback callers (127.0.0.1, ::1): an open gateway must not hand its plans to the network.

Plan actions go through ``PlanReview``, the one adapter over the plan cache's lifecycle.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.scalars import JSON
from strawberry.types import Info

from .access import presented_key
from .cache import CacheEntry, PlanCache
from .errors import Forbidden, GatewayError, Unauthenticated
from .monitor import Monitor, RequestTrace, percentile
from .service import Gateway


# -- who may call -------------------------------------------------------------------------
@dataclass
class Refusal:
    status: int
    code: str
    message: str

    def response(self) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        return JSONResponse({"errors": [{"message": self.message, "extensions": {"code": self.code}}]},
                            status_code=self.status, headers=headers)


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admin_refusal(gateway: Gateway, request: Request, what: str = "the admin API") -> Refusal | None:
    """Why this caller may not use an admin-only endpoint, or None when they may."""
    settings = gateway.settings
    if gateway.api_keys is None:
        if settings.admin_local and is_loopback(request.client.host if request.client else None):
            return None
        return Refusal(403, Forbidden.code, f"{what} is off: configure API keys with the {settings.admin_role!r} "
                                         "role (GATEWAY_API_KEYS), or serve with --admin-local for loopback callers")
    roles = gateway.api_keys.roles_for(presented_key(request.headers))
    if roles is None:
        return Refusal(401, Unauthenticated.code, "a valid API key is required (Authorization: Bearer <key>)")
    if settings.admin_role not in roles:
        return Refusal(403, Forbidden.code, f"{what} needs the {settings.admin_role!r} role")
    return None


# -- plans: one adapter over the plan cache's lifecycle -----------------------------------
def as_dict(entry: CacheEntry) -> dict[str, Any]:
    """A cache entry as the JSON it is stored as."""
    data: dict[str, Any] = json.loads(entry.to_json())
    return data


def coded(e: GatewayError) -> GraphQLError:
    """A cache refusal (``PLAN_NOT_FOUND``...) as the admin API's coded error."""
    return GraphQLError(e.message, extensions=e.as_extensions())


class PlanReview:
    """The admin API's one door to the plan cache's lifecycle: list, show, approve, reject, pin, evict."""

    ACTIONS = ("approve", "reject", "pin", "evict")

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._cache: PlanCache | None = None

    @property
    def cache(self) -> PlanCache:
        """The serving cache, or (with caching off) the store's, as ``gateway plans`` uses."""
        if self._cache is None:
            self._cache = self.gateway.plan_cache or PlanCache.open(
                self.gateway.engine, self.gateway.catalog, redis_url=self.gateway.settings.redis_url)
        return self._cache

    def list(self, field: str | None) -> list[tuple[dict[str, Any], bool]]:
        """Each entry as JSON with whether it still fits the served SDL."""
        return [(as_dict(e), self.cache.is_current(e)) for e in self.cache.list(field)]

    def show(self, plan_id: str) -> tuple[dict[str, Any], bool]:
        try:
            entry = self.cache.show(plan_id)
        except GatewayError as e:
            raise coded(e) from e
        return as_dict(entry), self.cache.is_current(entry)

    def act(self, action: str, plan_id: str) -> tuple[dict[str, Any], bool]:
        """Apply one of ``ACTIONS`` to a plan; returns the entry after it (an evicted one is no longer current)."""
        assert action in self.ACTIONS
        try:
            entry = getattr(self.cache, action)(plan_id)
        except GatewayError as e:
            raise coded(e) from e
        return as_dict(entry), action != "evict" and self.cache.is_current(entry)


# -- the schema ---------------------------------------------------------------------------
@strawberry.type(description="A cached plan: what one request (or request template) runs.")
class Plan:
    id: strawberry.ID
    kind: str = strawberry.field(description="exact, template, or another kind the cache keeps")
    field: str = strawberry.field(description="the root field, e.g. query.tasks")
    request: str | None = strawberry.field(description="the request text that produced the plan")
    status: str | None = strawberry.field(description="review state: learned, approved, rejected or wrong")
    pinned: bool = strawberry.field(description="kept through clears and schema changes")
    current: bool = strawberry.field(description="whether the plan still fits the served SDL")
    created_at: float | None
    plan: JSON | None = strawberry.field(description="the plan's steps, as the executor runs them")
    entry: JSON = strawberry.field(description="the whole cache entry")


def to_plan(entry: dict[str, Any], current: bool) -> Plan:
    status = entry.get("status")
    return Plan(id=strawberry.ID(entry["id"]), kind=str(entry.get("kind")), field=str(entry.get("field")),
                request=entry.get("request") or entry.get("text"), status=status,
                pinned=bool(entry.get("pinned")), current=current,
                created_at=entry.get("created"), plan=entry.get("plan"), entry=cast(JSON, entry))


@strawberry.type(description="One GraphQL request this process served, newest first.")
class Trace:
    at: float
    duration_ms: float
    error_codes: list[str]
    fields: JSON = strawberry.field(description="per root field: source, plan, model, tokens, latency "
                                                "(as in extensions)")


@strawberry.type
class Percentiles:
    p50: float | None
    p90: float | None
    p99: float | None
    samples: int


def percentiles(values: list[float]) -> Percentiles:
    return Percentiles(p50=percentile(values, 50), p90=percentile(values, 90), p99=percentile(values, 99),
                       samples=len(values))


@strawberry.type
class ErrorCount:
    code: str
    count: int


@strawberry.type(description="Counts since this process started (each worker counts its own).")
class Stats:
    since: float
    requests: int
    model_calls: int = strawberry.field(description="calls to the model, repairs included")
    prompt_tokens: int
    completion_tokens: int
    cache_hits: int
    cache_hit_rate: float | None = strawberry.field(description="planned fields answered without the model")
    latency_ms: Percentiles = strawberry.field(description="whole requests")
    model_latency_ms: Percentiles
    errors: list[ErrorCount] = strawberry.field(description="errors by extensions.code, most frequent first")


def context(info: Info) -> AdminContext:
    return info.context["admin"]  # type: ignore[no-any-return]


@strawberry.type
class Query:
    @strawberry.field(description="Cached plans, oldest first; `field` narrows to one root field.")  # type: ignore[untyped-decorator]
    def plans(self, info: Info, field: str | None = None) -> list[Plan]:
        return [to_plan(e, current) for e, current in context(info).review.list(field)]

    @strawberry.field(description="One plan by id or unique id prefix.")  # type: ignore[untyped-decorator]
    def plan(self, info: Info, id: strawberry.ID) -> Plan:
        return to_plan(*context(info).review.show(str(id)))

    @strawberry.field(description="The most recent requests this process served.")  # type: ignore[untyped-decorator]
    def traces(self, info: Info, limit: int = 50) -> list[Trace]:
        return [to_trace(t) for t in context(info).monitor.traces(min(limit, 200))]

    @strawberry.field
    def stats(self, info: Info) -> Stats:
        m = context(info).monitor
        return Stats(since=m.started, requests=m.requests, model_calls=m.model_calls, prompt_tokens=m.prompt_tokens,
                     completion_tokens=m.completion_tokens, cache_hits=m.sources["cache"] + m.sources["frozen"],
                     cache_hit_rate=m.cache_hit_rate(), latency_ms=percentiles(list(m.latencies)),
                     model_latency_ms=percentiles(list(m.model_latencies)),
                     errors=[ErrorCount(code=c, count=n) for c, n in m.errors.most_common()])


def to_trace(t: RequestTrace) -> Trace:
    return Trace(at=t.at, duration_ms=t.duration_ms, error_codes=t.error_codes, fields=cast(JSON, t.fields))


def _action(name: str, description: str) -> Any:
    def resolve(self: Any, info: Info, id: strawberry.ID) -> Plan:
        return to_plan(*context(info).review.act(name, str(id)))

    return strawberry.mutation(resolver=resolve, description=description)


@strawberry.type
class Mutation:
    approve_plan: Plan = _action("approve", "Mark a plan reviewed and good.")
    reject_plan: Plan = _action("reject", "Never serve this plan again.")
    pin_plan: Plan = _action("pin", "Keep this plan for its request, whatever is cached later.")
    evict_plan: Plan = _action("evict", "Drop a plan from the cache; the next such request plans afresh.")


class AdminSchema(strawberry.Schema):
    """Logs only unexpected errors: a coded one (an unknown plan id) is the caller's, not the server's."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        super().process_errors([e for e in errors if not (e.extensions or {}).get("code")], execution_context)


schema = AdminSchema(query=Query, mutation=Mutation)


# -- the endpoint -------------------------------------------------------------------------
@dataclass
class AdminContext:
    gateway: Gateway
    monitor: Monitor
    review: PlanReview


class AdminGraphQL(GraphQL[dict[str, Any], None]):
    """strawberry's ASGI view with our context."""

    def __init__(self, admin: AdminContext) -> None:
        super().__init__(schema, graphql_ide=None, allow_queries_via_get=True)
        self.admin = admin

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        return {"request": request, "response": response, "admin": self.admin}


class AdminApp:
    """The admin endpoint: refuse callers without the admin role before strawberry sees the request."""

    def __init__(self, gateway: Gateway, monitor: Monitor) -> None:
        self.gateway = gateway
        self.view = AdminGraphQL(AdminContext(gateway, monitor, PlanReview(gateway)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = admin_refusal(self.gateway, Request(scope))
            if refusal is not None:
                await refusal.response()(scope, receive, send)
                return
        await self.view(scope, receive, send)
