"""Change notifications: which models a committed write touched, fanned out to the live subscriptions.

Within a process a write wakes the subscriptions that read one of the models it touched. Across
``--workers`` and machines the same message travels through Redis pub/sub or PostgreSQL
LISTEN/NOTIFY (``GATEWAY_NOTIFY``). A subscription holds one "changed" flag, not a queue: a
burst of writes costs a slow consumer one re-run, and nothing grows while it lags.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .config import require_redis

log = logging.getLogger(__name__)
CHANNEL = "gateway_changes"


@dataclass(eq=False)
class Watch:
    """One subscription's interest: the models it reads and a flag set when one of them changed."""

    models: frozenset[str]
    loop: asyncio.AbstractEventLoop
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # its event loop has closed: the server is shutting down
            self.loop.call_soon_threadsafe(self.changed.set)


class Notifier:
    """Delivers "these models changed" to the watches of this process and, when set up, to others."""

    def __init__(self, backend: Backend | None = None) -> None:
        self.backend = backend
        self.origin = uuid.uuid4().hex
        self._watches: set[Watch] = set()
        self._lock = threading.Lock()
        self._started = False

    @property
    def watching(self) -> int:
        return len(self._watches)

    def watches(self) -> list[Watch]:
        with self._lock:
            return list(self._watches)

    def watch(self, models: Iterable[str]) -> Watch:
        """Start watching ``models`` from the running event loop."""
        w = Watch(frozenset(models), asyncio.get_running_loop())
        with self._lock:
            self._watches.add(w)
            if self.backend is not None and not self._started:
                self._started = True
                self.backend.listen(self._remote)
        return w

    def unwatch(self, w: Watch) -> None:
        with self._lock:
            self._watches.discard(w)

    def publish(self, models: Iterable[str]) -> None:
        """A write touching ``models`` committed: wake local watchers and tell the other processes."""
        touched = set(models)
        if not touched:
            return
        self.deliver(touched)
        if self.backend is not None:
            try:
                self.backend.send(json.dumps({"origin": self.origin, "models": sorted(touched)}))
            except Exception as e:  # noqa: BLE001 - a notification lost must not fail the write that committed
                log.warning("change notification not sent: %s", e)

    def deliver(self, models: set[str]) -> None:
        with self._lock:
            woken = [w for w in self._watches if w.models & models]
        for w in woken:
            w.wake()

    def _remote(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if isinstance(message, dict) and message.get("origin") != self.origin:
            self.deliver(set(message.get("models") or ()))

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()


class Backend:
    """A channel between processes: ``send`` a message, ``listen`` calls back on each one received."""

    def send(self, message: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def listen(self, callback: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class _Listener(Backend):
    """A daemon thread that waits on the channel and hands each message to the callback."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def listen(self, callback: Any) -> None:
        self._thread = threading.Thread(target=self._run, args=(callback,), daemon=True, name="gateway-notify")
        self._thread.start()

    def _run(self, callback: Any) -> None:
        while not self._stop.is_set():
            try:
                self._receive(callback)
            except Exception as e:  # noqa: BLE001 - the channel dropped: wait a moment, then listen again
                log.warning("change notifications interrupted: %s", e)
                self._stop.wait(1.0)

    def _receive(self, callback: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class RedisBackend(_Listener):
    """Redis pub/sub on ``<prefix>changes``."""

    def __init__(self, url: str, channel: str = "gateway:changes") -> None:
        super().__init__()
        require_redis()
        import redis

        self.client = redis.Redis.from_url(url)
        self.channel = channel

    def send(self, message: str) -> None:
        self.client.publish(self.channel, message)

    def _receive(self, callback: Any) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8
        pubsub.subscribe(self.channel)
        try:
            while not self._stop.is_set():
                msg = pubsub.get_message(timeout=0.5)
                if msg and msg.get("type") == "message":
                    data = msg["data"]
                    callback(data.decode() if isinstance(data, bytes) else data)
        finally:
            pubsub.close()


class PostgresBackend(_Listener):
    """PostgreSQL ``NOTIFY gateway_changes`` / ``LISTEN gateway_changes`` on the store itself."""

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn
        self._send_lock = threading.Lock()
        self._conn: Any = None

    def send(self, message: str) -> None:
        import psycopg

        with self._send_lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn, autocommit=True)
            self._conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, message))

    def _receive(self, callback: Any) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            while not self._stop.is_set():
                for n in conn.notifies(timeout=0.5):
                    callback(n.payload)

    def close(self) -> None:
        super().close()
        with self._send_lock:
            if self._conn is not None:
                self._conn.close()


def make_notifier(mode: str, db_url: Any, redis_url: str | None, redis_prefix: str = "gateway:") -> Notifier:
    """The notifier for ``GATEWAY_NOTIFY``: ``auto`` (Redis when configured, else PostgreSQL when
    the store is PostgreSQL, else this process only), ``redis``, ``postgres`` or ``local``."""
    from sqlalchemy.engine import make_url

    url = make_url(str(db_url)) if not hasattr(db_url, "drivername") else db_url
    is_pg = url.drivername.startswith("postgresql")
    if mode == "auto":
        mode = "redis" if redis_url else "postgres" if is_pg else "local"
    if mode == "redis":
        if not redis_url:
            raise ValueError("GATEWAY_NOTIFY=redis needs GATEWAY_REDIS_URL")
        return Notifier(RedisBackend(redis_url, f"{redis_prefix}changes"))
    if mode == "postgres":
        if not is_pg:
            raise ValueError("GATEWAY_NOTIFY=postgres needs a PostgreSQL store")
        return Notifier(PostgresBackend(url.set(drivername="postgresql").render_as_string(hide_password=False)))
    if mode != "local":
        raise ValueError(f"GATEWAY_NOTIFY must be auto, local, redis or postgres, not {mode!r}")
    return Notifier()
