"""Change notifications: which models a committed write touched, fanned out to the live subscriptions.

Within a process a write the gateway makes wakes the subscriptions that read one of the models
it touched. Writes made by other programs come from the store itself while someone watches
(:mod:`gateway.store.changes`): a PostgreSQL store's triggers ``NOTIFY gateway_changes`` and
the gateway listens; a SQLite file is polled with ``PRAGMA data_version``, which sees other
gateways' writes too. On PostgreSQL the gateway's own sessions skip the trigger's NOTIFY (it
would serialise their commits), so gateways tell each other, once a write has committed and
from a thread of its own, on the same channel or through Redis pub/sub (``GATEWAY_NOTIFY``). A
subscription holds one "changed" flag, not a queue: a burst of writes costs a slow consumer one
re-run, and nothing grows while it lags.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from .config import require_redis
from .store.changes import CHANNEL, data_version, mark_sessions, read_counts, store_can_announce

log = logging.getLogger(__name__)
READY_WAIT_S = 5.0  # how long a new subscription waits for the store's feed before its first run
POLL_S = 0.1  # SQLite: how often ``PRAGMA data_version`` is asked while someone watches

Deliver = Callable[[set[str] | None], None]  # the models that changed; None: any may have


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

    def __init__(
        self, backend: Backend | None = None, feed: StoreFeed | None = None, origin: str | None = None
    ) -> None:
        self.backend = backend
        self.feed = feed
        self.origin = origin or uuid.uuid4().hex
        self._outbox = Outbox(self._send) if backend is not None else None
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
        """Start watching ``models`` from the running event loop; the first watch starts the store's feed."""
        w = Watch(frozenset(models), asyncio.get_running_loop())
        with self._lock:
            self._watches.add(w)
            if self.feed is not None and len(self._watches) == 1:
                self.feed.start(self.deliver)
            if self.backend is not None and not self._started:
                self._started = True
                self.backend.listen(self._remote)
        return w

    async def ready(self) -> None:
        """Wait (a bounded while) until the store's feed sees every later write: a subscription's
        first run then misses nothing. A feed that cannot connect wakes every watch once it does."""
        ready = self.feed.ready if self.feed is not None else None
        if ready is not None and not ready.is_set():
            await asyncio.to_thread(ready.wait, READY_WAIT_S)

    def unwatch(self, w: Watch) -> None:
        with self._lock:
            self._watches.discard(w)
            if self.feed is not None and not self._watches:
                self.feed.stop()  # no one watches: no connection held, no polling

    def publish(self, models: Iterable[str]) -> None:
        """A write touching ``models`` committed: wake local watchers and tell the other processes
        (the message leaves from the outbox's thread: the write does not wait for it)."""
        touched = set(models)
        if not touched:
            return
        if self.feed is not None:
            touched = self.feed.own_write(touched)
        self.deliver(touched)
        if self._outbox is not None:
            self._outbox.put(touched)

    def _send(self, models: set[str]) -> None:
        assert self.backend is not None
        try:
            self.backend.send(json.dumps({"origin": self.origin, "models": sorted(models)}))
        except Exception as e:  # noqa: BLE001 - a notification lost must not fail the write that committed
            log.warning("change notification not sent: %s", e)

    def deliver(self, models: set[str] | None) -> None:
        """Wake the watches reading one of ``models`` (every watch when None)."""
        with self._lock:
            woken = [w for w in self._watches if models is None or w.models & models]
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
        """Stop listening, send what is still in the outbox, close the channel."""
        if self.feed is not None:
            self.feed.stop(wait=True)
        if self._outbox is not None:
            self._outbox.close()
        if self.backend is not None:
            self.backend.close()


