"""A read that waits on the store leaves the event loop free for every other request.

Cached reads that ran fast before run on the event loop (no thread hop); any other read runs on
a worker thread. Here a read waits on a PostgreSQL table lock, served from the plan cache for
the first time and then again after that slow run: both times ``/healthz`` answers meanwhile.
Timeouts are hang guards, not timing assertions.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import httpx
import psycopg

from conftest import PG_ADMIN_URL, TRACKER_SEED, LiveServer, make_gateway
from gateway import ScriptedProvider, import_records

ALL_TASKS = {
    "steps": [{"op": "find", "model": "Task", "orderBy": [{"field": "id", "direction": "asc"}]}],
    "result": 0,
    "params": {},
}
QUERY = '{ tasks(q: "all tasks") { id } }'


def _waiting_on_lock(database: str) -> bool:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (database,)
        ).fetchone()
    return bool(row and row[0])


def _read_while_locked(server: LiveServer, pg_url: str) -> tuple[dict[str, Any], bool]:
    """``QUERY`` while another transaction locks the Task table: its answer, and whether
    ``/healthz`` answered while the read waited."""
    database = pg_url.rsplit("/", 1)[1]
    conninfo = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(conninfo) as locker, concurrent.futures.ThreadPoolExecutor(1) as pool:
        locker.execute('LOCK TABLE "Task" IN ACCESS EXCLUSIVE MODE')
        read = pool.submit(server.gql, QUERY)
        deadline = time.monotonic() + 30  # hang guard
        while not _waiting_on_lock(database):
            assert time.monotonic() < deadline and not read.done(), "the read never waited on the lock"
            time.sleep(0.01)
        health = httpx.get(server.url.replace("/graphql", "/healthz"), timeout=30)
        answered_meanwhile = health.status_code == 200 and not read.done()
        time.sleep(0.05)  # the read stays slow however fast the machine: it never counts as a fast run
        locker.commit()
        return read.result(timeout=30), answered_meanwhile


def test_a_read_waiting_on_the_store_leaves_the_loop_free(pg_url: str) -> None:
    model = ScriptedProvider([], routes={"all tasks": [ALL_TASKS]})
    server = LiveServer(make_gateway(pg_url, provider=model, plan_cache=True)).start()
    try:
        import_records(server.gateway.executor, TRACKER_SEED)
        assert [t["id"] for t in server.gql(QUERY)["data"]["tasks"]] == ["t1", "t2", "t3"]  # the model's plan
        for _ in range(2):  # first served from the cache, then again after that slow run
            body, answered_meanwhile = _read_while_locked(server, pg_url)
            assert answered_meanwhile
            assert [t["id"] for t in body["data"]["tasks"]] == ["t1", "t2", "t3"]
            assert body["extensions"]["fields"]["tasks"]["source"] == "cache"  # no model call
        assert len(model.calls) == 1
    finally:
        server.stop()
