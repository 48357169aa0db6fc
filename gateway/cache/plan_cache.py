"""The plan cache: plans that ran well answer repeats and same-shaped requests with no model call.

Lookups try the exact entry of the request, then the templates of its scope (see
:mod:`.templates`). Entries live in the store and, when configured, in Redis (read-through,
write-through); a frozen gateway holds only the entries of its lock file, in memory. The
lifecycle operations a developer uses (approve, reject, mark wrong, pin, evict) are methods
here, shared by the CLI and the admin API.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..config import require_redis
from ..errors import GatewayError, UnknownPlan
from ..plan import Plan
from ..sdl import Catalog, RootField
from ..validation import validate_plan
from . import similar
from .backend import Backend
from .entry import CacheEntry, digest
from .fingerprints import fingerprint, plan_dependencies
from .keys import exact_id, relevant_selection, scope_of, template_id
from .memory import MemoryBackend
from .store import StoreBackend
from .templates import DATE, bind, make_template, normalise

log = logging.getLogger(__name__)

MEMO_TTL_S = 2.0  # how long a process answers a repeat from memory: how late it sees another process's changes
MEMO_MAX = 10_000
EXAMPLE_CANDIDATES = 500  # entries of a field scored for worked examples


@dataclass
class CacheHit:
    """A stored plan bound to this request's values; ``kind`` is ``exact`` or ``template``."""

    plan: Plan
    kind: str
    id: str
    status: str = "learned"


@dataclass
class _Remembered:
    """A memo entry: the entry that answered a request (by its exact id) until ``until``, and the
    plan it answered with once known (bound and validated)."""

    until: float
    entry: CacheEntry
    hit: CacheHit | None = None


