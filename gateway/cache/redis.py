"""Entries in Redis, shared by several gateway processes; Redis trouble never fails a request.

Every Redis call goes through one guard (:class:`RedisGuard`): a Redis error switches this layer
off for ``RETRY_S`` seconds (the store answers alone meanwhile) and is logged once per outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis as redis_lib

from .entry import CacheEntry

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_S = 30.0
DEFAULT_PREFIX = "gateway:plans:"


class RedisGuard:
    """A Redis client whose every call goes through one guard: a Redis error rests the client for
    ``RETRY_S`` seconds (``default`` is answered meanwhile) and is logged once per outage.

    The plan cache's backend and the persisted queries' store (:mod:`gateway.persisted`) share it.
    """

    def __init__(self, url: str, name: str, what: str) -> None:
        self.what = what  # named in the log line: "plan cache", "persisted queries"
        self._client = redis_lib.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True, client_name=name
        )
        self._down_until = 0.0

    def __call__(self, op: Callable[[Any], T], default: T) -> T:
        """Run ``op`` on the client unless Redis is resting after a failure; ``default`` if it fails."""
        if time.monotonic() < self._down_until:
            return default
        try:
            return op(self._client)
        except redis_lib.RedisError as e:
            self._down_until = time.monotonic() + RETRY_S
            log.warning("%s: Redis unavailable (%s); using the store alone for %.0fs", self.what, e, RETRY_S)
            return default

    def close(self) -> None:
        self._client.close()


class RedisBackend:
    """Exact entries as ``<prefix>e:<id>`` strings, templates in one hash per scope ``<prefix>t:<scope>``."""

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self._guard = RedisGuard(url, f"gateway-plans:{prefix}", "plan cache")

    def get(self, entry_id: str) -> CacheEntry | None:
        kind = "t" if entry_id.startswith("t") else "e"
        if kind == "e":
            raw = self._guard(lambda r: r.get(self._key("e", entry_id)), None)
            return _parse(raw)
        for entry in self.entries():
            if entry.id == entry_id:
                return entry
        return None

    def templates(self, scope: str) -> list[CacheEntry]:
        raw: dict[str, str] = self._guard(lambda r: r.hgetall(self._key("t", scope)), {})
        return [e for e in map(_parse, raw.values()) if e is not None]

    def entries(self, field: str | None = None, limit: int | None = None) -> list[CacheEntry]:
        def scan(r: Any) -> list[str]:
            found: list[str] = []
            for key in r.scan_iter(f"{self.prefix}*"):
                if key.startswith(self.prefix + "e:"):
                    value = r.get(key)
                    found += [value] if value is not None else []
                elif key.startswith(self.prefix + "t:"):
                    found += list(r.hgetall(key).values())
            return found

        raw: list[str] = self._guard(scan, [])
        out = [e for e in map(_parse, raw) if e is not None and (field is None or e.field == field)]
        out.sort(key=lambda e: -e.created)
        return out[:limit] if limit is not None else out

    def put(self, entry: CacheEntry) -> None:
        raw = entry.to_json()
        if entry.kind == "exact":
            self._guard(lambda r: r.set(self._key("e", entry.id), raw), None)
        else:
            self._guard(lambda r: r.hset(self._key("t", entry.scope), entry.id, raw), None)

    def delete(self, entry: CacheEntry) -> None:
        if entry.kind == "exact":
            self._guard(lambda r: r.delete(self._key("e", entry.id)), None)
        else:
            self._guard(lambda r: r.hdel(self._key("t", entry.scope), entry.id), None)

    def close(self) -> None:
        self._guard.close()

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"


def _parse(raw: str | None) -> CacheEntry | None:
    if raw is None:
        return None
    try:
        return CacheEntry.parse(raw)
    except ValueError:
        return None