class Outbox:
    """Hands ``send`` the models of committed writes from a daemon thread of its own, so a write
    never waits for its message (on PostgreSQL each NOTIFY commits one at a time, cluster-wide).
    The models of writes that commit while a message is on its way leave together in the next
    one: under load, one message stands for many writes, and nothing queues up."""

    def __init__(self, send: Callable[[set[str]], None]) -> None:
        self._send = send
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def put(self, models: set[str]) -> None:
        with self._cond:
            self._pending |= models
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, daemon=True, name="gateway-notify-send")
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending) or self._closed)
                if not self._pending:
                    return  # closed, everything sent
                batch, self._pending = self._pending, set()
            self._send(batch)

    def close(self) -> None:
        """Send what is pending, then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)


class StoreFeed:
    """The store's own announcements of committed writes, read by a daemon thread from the first
    watch to the last; each start is a fresh thread with its own stop and ready events."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, deliver: Deliver) -> None:
        self._stop.set()  # a run still winding down ends on its own
        self._stop, self.ready = threading.Event(), threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(deliver, self._stop, self.ready), daemon=True, name="gateway-store-changes"
        )
        self._thread.start()

    def stop(self, wait: bool = False) -> None:
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join(timeout=5)

    def own_write(self, models: set[str]) -> set[str]:
        """This gateway committed a write to ``models``: those whose watches it wakes itself."""
        return models

    def _run(self, deliver: Deliver, stop: threading.Event, ready: threading.Event) -> None:  # pragma: no cover
        raise NotImplementedError


class PostgresFeed(StoreFeed):
    """``LISTEN gateway_changes`` on a connection of its own: the triggers' notifications (writes
    made outside the gateways) and other gateways' messages (:class:`PostgresBackend` sends them);
    this gateway's own (its ``origin``) are skipped, it has woken its watches already. The one
    listener on the channel, whether or not the store's triggers are in place."""

    def __init__(self, dsn: str, origin: str) -> None:
        super().__init__()
        self.dsn = dsn
        self.origin = origin

    def _run(self, deliver: Deliver, stop: threading.Event, ready: threading.Event) -> None:
        import psycopg

        missed = False
        while not stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if missed:  # writes made while the channel was down were not heard: re-run all
                        deliver(None)
                    ready.set()
                    while not stop.is_set():
                        for n in conn.notifies(timeout=0.5):
                            origin, models = _message(n.payload)
                            if origin != self.origin:
                                deliver(models)
            except Exception as e:  # noqa: BLE001 - the channel dropped: wait a moment, then listen again
                log.warning("store change notifications interrupted: %s", e)
                missed = True
                stop.wait(1.0)


class SqliteFeed(StoreFeed):
    """Asks ``PRAGMA data_version`` every ``interval`` seconds on a connection of its own and, when
    another connection committed, reads the per-model write counts to wake only the watches
    of models that changed. The gateway's own writes go through ``own_write``, so they are
    not announced twice."""

    def __init__(self, path: str, interval: float = POLL_S) -> None:
        super().__init__()
        self.path = path
        self.interval = interval
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._seen: dict[str, int] = {}

    def own_write(self, models: set[str]) -> set[str]:
        """Read the counts now, before the wake: the re-run it causes reads a later snapshot, so
        every change counted so far is in it, and only a later one moves a count past this.
        A model whose count was already seen has been woken by the poll since the commit (or
        did not change): it is not woken twice."""
        with self._lock:
            if self._conn is None:
                return models
            try:
                now = read_counts(self._conn)
            except sqlite3.Error:
                return models
            woken = {m for m in models if m not in now or now[m] != self._seen.get(m)}
            self._seen.update({m: now[m] for m in woken if m in now})
            return woken

    def _run(self, deliver: Deliver, stop: threading.Event, ready: threading.Event) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            log.warning("store change notifications off: %s", e)
            return
        try:
            with self._lock:
                if stop.is_set():
                    return
                version, self._seen, self._conn = data_version(conn), read_counts(conn), conn
            ready.set()
            while not stop.wait(self.interval):
                changed: set[str] = set()
                with self._lock:
                    if stop.is_set():
                        break
                    v = data_version(conn)
                    if v == version:
                        continue
                    version, now = v, read_counts(conn)
                    changed = {m for m, n in now.items() if self._seen.get(m) != n}
                    self._seen = now
                if changed:
                    deliver(changed)
        except sqlite3.Error as e:
            log.warning("store change notifications stopped: %s", e)
        finally:
            with self._lock:
                if self._conn is conn:
                    self._conn = None
            conn.close()


