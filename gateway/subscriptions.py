"""Live queries: a ``Subscription`` root field is planned once, sent, and sent again when a model it reads changes.

The field takes ``q`` like any other and follows the Query rules (a plan that writes is
refused). Its plan runs again when :mod:`gateway.notify` says a model it reads (its steps, the
references its filters follow, the references its selection loads) changed; a result equal to
the last one sent is not sent again. A caller holds at most ``GATEWAY_MAX_SUBSCRIPTIONS``
open subscriptions; every transport closes what a subscription holds when the client leaves.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from graphql import FieldNode, GraphQLResolveInfo

from .errors import GatewayError, TooManySubscriptions
from .execution import RequestContext
from .notify import Notifier, Watch
from .plan import Aggregate, Delete, Find, Insert, Plan, Update, is_operator_condition
from .sdl import Catalog, Model, RootField
from .selection import Fragments, fields_by_name


class Slots:
    """Open subscriptions per caller, bounded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, caller: str) -> None:
        with self._lock:
            if self._open[caller] >= self.limit:
                raise TooManySubscriptions(
                    f"this caller already has {self._open[caller]} open subscriptions, the most allowed "
                    "(GATEWAY_MAX_SUBSCRIPTIONS); close one first",
                    limit=self.limit,
                )
            self._open[caller] += 1

    def give_back(self, caller: str) -> None:
        with self._lock:
            self._open[caller] -= 1
            if self._open[caller] <= 0:
                del self._open[caller]

    def held(self, caller: str | None = None) -> int:
        with self._lock:
            return sum(self._open.values()) if caller is None else self._open[caller]


class PreparedField(Protocol):
    """A root field planned and checked (``service.Prepared``): what a live query watches."""

    @property
    def paged(self) -> Plan: ...
    @property
    def field_nodes(self) -> list[Any]: ...
    @property
    def fragments(self) -> dict[str, Any]: ...


class Resolver(Protocol):
    """What a live query needs of the one resolver (the ``Gateway``) that owns it: plan a root
    field once, run the prepared plan again; this module never imports the gateway."""

    catalog: Catalog
    subscription_slots: Slots
    notifier: Notifier

    async def prepare_field(
        self, root: RootField, args: dict[str, Any], info: GraphQLResolveInfo[Any], ctx: RequestContext, key: str
    ) -> Any: ...

    async def run_prepared(self, p: Any) -> Any: ...


class LiveQuery:
    """The source stream of one subscription: the first result, then one re-run per change."""

    def __init__(self, gateway: Resolver, prepared: PreparedField, watch: Watch, release: Callable[[], None]) -> None:
        self.gateway = gateway
        self.prepared = prepared
        self.watch = watch
        self._release: Callable[[], None] | None = release
        self._first = True

    def __aiter__(self) -> LiveQuery:
        return self

    async def __anext__(self) -> Any:
        if self._release is None:
            raise StopAsyncIteration
        if not self._first:
            await self.watch.changed.wait()
        self._first = False
        self.watch.changed.clear()  # writes during the run below wake the next one
        try:
            return await self.gateway.run_prepared(self.prepared)
        except GatewayError as e:
            return e  # sent as this event's error; the subscription stays open

    async def aclose(self) -> None:
        """Stop watching and give the caller's slot back; safe to call more than once."""
        release, self._release = self._release, None
        if release is not None:
            release()


def event_value(event: Any, _info: GraphQLResolveInfo[Any], **_args: Any) -> Any:
    """The field value of one event (the source stream already resolved it)."""
    if isinstance(event, GatewayError):
        raise event.as_graphql_error()
    return event


async def subscribe_field(gateway: Resolver, _source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> LiveQuery:
    """The ``subscribe`` resolver of every Subscription root field: plan once, watch what it reads."""
    ctx: RequestContext = info.context
    root = gateway.catalog.root("subscription", info.field_name)
    key = str(info.path.key)
    slots: Slots = gateway.subscription_slots
    notifier: Notifier = gateway.notifier
    try:
        slots.take(ctx.caller_id)
        try:
            prepared: PreparedField = await gateway.prepare_field(root, args, info, ctx, key)
        except BaseException:
            slots.give_back(ctx.caller_id)
            raise
    except GatewayError as e:
        ctx.traces.setdefault(key, {})["error"] = e.code
        raise e.as_graphql_error() from e
    watch = notifier.watch(read_models(gateway.catalog, prepared.paged, prepared.field_nodes, prepared.fragments))

    def release() -> None:
        notifier.unwatch(watch)
        slots.give_back(ctx.caller_id)

    live = LiveQuery(gateway, prepared, watch, release)
    ctx.closers.append(live.aclose)
    await notifier.ready()  # the first run then misses no write the store announces
    return live


# -- which models a plan reads and writes ------------------------------------------------
def read_models(catalog: Catalog, plan: Plan, field_nodes: list[FieldNode], fragments: Fragments) -> set[str]:
    """Every model whose change could change this field's result."""
    found: set[str] = set()
    for step in plan.steps:
        if isinstance(step, (Find, Aggregate, Update, Delete)):
            _where_models(catalog, catalog.models[step.model], step.where, found)
        if isinstance(step, (Find, Aggregate, Insert, Update, Delete)):
            found.add(step.model)
    for name in set(found):
        _selection_models(catalog, catalog.models[name], [n.selection_set for n in field_nodes], fragments, found)
    return found


def written_models(catalog: Catalog, plan: Plan) -> set[str]:
    """Models a plan's writes may change, list references (join tables, reverse keys) included."""
    return models_changed(catalog, {s.model for s in plan.steps if isinstance(s, (Insert, Update, Delete))})


def models_changed(catalog: Catalog, written: Iterable[str]) -> set[str]:
    """Models a write to the ``written`` models may change: theirs and their list references'."""
    touched: set[str] = set()
    for model in written:
        touched.add(model)
        touched |= {f.type_name for f in catalog.models[model].fields.values() if f.kind == "refs"}
    return touched


def _where_models(catalog: Catalog, model: Model, where: Any, found: set[str]) -> None:
    if not isinstance(where, dict):
        return
    for key, cond in where.items():
        if key in ("and", "or"):
            for c in cond or ():
                _where_models(catalog, model, c, found)
        elif key == "not":
            _where_models(catalog, model, cond, found)
        else:
            f = model.fields.get(key)
            if f is not None and f.is_reference:
                found.add(f.type_name)
                if not is_operator_condition(cond):
                    _where_models(catalog, catalog.models[f.type_name], cond, found)


def _selection_models(
    catalog: Catalog, model: Model, sets: Iterable[Any], fragments: Fragments, found: set[str], depth: int = 0
) -> None:
    if depth > 10:
        return
    for name, nodes in fields_by_name(sets, fragments).items():
        f = model.fields.get(name)
        if f is None or not f.is_reference:
            continue
        found.add(f.type_name)
        _selection_models(
            catalog, catalog.models[f.type_name], [n.selection_set for n in nodes], fragments, found, depth + 1
        )