class PlanCache:
    """Entries in a primary backend (store or memory) and an optional shared one (Redis)."""

    def __init__(
        self, catalog: Catalog, store: Backend, shared: Backend | None = None, read_only: bool = False
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.shared = shared
        self.read_only = read_only
        self._fingerprints: dict[tuple[str, tuple[str, ...]], str] = {}
        self._memo: dict[str, _Remembered] = {}

    @classmethod
    def open(
        cls, engine: Engine, catalog: Catalog, redis_url: str | None = None, redis_prefix: str | None = None
    ) -> PlanCache:
        """The cache of a store, shared through Redis when a URL is given."""
        shared: Backend | None = None
        if redis_url:
            require_redis()
            from .redis import DEFAULT_PREFIX, RedisBackend

            shared = RedisBackend(redis_url, redis_prefix or DEFAULT_PREFIX)
        return cls(catalog, StoreBackend(engine), shared)

    @classmethod
    def frozen(cls, entries: builtins.list[CacheEntry], catalog: Catalog) -> PlanCache:
        """A read-only cache of reviewed entries (a lock file's): nothing is learned or dropped."""
        return cls(catalog, MemoryBackend(entries), read_only=True)

    # -- the service's hooks ----------------------------------------------------------------
    def lookup(
        self, root: RootField, request: str, selection: str, hints: dict[str, Any], caller: str | None = None
    ) -> CacheHit | None:
        """An exact or template plan for this request, bound and valid; None calls the model."""
        try:
            return self._lookup(root, request, selection, hints, caller)
        except SQLAlchemyError as e:  # the cache must never be why a request fails
            log.warning("plan cache lookup failed, asking the model: %s", e)
            return None

    def _lookup(
        self, root: RootField, request: str, selection: str, hints: dict[str, Any], caller: str | None
    ) -> CacheHit | None:
        text = normalise(request)
        scope = scope_of(root, selection, hints)
        eid = exact_id(scope, text)
        hit = self._memo_answer(eid, text, root, caller, self._current)  # drops a stale entry
        if hit is not None:
            return hit
        exact = self._get(eid)
        refused = set(exact.rejected_plans) if exact is not None else set()
        hit = self._hit(exact, text, root, caller) if exact is not None else None
        answered = exact
        if hit is None:
            for entry in self._templates(scope):
                hit = self._hit(entry, text, root, caller)
                if hit is not None and digest(hit.plan.dump()) in refused:
                    hit = None  # a developer rejected this very plan for this request
                if hit is not None:
                    answered = entry
                    break
        if hit is not None and answered is not None:
            hit = self._memo_put(eid, answered, hit)
        return hit

    def remembered(
        self, root: RootField, request: str, selection: str, hints: dict[str, Any], caller: str | None = None
    ) -> CacheHit | None:
        """A hit this process answered the same request with in the last ``MEMO_TTL_S`` seconds,
        from memory only: no store, no Redis, so it is safe on the event loop. None: call
        :meth:`lookup` (which also drops an entry that is no longer current)."""
        text = normalise(request)
        return self._memo_answer(exact_id(scope_of(root, selection, hints), text), text, root, caller, self.is_current)

    def _memo_answer(
        self, eid: str, text: str, root: RootField, caller: str | None, current: Callable[[CacheEntry], bool]
    ) -> CacheHit | None:
        """The plan this process remembers answering request ``eid`` with (the memo only ever
        holds a hit no rejection refused), while it is fresh, served to this caller and
        ``current``: bound and validated once, then reused (the plan depends on the entry, the
        text and the field alone, and the memo key holds all three)."""
        remembered = self._memo.get(eid)
        if remembered is None or remembered.until <= time.monotonic():
            return None
        if not self._serves(remembered.entry, root, caller) or not current(remembered.entry):
            return None
        if remembered.hit is None:
            remembered.hit = self._bound(remembered.entry, text, root)
        return remembered.hit

    def _hit(self, entry: CacheEntry, text: str, root: RootField, caller: str | None) -> CacheHit | None:
        """The entry's plan for this text when it is servable, current, matches and validates."""
        if not self._serves(entry, root, caller) or not self._current(entry):
            return None
        return self._bound(entry, text, root)

    def _serves(self, entry: CacheEntry, root: RootField, caller: str | None) -> bool:
        return entry.servable and entry.field == root.key and (self.read_only or entry.shared_with(caller))

    def _bound(self, entry: CacheEntry, text: str, root: RootField) -> CacheHit | None:
        """The entry's plan for this text, bound and validated; None when it does not match or fit."""
        try:
            if entry.kind == "exact":
                if entry.text != text:
                    return None
                return CacheHit(
                    validate_plan(self.catalog, Plan.model_validate(entry.plan), root), "exact", entry.id, entry.status
                )
            bound = bind(entry, text)
            if bound is None:
                return None
            return CacheHit(
                validate_plan(self.catalog, Plan.model_validate(bound), root), "template", entry.id, entry.status
            )
        except (GatewayError, ValidationError, ValueError):  # an entry this version cannot use: plan afresh
            return None

    def remember(
        self,
        root: RootField,
        request: str,
        selection: str,
        hints: dict[str, Any],
        plan: Plan,
        caller: str | None = None,
    ) -> None:
        """Store a plan that ran well: as exact, and as a template when the rules allow.

        The request already succeeded, so a store failure here is logged, never raised.
        """
        if self.read_only:
            return
        try:
            for entry in self.entries_for(root, request, selection, hints, plan, caller):
                self._learn(entry)
        except SQLAlchemyError as e:
            log.warning("plan cache: could not store the plan for %s: %s", root.key, e)

    def entries_for(
        self,
        root: RootField,
        request: str,
        selection: str,
        hints: dict[str, Any],
        plan: Plan,
        caller: str | None = None,
    ) -> builtins.list[CacheEntry]:
        """The exact entry, and the template entry when one can be made, for a request and its plan."""
        text = normalise(request)
        scope = scope_of(root, selection, hints)
        data = plan.dump()
        deps = plan_dependencies(self.catalog, data)
        dated = any(d not in text for d in DATE.findall(json.dumps(data)))
        base = CacheEntry(
            id=exact_id(scope, text),
            kind="exact",
            field=root.key,
            scope=scope,
            text=text,
            request=request,
            plan=data,
            selection=relevant_selection(root, selection),
            hints=hints,
            deps=deps,
            fingerprint=self._fingerprint(root.key, deps),
            created=time.time(),
            day=dt.date.today().isoformat() if dated else None,
            owner=caller,
            writes=plan.writes,
        )
        out = [base]
        made = make_template(text, data)
        if made is not None:
            shown, slots = made
            tid = template_id(scope, shown, caller if plan.writes else None)
            out.append(replace(base, id=tid, kind="template", text=shown, slots=slots))
        return out

    def _learn(self, entry: CacheEntry) -> None:
        """Store a new entry unless a developer's decision on the same plan stands."""
        old = self._existing(entry)
        if old is not None:
            entry.rejected_plans = list(old.rejected_plans)
            same = old.plan_digest() == entry.plan_digest()
            if same and not old.servable:
                return  # a rejected plan stays rejected
            if same:
                entry.status, entry.pinned = old.status, old.pinned
        self._put(entry)
        if entry.kind == "exact":
            self._memo_put(entry.id, entry)

    def rejected(
        self,
        root: RootField,
        request: str,
        selection: str,
        hints: dict[str, Any],
        plan: Plan,
        caller: str | None = None,
    ) -> bool:
        """Whether a developer rejected (or marked wrong) this very plan for this request or its template."""
        try:
            for entry in self.entries_for(root, request, selection, hints, plan, caller):
                old = self._existing(entry)
                if old is not None and entry.plan_digest() in old.rejected_plans:
                    return True
        except SQLAlchemyError as e:
            log.warning("plan cache: could not check rejected plans: %s", e)
        return False

    def similar_examples(
        self, root: RootField, request: str, k: int = 3, caller: str | None = None
    ) -> builtins.list[tuple[str, Plan]]:
        """Up to ``k`` stored (request, plan) pairs of this field most like ``request``.

        Only plans that ran well or that a developer approved, current for this SDL, never a
        rejected or wrong one; a write taught by another caller only once approved.
        Approved plans count for more. One example per distinct plan.
        """
        try:
            found = self.store.entries(root.key, limit=EXAMPLE_CANDIDATES)
        except SQLAlchemyError as e:
            log.warning("plan cache: no examples: %s", e)
            return []
        usable = [
            e
            for e in found
            if e.kind == "exact"
            and e.servable
            and self.is_current(e)
            and (not e.writes or e.status == "approved" or e.owner == caller)
        ]
        ranked = similar.rank(request, [(e.request, e) for e in usable], k=max(len(usable), 1))
        ranked.sort(key=lambda s: -(s[0] * (1.5 if s[2].status == "approved" else 1.0)))
        out: builtins.list[tuple[str, Plan]] = []
        seen: set[str] = set()
        for _, text, entry in ranked:
            if len(out) >= k:
                break
            key = entry.plan_digest()
            if key in seen:
                continue
            try:
                out.append((text, Plan.model_validate(entry.plan)))
            except ValidationError:
                continue
            seen.add(key)
        return out

    # -- lifecycle (``gateway plans``, the admin API) -----------------------------------------
    def list(self, field: str | None = None) -> builtins.list[CacheEntry]:
        """Every entry (optionally of one field: ``tasks`` or ``query.tasks``), oldest first."""
        found: dict[str, CacheEntry] = {}
        for backend in self._backends():
            for e in backend.entries():
                found.setdefault(e.id, e)
        return sorted(
            (e for e in found.values() if field is None or field_matches(e.field, field)),
            key=lambda e: (e.created, e.id),
        )

    def show(self, entry_id: str) -> CacheEntry:
        """One entry by id or unique id prefix; UnknownPlan otherwise."""
        entry = self._get(entry_id)
        if entry is not None:
            return entry
        matches = [e for e in self.list() if e.id.startswith(entry_id)] if entry_id else []
        if len(matches) != 1:
            raise UnknownPlan(
                f"no single cached plan with id {entry_id!r}" + (f" ({len(matches)} match)" if matches else "")
            )
        return matches[0]

    def approve(self, entry_id: str) -> CacheEntry:
        """A developer vouches for the plan: served to every caller, preferred as an example."""
        return self._set_status(entry_id, "approved")

    def reject(self, entry_id: str) -> CacheEntry:
        """Never serve this plan again for this request (or template), nor show it as an example."""
        return self._set_status(entry_id, "rejected")

    def mark_wrong(self, entry_id: str) -> CacheEntry:
        """Like reject, recorded as a wrong answer (for the evaluation of the model)."""
        return self._set_status(entry_id, "wrong")

    def pin(self, entry_id: str, pinned: bool = True) -> CacheEntry:
        """Approve and keep the entry through ``clear`` and schema changes (a stale one is kept, not served)."""
        entry = self.show(entry_id)
        entry.pinned = pinned
        if pinned and entry.status == "learned":
            entry.status = "approved"
        self._put(entry)
        self._memo.clear()
        return entry

    def evict(self, entry_id: str) -> CacheEntry:
        """Drop the entry; the next such request plans afresh."""
        entry = self.show(entry_id)
        self._delete(entry)
        return entry

    def clear(self, field: str | None = None) -> int:
        """Delete entries (all, or one field's), keeping pinned ones and rejections; return how many."""
        doomed = [e for e in self.list(field) if not e.pinned and e.servable]
        for e in doomed:
            self._delete(e)
        self._memo.clear()
        return len(doomed)

    def is_current(self, entry: CacheEntry) -> bool:
        """Whether the entry still fits this SDL (and, for a dated plan, today)."""
        if entry.field not in self.catalog.root_fields:
            return False
        if entry.day and entry.day != dt.date.today().isoformat():
            return False
        return entry.fingerprint == self._fingerprint(entry.field, entry.deps)

    def close(self) -> None:
        for backend in self._backends():
            backend.close()

    # -- internals --------------------------------------------------------------------------
    def _set_status(self, entry_id: str, status: str) -> CacheEntry:
        entry = self.show(entry_id)
        entry.status = status
        if status in ("rejected", "wrong") and entry.plan_digest() not in entry.rejected_plans:
            entry.rejected_plans.append(entry.plan_digest())
        self._put(entry)
        self._memo.clear()
        return entry

    def _backends(self) -> builtins.list[Backend]:
        return [b for b in (self.shared, self.store) if b is not None]

    def _fingerprint(self, field_key: str, deps: builtins.list[str]) -> str:
        key = (field_key, tuple(deps))
        if key not in self._fingerprints:
            self._fingerprints[key] = fingerprint(self.catalog, field_key, deps)
        return self._fingerprints[key]

    def _current(self, entry: CacheEntry) -> bool:
        """Check an entry against this SDL and today; a stale one is dropped unless pinned or frozen."""
        if self.is_current(entry):
            return True
        if not self.read_only and not entry.pinned:
            self._delete(entry)
        return False

    def _get(self, entry_id: str) -> CacheEntry | None:
        if self.shared is not None:
            entry = self.shared.get(entry_id)
            if entry is not None:
                return entry
        entry = self.store.get(entry_id)
        if entry is not None and self.shared is not None:
            self.shared.put(entry)  # read-through
        return entry

    def _existing(self, entry: CacheEntry) -> CacheEntry | None:
        """The stored entry with this entry's id (templates looked up by their scope, cheaply)."""
        if entry.kind == "exact":
            return self._get(entry.id)
        return next((e for e in self._templates(entry.scope) if e.id == entry.id), None)

    def _templates(self, scope: str) -> builtins.list[CacheEntry]:
        """Templates of this scope from both layers, the most specific (longest fixed text) first."""
        found = {e.id: e for e in self.shared.templates(scope)} if self.shared is not None else {}
        for e in self.store.templates(scope):
            if e.id not in found:
                found[e.id] = e
                if self.shared is not None:
                    self.shared.put(e)
        return sorted(found.values(), key=lambda e: (-e.literal, e.id))

    def _put(self, entry: CacheEntry) -> None:
        for backend in self._backends():
            backend.put(entry)

    def _delete(self, entry: CacheEntry) -> None:
        for key, remembered in list(self._memo.items()):
            if remembered.entry.id == entry.id:
                self._memo.pop(key, None)
        for backend in self._backends():
            backend.delete(entry)

    def _memo_put(self, eid: str, entry: CacheEntry, hit: CacheHit | None = None) -> CacheHit | None:
        """Remember answering ``eid`` with ``entry``; the hit remembered. When the memo expired on
        the same entry, its hit is kept: the same plan object, so what the service learned about
        running it (on the event loop or a worker thread, ``Gateway._run_read``) outlives
        ``MEMO_TTL_S``."""
        old = self._memo.get(eid)
        if old is not None and old.hit is not None and old.entry == entry:
            hit = old.hit
        if len(self._memo) >= MEMO_MAX:
            self._memo.clear()
        self._memo[eid] = _Remembered(time.monotonic() + MEMO_TTL_S, entry, hit)
        return hit


def field_matches(entry_field: str, wanted: str) -> bool:
    """``tasks`` names both query.tasks and mutation.tasks; ``query.tasks`` names one."""
    return entry_field == wanted or entry_field.split(".", 1)[-1] == wanted