def _message(payload: str) -> tuple[str | None, set[str] | None]:
    """The gateway that sent a notification (None: a trigger) and the models it names; None
    (every watch) for models that cannot be read."""
    try:
        message = json.loads(payload)
    except ValueError:
        return None, None
    if not isinstance(message, dict):
        return None, None
    origin = message.get("origin")
    try:
        return (str(origin) if origin is not None else None), {str(m) for m in message["models"]}
    except (KeyError, TypeError):
        return None, None


class Backend:
    """A channel between processes: ``send`` a message, ``listen`` calls back on each one received
    (a channel that only sends, whose messages a :class:`StoreFeed` hears, ignores ``listen``)."""

    def send(self, message: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def listen(self, callback: Any) -> None:
        pass

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class RedisBackend(Backend):
    """Redis pub/sub on ``<prefix>changes``, heard by a daemon thread of its own."""

    def __init__(self, url: str, channel: str = "gateway:changes") -> None:
        require_redis()
        import redis

        self.client = redis.Redis.from_url(url)
        self.channel = channel
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, message: str) -> None:
        self.client.publish(self.channel, message)

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

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class PostgresBackend(Backend):
    """Sends on PostgreSQL's ``gateway_changes`` channel (``pg_notify``) over a connection kept
    for it; the :class:`PostgresFeed` of every gateway on the store listens."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._send_lock = threading.Lock()
        self._conn: Any = None

    def send(self, message: str) -> None:
        import psycopg

        with self._send_lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn, autocommit=True)
            self._conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, message))

    def close(self) -> None:
        with self._send_lock:
            if self._conn is not None:
                self._conn.close()


def make_notifier(
    mode: str, engine: Engine, redis_url: str | None, redis_prefix: str = "gateway:", *, announces: bool = False
) -> Notifier:
    """The notifier for ``GATEWAY_NOTIFY``.

    ``auto``: the store's own announcements when it makes them (``announces``: the triggers are
    in place; on PostgreSQL the gateways then tell each other on the triggers' channel), else
    Redis when configured, else PostgreSQL NOTIFY on a PostgreSQL store, else this process only.
    ``redis`` and ``postgres``: that channel between gateways, plus the store's announcements.
    ``local``: this process's own writes only. On PostgreSQL, where the gateway tells the others
    itself (on the store's channel, or through Redis to gateways that also hear the store), its
    sessions are marked so that triggers skip them: each write is announced once.
    """
    url = engine.url
    is_pg = url.drivername.startswith("postgresql")
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    origin = uuid.uuid4().hex
    feed: StoreFeed | None = None
    if mode != "local" and announces and store_can_announce(engine):
        feed = PostgresFeed(dsn, origin) if is_pg else SqliteFeed(str(url.database))
    if mode == "auto":
        if feed is None:
            mode = "redis" if redis_url else "postgres" if is_pg else "local"
        elif is_pg:
            mode = "postgres"  # the gateways tell each other on the triggers' channel
        else:
            return Notifier(feed=feed, origin=origin)  # SQLite: every connection's commit moves data_version
    if mode == "local":
        return Notifier(origin=origin)
    if mode == "redis":
        if not redis_url:
            raise ValueError("GATEWAY_NOTIFY=redis needs GATEWAY_REDIS_URL")
        backend: Backend = RedisBackend(redis_url, f"{redis_prefix}changes")
    elif mode == "postgres":
        if not is_pg:
            raise ValueError("GATEWAY_NOTIFY=postgres needs a PostgreSQL store")
        backend = PostgresBackend(dsn)
        feed = feed or PostgresFeed(dsn, origin)  # listens on the channel, triggers or not
    else:
        raise ValueError(f"GATEWAY_NOTIFY must be auto, local, redis or postgres, not {mode!r}")
    if is_pg and feed is not None:
        mark_sessions(engine, origin)  # its writes reach the listeners once, from this gateway
    return Notifier(backend, feed, origin)
