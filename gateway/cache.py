"""The plan cache: a plan that ran well is reused, so a repeated request needs no model call.

Two kinds of entry, both keyed by the root field, the selection, the argument hints and the
normalised request text:

- ``exact``: the same request (case, whitespace and trailing punctuation aside) runs the
  stored plan as it is.
- ``template``: the literals the planner listed in ``params`` are cut out of the request text
  and out of the plan's values, leaving slots. A later request that matches the whole template
  text binds its own values into the plan. The match is checked, never guessed: slots have the
  shape of the literal they replaced (same word count, a number stays a number, a quoted text
  stays quoted) and the bound plan must validate against the SDL, else it is a miss.

Each entry carries a fingerprint of the SDL parts it depends on (the printed types of the
models its steps touch, their enums, the root field's definition), so a schema change drops
exactly the plans it affects. A plan that used today's date (a date literal not in the
request text) is only reused on the day it was made.

Entries live in the store (``_gateway_plans``, ignored by the migrator) so they survive a
restart and, when a Redis URL is given, in Redis too (read-through, write-through) so several
gateway processes share them. Redis trouble never fails a request: the cache falls back to the
store for a while. A process also remembers, for ``MEMO_TTL_S`` seconds, which entry answered a
request text, so a burst of repeats is served from memory; that is also how late a running
process sees ``gateway plans clear``.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Iterator

from graphql import print_ast, print_type
from sqlalchemy import Column, Engine, Float, MetaData, Table, Text, delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .errors import GatewayError
from .plan import Plan, is_operator_condition
from .sdl import Catalog, RootField
from .store.tables import INTERNAL_PREFIX
from .validation import validate_plan

log = logging.getLogger(__name__)

TABLE_NAME = f"{INTERNAL_PREFIX}plans"
DEFAULT_REDIS_PREFIX = "gateway:plans:"
REDIS_RETRY_S = 30.0
MEMO_TTL_S = 2.0  # how long a process answers a repeat from memory; bounds how late `plans clear` is seen
MEMO_MAX = 10_000
PARAM = "$param"
QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "`": "`"}
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")

_metadata = MetaData()
PLANS = Table(
    TABLE_NAME, _metadata,
    Column("id", Text(), primary_key=True),
    Column("kind", Text(), nullable=False),
    Column("field", Text(), nullable=False),
    Column("scope", Text(), nullable=False, index=True),
    Column("entry", Text(), nullable=False),
    Column("created_at", Float(), nullable=False),
)


@dataclass
class CacheHit:
    """A stored plan, bound to this request's values; ``kind`` is ``exact`` or ``template``."""

    plan: Plan
    kind: str
    id: str


# -- text ---------------------------------------------------------------------------------
def normalise(request: str) -> str:
    """Collapse whitespace and drop trailing punctuation; case is kept for binding values."""
    return " ".join(request.split()).rstrip(" .!?;:,")


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def scope_of(root: RootField, selection: str, hints: dict[str, Any]) -> str:
    """What besides the text a plan depends on: the field, the selection and the hints."""
    return _digest(root.key, " ".join(selection.split()), hints)


# -- schema fingerprints ------------------------------------------------------------------
def plan_dependencies(catalog: Catalog, plan: Plan) -> list[str]:
    """Types a plan relies on: models of its steps, models its filters reach, their enums, connectors."""
    models: set[str] = set()

    def walk_where(model_name: str, where: Any) -> None:
        model = catalog.models.get(model_name)
        if model is None or not isinstance(where, dict):
            return
        for key, cond in where.items():
            if key in ("and", "or") and isinstance(cond, list):
                for c in cond:
                    walk_where(model_name, c)
            elif key == "not":
                walk_where(model_name, cond)
            elif key in model.fields and model.fields[key].is_reference and isinstance(cond, dict):
                target = model.fields[key].type_name
                if not is_operator_condition(cond) or model.fields[key].kind == "refs":
                    models.add(target)
                    walk_where(target, cond)

    connectors: set[str] = set()
    for step in plan.steps:
        model = getattr(step, "model", None)
        if model is not None:
            models.add(model)
            walk_where(model, getattr(step, "where", None))
        if step.op == "call":
            connectors.add(f"connector:{step.connector}")
            c = catalog.connectors.get(step.connector)
            if c is not None:
                models.add(c.returns)
    enums = {f.type_name for m in models if m in catalog.models
             for f in catalog.models[m].fields.values() if f.type_name in catalog.enums}
    enums |= {t.strip("[]!") for m in models for t in catalog.shapes.get(m, {}).values()
              if t.strip("[]!") in catalog.enums}
    return sorted(models | enums | connectors)


def fingerprint(catalog: Catalog, field_key: str, deps: list[str]) -> str:
    """A hash of the SDL parts in ``deps`` and the root field's definition."""
    operation, _, name = field_key.partition(".")
    root_type = catalog.schema.query_type if operation == "query" else catalog.schema.mutation_type
    definition = root_type.fields.get(name) if root_type is not None else None
    parts = [f"{operation} {print_ast(definition.ast_node) if definition and definition.ast_node else 'missing'}"]
    root = catalog.root_fields.get(field_key)
    names = set(deps)
    if root is not None and root.type_name in catalog.shapes:
        names.add(root.type_name)
    for n in sorted(names):
        if n.startswith("connector:"):
            c = catalog.connectors.get(n.split(":", 1)[1])
            parts.append(json.dumps([n, c.args_schema(), c.returns, c.side_effects], sort_keys=True, default=str)
                         if c is not None else f"missing {n}")
            continue
        t = catalog.schema.type_map.get(n)
        parts.append(print_type(t) if t is not None else f"missing {n}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


# -- templates ----------------------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _literal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _slot_pattern(value: Any, text: str, start: int, end: int) -> str:
    """A capture pattern with the shape of the literal it replaces."""
    if isinstance(value, bool):
        return r"true|false"
    if isinstance(value, int):
        return r"[-+]?\d+"
    if isinstance(value, float):
        return r"[-+]?\d+(?:\.\d+)?"
    before, after = text[start - 1:start], text[end:end + 1]
    if before in QUOTES and QUOTES[before] == after:
        return f"[^{re.escape(after)}]+"
    words = len(str(value).split(" "))
    word = r"[^\s,;:!?()\"“”]+"
    return word + (rf"(?: {word}){{{words - 1}}}" if words > 1 else "")


def _convert(raw: str, like: Any) -> Any:
    """A captured text as the type of the literal it replaces; ValueError when it cannot be."""
    if isinstance(like, bool):
        return raw.lower() == "true"
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    return raw


def _map_values(plan: dict[str, Any], fn: Any) -> dict[str, Any]:
    """Apply ``fn`` to every literal in value positions of a dumped plan (a copy is returned).

    Value positions: filter operands (``in`` lists included), insert and set values (list
    items included), connector call arguments, limit and offset, and the ``params`` object.
    """
    out = copy.deepcopy(plan)

    def value(v: Any) -> Any:
        if isinstance(v, list):
            return [value(x) for x in v]
        if isinstance(v, dict):
            return v if "$step" in v else fn(v) if PARAM in v else v
        return fn(v)

    def where(w: Any) -> None:
        if not isinstance(w, dict):
            return
        for key, cond in w.items():
            if key in ("and", "or") and isinstance(cond, list):
                for c in cond:
                    where(c)
            elif key == "not":
                where(cond)
            elif cond and is_operator_condition(cond):
                for op in cond:
                    if op != "isNull":
                        cond[op] = value(cond[op])
            else:
                where(cond)

    for step in out["steps"]:
        where(step.get("where"))
        for record in step.get("values", []):
            for k in record:
                record[k] = value(record[k])
        for key in ("set", "args"):
            for k in step.get(key) or {}:
                step[key][k] = value(step[key][k])
        for k in ("limit", "offset"):
            if step.get(k) is not None:
                step[k] = value(step[k])
    out["params"] = {k: value(v) for k, v in (out.get("params") or {}).items()}
    return out


def make_template(text: str, plan: dict[str, Any]) -> dict[str, Any] | None:
    """Template text, matcher and placeholder plan, or None when the params do not all fit.

    Every param must be a scalar whose literal text occurs in the request (as a whole word or
    phrase, case as written) and whose exact value occurs in the plan's values.
    """
    params = plan.get("params") or {}
    if not params:
        return None
    spans: list[tuple[int, int, str]] = []
    slots: dict[str, dict[str, Any]] = {}
    seen: list[Any] = []
    for i, (name, value) in enumerate(params.items()):
        if value is None or not isinstance(value, (str, int, float, bool)) or any(_same(value, s) for s in seen):
            return None
        seen.append(value)
        lit = _literal_text(value)
        if not lit.strip() or lit != lit.strip():
            return None
        found = [m.span() for m in re.finditer(rf"(?<!\w){re.escape(lit)}(?!\w)", text)]
        if not found:
            return None
        slot = f"s{i}"
        hits = [0]

        def mark(v: Any, value: Any = value, slot: str = slot, hits: list[int] = hits) -> Any:
            if _same(v, value):
                hits[0] += 1
                return {PARAM: slot}
            return v

        plan = _map_values(plan, mark)
        if hits[0] < 2:  # the params entry itself is one; the plan must use it too
            return None
        slots[slot] = {"param": name, "value": value}
        spans.extend((a, b, slot) for a, b in found)
    spans.sort()
    if any(spans[k][1] > spans[k + 1][0] for k in range(len(spans) - 1)):
        return None
    pattern, shown, pos, opened = "", "", 0, set()
    for a, b, slot in spans:
        pattern += re.escape(text[pos:a])
        shown += text[pos:a]
        if slot in opened:
            pattern += f"(?P={slot})"
        else:
            pattern += f"(?P<{slot}>{_slot_pattern(slots[slot]['value'], text, a, b)})"
            opened.add(slot)
        shown += "{" + slots[slot]["param"] + "}"
        pos = b
    pattern += re.escape(text[pos:])
    shown += text[pos:]
    match = re.fullmatch(pattern, text, re.IGNORECASE)
    if match is None or any(_convert(match.group(s), d["value"]) != d["value"] for s, d in slots.items()):
        return None
    return {"text": shown, "pattern": pattern, "plan": plan,
            "slots": {s: {"param": d["param"], "type": type(d["value"]).__name__} for s, d in slots.items()},
            "literal": len(re.sub(r"\{[^}]*\}", "", shown))}


_TYPES: dict[str, Any] = {"bool": True, "int": 0, "float": 0.0, "str": ""}


def bind(entry: dict[str, Any], text: str) -> dict[str, Any] | None:
    """The template's plan with this request's values, or None when the text does not match."""
    match = re.fullmatch(entry["pattern"], text, re.IGNORECASE)
    if match is None:
        return None
    values: dict[str, Any] = {}
    try:
        for slot, info in entry["slots"].items():
            values[slot] = _convert(match.group(slot), _TYPES[info["type"]])
    except ValueError:
        return None
    return _map_values(entry["plan"], lambda v: values[v[PARAM]] if isinstance(v, dict) else v)


# -- the cache ----------------------------------------------------------------------------
class PlanCache:
    """Plans in the store and, when configured, in Redis; see the module docstring."""

    def __init__(self, engine: Engine, catalog: Catalog, redis_url: str | None = None,
                 redis_prefix: str | None = None) -> None:
        self.engine = engine
        self.catalog = catalog
        self.prefix = redis_prefix or DEFAULT_REDIS_PREFIX
        self._fingerprints: dict[tuple[str, tuple[str, ...]], str] = {}
        # request key -> (expiry, entry that answered it): repeats skip the store for MEMO_TTL_S
        self._memo: dict[str, tuple[float, dict[str, Any]]] = {}
        self._redis: Any = None
        self._redis_down_until = 0.0
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                               decode_responses=True)
        self._create_table()

    def _create_table(self) -> None:
        try:
            _metadata.create_all(self.engine, checkfirst=True)
        except SQLAlchemyError:  # another process created it at the same moment
            _metadata.create_all(self.engine, checkfirst=True)

    # -- the service's hook -----------------------------------------------------------------
    def lookup(self, root: RootField, request: str, selection: str, hints: dict[str, Any]) -> CacheHit | None:
        """An exact or template plan for this request, bound and valid; None calls the model."""
        try:
            return self._lookup(root, request, selection, hints)
        except SQLAlchemyError as e:  # the cache must never be why a request fails
            log.warning("plan cache lookup failed, asking the model: %s", e)
            return None

    def _lookup(self, root: RootField, request: str, selection: str, hints: dict[str, Any]) -> CacheHit | None:
        text = normalise(request)
        scope = scope_of(root, selection, hints)
        eid = "e" + _digest(scope, text.lower())
        remembered = self._memo.get(eid)
        if remembered is not None and remembered[0] > time.monotonic():
            hit = self._hit(remembered[1], text, root)
            if hit is not None:
                return hit
        entry = self._get_exact(eid)
        hit = self._hit(entry, text, root) if entry is not None else None
        if hit is None:
            for entry in self._templates(scope):
                hit = self._hit(entry, text, root)
                if hit is not None:
                    break
        if hit is not None:
            self._memo_put(eid, entry)
        return hit

    def _hit(self, entry: dict[str, Any], text: str, root: RootField) -> CacheHit | None:
        """The entry's plan for this text when it is current, matches and validates."""
        try:
            if not self._current(entry):
                return None
            if entry["kind"] == "exact":
                return CacheHit(Plan.model_validate(entry["plan"]), "exact", entry["id"])
            bound = bind(entry, text)
            if bound is None:
                return None
            return CacheHit(validate_plan(self.catalog, Plan.model_validate(bound), root), "template", entry["id"])
        except (GatewayError, KeyError, ValueError, re.error):  # an entry this version cannot use: plan afresh
            return None

    def _memo_put(self, eid: str, entry: dict[str, Any]) -> None:
        if len(self._memo) >= MEMO_MAX:
            self._memo.clear()
        self._memo[eid] = (time.monotonic() + MEMO_TTL_S, entry)

    def remember(self, root: RootField, request: str, selection: str, hints: dict[str, Any], plan: Plan) -> None:
        """Store a plan that ran well: as exact, and as a template when its params allow.

        The request already succeeded, so a failure here is logged, never raised.
        """
        try:
            self._remember(root, request, selection, hints, plan)
        except Exception as e:  # noqa: BLE001
            log.warning("plan cache: could not store the plan for %s: %s", root.key, e)

    def _remember(self, root: RootField, request: str, selection: str, hints: dict[str, Any], plan: Plan) -> None:
        text = normalise(request)
        scope = scope_of(root, selection, hints)
        data = plan.dump()
        deps = plan_dependencies(self.catalog, plan)
        dated = any(d not in text for d in DATE.findall(json.dumps(data)))
        base = {"field": root.key, "scope": scope, "selection": selection, "hints": hints, "deps": deps,
                "fingerprint": self._fingerprint(root.key, deps), "created": time.time(),
                "day": dt.date.today().isoformat() if dated else None}
        exact = {**base, "id": "e" + _digest(scope, text.lower()), "kind": "exact", "text": text.lower(),
                 "request": request, "plan": data}
        self._put(exact)
        self._memo_put(exact["id"], exact)
        template = make_template(text, data)
        if template is not None:
            tid = "t" + _digest(scope, template["pattern"].lower())
            self._put({**base, "id": tid, "kind": "template", "request": request, **template})

    # -- management (``gateway plans``) ---------------------------------------------------
    def entries(self, field: str | None = None) -> list[dict[str, Any]]:
        """Every stored entry (optionally of one field), oldest first."""
        stmt = select(PLANS.c.entry).order_by(PLANS.c.created_at)
        with self.engine.connect() as conn:
            rows = [json.loads(r) for r in conn.execute(stmt).scalars()]
        return [e for e in rows if field is None or _field_matches(e["field"], field)]

    def get(self, entry_id: str) -> dict[str, Any] | None:
        """One entry by id or unique id prefix."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(PLANS.c.entry).where(PLANS.c.id.startswith(entry_id, autoescape=True))
                                .limit(2)).scalars().all()
        return json.loads(rows[0]) if len(rows) == 1 else None

    def is_current(self, entry: dict[str, Any]) -> bool:
        """Whether the entry still fits this SDL (and, for a dated plan, today)."""
        if entry["field"] not in self.catalog.root_fields:
            return False
        if entry.get("day") and entry["day"] != dt.date.today().isoformat():
            return False
        return entry.get("fingerprint") == self._fingerprint(entry["field"], entry.get("deps", []))

    def clear(self, field: str | None = None) -> int:
        """Delete entries (all, or one field's) from the store and Redis; return how many."""
        doomed = self.entries(field)
        self._memo.clear()
        with self._write() as conn:
            conn.execute(delete(PLANS).where(PLANS.c.id.in_([e["id"] for e in doomed])) if field
                         else delete(PLANS))
        removed = {e["id"] for e in doomed}
        r = self._redis_client()
        if r is not None:
            try:
                for key in r.scan_iter(f"{self.prefix}e:*"):
                    raw = r.get(key)
                    if raw and (field is None or _field_matches(json.loads(raw)["field"], field)):
                        r.delete(key)
                        removed.add(key.rsplit(":", 1)[-1])
                for key in r.scan_iter(f"{self.prefix}t:*"):
                    for tid, raw in r.hgetall(key).items():
                        if field is None or _field_matches(json.loads(raw)["field"], field):
                            r.hdel(key, tid)
                            removed.add(tid)
            except Exception as e:  # noqa: BLE001 - Redis is an optional layer
                self._redis_failed(e)
        return len(removed)

    # -- internals ------------------------------------------------------------------------
    def _fingerprint(self, field_key: str, deps: list[str]) -> str:
        key = (field_key, tuple(deps))
        if key not in self._fingerprints:
            self._fingerprints[key] = fingerprint(self.catalog, field_key, deps)
        return self._fingerprints[key]

    def _current(self, entry: dict[str, Any]) -> bool:
        """Check an entry against this SDL and today; a stale one is deleted."""
        if self.is_current(entry):
            return True
        self._delete(entry)
        return False

    def _write(self) -> Any:
        conn = self.engine.connect()
        conn.execution_options(write=True)
        return _Txn(conn)

    def _put(self, entry: dict[str, Any]) -> None:
        raw = json.dumps(entry, default=str, ensure_ascii=False)
        row = {"id": entry["id"], "kind": entry["kind"], "field": entry["field"], "scope": entry["scope"],
               "entry": raw, "created_at": entry["created"]}
        try:
            with self._write() as conn:
                conn.execute(delete(PLANS).where(PLANS.c.id == entry["id"]))
                conn.execute(insert(PLANS).values(**row))
        except IntegrityError:  # a concurrent request stored the same plan first
            pass
        r = self._redis_client()
        if r is not None:
            try:
                if entry["kind"] == "exact":
                    r.set(f"{self.prefix}e:{entry['id']}", raw)
                else:
                    r.hset(f"{self.prefix}t:{entry['scope']}", entry["id"], raw)
            except Exception as e:  # noqa: BLE001
                self._redis_failed(e)

    def _delete(self, entry: dict[str, Any]) -> None:
        for key, (_, remembered) in list(self._memo.items()):
            if remembered["id"] == entry["id"]:
                self._memo.pop(key, None)
        with self._write() as conn:
            conn.execute(delete(PLANS).where(PLANS.c.id == entry["id"]))
        r = self._redis_client()
        if r is not None:
            try:
                if entry["kind"] == "exact":
                    r.delete(f"{self.prefix}e:{entry['id']}")
                else:
                    r.hdel(f"{self.prefix}t:{entry['scope']}", entry["id"])
            except Exception as e:  # noqa: BLE001
                self._redis_failed(e)

    def _get_exact(self, eid: str) -> dict[str, Any] | None:
        r = self._redis_client()
        if r is not None:
            try:
                raw = r.get(f"{self.prefix}e:{eid}")
                if raw is not None:
                    return json.loads(raw)
            except Exception as e:  # noqa: BLE001
                self._redis_failed(e)
        with self.engine.connect() as conn:
            raw = conn.execute(select(PLANS.c.entry).where(PLANS.c.id == eid)).scalar()
        if raw is None:
            return None
        if r is not None:
            self._redis_set(f"{self.prefix}e:{eid}", raw)
        return json.loads(raw)

    def _templates(self, scope: str) -> Iterator[dict[str, Any]]:
        """Templates of this scope, Redis first then the store, most literal text first."""
        found: dict[str, dict[str, Any]] = {}
        r = self._redis_client()
        if r is not None:
            try:
                found = {k: json.loads(v) for k, v in r.hgetall(f"{self.prefix}t:{scope}").items()}
            except Exception as e:  # noqa: BLE001
                self._redis_failed(e)
        yield from sorted(found.values(), key=lambda e: -e["literal"])
        with self.engine.connect() as conn:
            rows = conn.execute(select(PLANS.c.id, PLANS.c.entry)
                                .where(PLANS.c.scope == scope, PLANS.c.kind == "template")).all()
        rest = [json.loads(raw) for tid, raw in rows if tid not in found]
        for entry in sorted(rest, key=lambda e: -e["literal"]):
            if r is not None:
                try:
                    r.hset(f"{self.prefix}t:{scope}", entry["id"], json.dumps(entry, default=str))
                except Exception as e:  # noqa: BLE001
                    self._redis_failed(e)
            yield entry

    def _redis_client(self) -> Any:
        if self._redis is None or time.monotonic() < self._redis_down_until:
            return None
        return self._redis

    def _redis_set(self, key: str, raw: str) -> None:
        try:
            self._redis.set(key, raw)
        except Exception as e:  # noqa: BLE001
            self._redis_failed(e)

    def _redis_failed(self, e: Exception) -> None:
        """Use the store alone for a while; a slow or absent Redis must not slow requests."""
        self._redis_down_until = time.monotonic() + REDIS_RETRY_S
        log.warning("plan cache: Redis unavailable (%s); using the store alone for %.0fs", e, REDIS_RETRY_S)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


class _Txn:
    """``with`` a connection in a write transaction (BEGIN IMMEDIATE on SQLite)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        self.txn = self.conn.begin()
        return self.conn

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        try:
            if exc_type is None:
                self.txn.commit()
            else:
                self.txn.rollback()
        finally:
            self.conn.close()


def _field_matches(entry_field: str, wanted: str) -> bool:
    """``tasks`` names both query.tasks and mutation.tasks; ``query.tasks`` names one."""
    return entry_field == wanted or entry_field.split(".", 1)[-1] == wanted
