"""Cached path vs. hand-written: the same queries on the same store, in one run, interleaved.

The gateway (warm plan cache, so no model call) and a hand-written strawberry + SQLAlchemy
Core API (``handwritten.py``) answer the same three queries with the same selection from the
same store. Latency one request at a time, then requests per second with 8 and 64 in flight.
Blocks alternate between the two apps (gateway, hand-written, hand-written, gateway) so the
load other jobs put on the machine hits both alike.

In-process (default): both ASGI apps driven through ``httpx.ASGITransport``, no sockets.
``--workers N``: both served over loopback, the gateway as ``gateway serve --workers N``, the
baseline as ``uvicorn --workers N``; with ``--store postgresql`` the gateway's processes share
the plan cache through Redis (when reachable) as well as the store.

    .venv/bin/python bench/cached_vs_handwritten.py [--tasks 1000] [--requests 1500]
        [--inflight 8,64] [--store sqlite|postgresql] [--workers 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from common import (DEMO_SCHEMA, REDIS_URL, ROOT, median, percentile, pg_available, pg_database, pg_drop, table,
                    tracker_seed, write_result)
from handwritten import handwritten_app

from gateway import Gateway, ScriptedProvider, Settings, create_app, import_records

SELECTION = "id title status priority"
QUERIES = [
    # (gateway document, model's plan for it, hand-written document)
    ('{ tasks(q: "tasks tagged urgent") { %s } }' % SELECTION,
     {"steps": [{"op": "find", "model": "Task", "where": {"tags": {"name": {"eq": "urgent"}}},
                 "orderBy": [{"field": "id", "direction": "asc"}]}], "result": 0, "params": {"tag": "urgent"}},
     '{ tasks(tag: "urgent") { %s } }' % SELECTION),
    ('{ tasks(q: "high priority tasks of the Website project") { %s } }' % SELECTION,
     {"steps": [{"op": "find", "model": "Task", "where": {"and": [
         {"priority": {"eq": "HIGH"}}, {"project": {"name": {"eq": "Website"}}}]},
         "orderBy": [{"field": "id", "direction": "asc"}]}], "result": 0, "params": {"project": "Website"}},
     '{ tasks(project: "Website", priority: "HIGH") { %s } }' % SELECTION),
    ('{ taskCount(q: "how many tasks are done") }',
     {"steps": [{"op": "aggregate", "model": "Task", "where": {"status": {"eq": "DONE"}},
                 "aggregates": [{"fn": "count", "as": "n"}]}], "result": 0, "params": {}},
     '{ taskCount(status: "DONE") }'),
]
TEMPLATE_QUERY = '{ tasks(q: "tasks tagged home") { %s } }' % SELECTION
TEMPLATE_HAND = '{ tasks(tag: "home") { %s } }' % SELECTION



# -- measuring ------------------------------------------------------------------------------
class Tally:
    """Latencies and failed requests of one app."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.first_errors: list[str] = []  # what went wrong, the first few

    async def post(self, client: httpx.AsyncClient, doc: str) -> None:
        t0 = time.perf_counter()
        problem = None
        try:
            r = await client.post("/graphql", json={"query": doc})
            if r.status_code != 200 or "errors" in r.json():
                problem = f"{r.status_code} {r.text[:300]}"
        except httpx.HTTPError as e:
            problem = f"{type(e).__name__}: {e}"
        self.latencies.append((time.perf_counter() - t0) * 1000)
        if problem is not None:
            self.errors += 1
            if len(self.first_errors) < 3:
                self.first_errors.append(problem)


async def sequential(client: httpx.AsyncClient, docs: list[str], n: int, tally: Tally) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        await tally.post(client, docs[i % len(docs)])
    return time.perf_counter() - t0


async def in_flight(client: httpx.AsyncClient, docs: list[str], n: int, k: int, tally: Tally) -> float:
    """Seconds to answer ``n`` requests with ``k`` in flight at any time."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await tally.post(client, docs[i % len(docs)])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(k)))
    return time.perf_counter() - t0


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            httpx.post(url, json={"query": "{ __typename }"}, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


async def run(tasks: int, n_requests: int, inflight: list[int], store: str, workers: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    pg_name = f"gw_bench_{uuid.uuid4().hex[:8]}"
    db_url = pg_database(pg_name) if store == "postgresql" else f"sqlite:///{tmp / 'bench.db'}"
    redis_url = REDIS_URL if store == "postgresql" and _redis_up() else None
    procs: list[subprocess.Popen[bytes]] = []
    model = ScriptedProvider([], routes={doc.split('"')[1]: [plan] for doc, plan, _ in QUERIES})
    gw = Gateway(Settings(schema=str(DEMO_SCHEMA), db=db_url, plan_cache=True, redis_url=redis_url), provider=model)
    import_records(gw.executor, tracker_seed(tasks))
    hand_app, hand_engine = handwritten_app(db_url)
    gdocs = [q for q, _, _ in QUERIES]
    hdocs = [h for _, _, h in QUERIES]
    try:
        async with AsyncExitStack() as stack:
            local_g = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(gw)), base_url="http://gw"))
            local_h = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=hand_app), base_url="http://hw"))
            # same answers from both; the first round fills the plan cache (one model call per query)
            for (gdoc, _, hdoc) in [*QUERIES, (TEMPLATE_QUERY, None, TEMPLATE_HAND)]:
                gbody, hbody = (await local_g.post("/graphql", json={"query": gdoc})).json(), \
                               (await local_h.post("/graphql", json={"query": hdoc})).json()
                assert gbody["data"] == hbody["data"], (gdoc, gbody, hbody)
            if workers:
                g_url, h_url = _serve(db_url, redis_url, workers, tmp, procs)
                limits = httpx.Limits(max_connections=max(inflight) + 8, max_keepalive_connections=max(inflight) + 8)
                g = await stack.enter_async_context(httpx.AsyncClient(base_url=g_url, limits=limits, timeout=60))
                h = await stack.enter_async_context(httpx.AsyncClient(base_url=h_url, limits=limits, timeout=60))
            else:
                g, h = local_g, local_h
            calls_after_warmup = len(model.calls)
            warm = Tally()
            await sequential(g, gdocs, 150, warm)
            await sequential(h, hdocs, 150, warm)
            seq_g, seq_h, tmpl = Tally(), Tally(), Tally()
            t_g = t_h = 0.0
            block = 100
            for _ in range(max(1, n_requests // block)):
                t_g += await sequential(g, gdocs, block, seq_g)
                t_h += await sequential(h, hdocs, block, seq_h)
            await sequential(g, [TEMPLATE_QUERY], 300, tmpl)
            rps: dict[int, dict[str, Any]] = {}
            for k in inflight:
                busy_g, busy_h = Tally(), Tally()
                half = max(k, n_requests // 2)
                s_g = await in_flight(g, gdocs, half, k, busy_g)
                s_h = await in_flight(h, hdocs, half, k, busy_h)
                s_h += await in_flight(h, hdocs, half, k, busy_h)
                s_g += await in_flight(g, gdocs, half, k, busy_g)
                rps[k] = {"gateway": 2 * half / s_g, "handwritten": 2 * half / s_h,
                          "gateway_p50_ms": median(busy_g.latencies), "handwritten_p50_ms": median(busy_h.latencies),
                          "errors": {"gateway": busy_g.errors, "handwritten": busy_h.errors},
                          "first_errors": {"gateway": busy_g.first_errors, "handwritten": busy_h.first_errors}}
            model_calls = len(model.calls) - calls_after_warmup
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        gw.close()
        hand_engine.dispose()
        if store == "postgresql":
            pg_drop(pg_name)
    res = {
        "method": (f"served over loopback, {workers} uvicorn worker process(es) each" if workers
                   else "in-process ASGI via httpx.ASGITransport, same for both apps"),
        "store": store + (" + Redis plan cache" if redis_url else ""),
        "tasks": tasks, "requests_per_app": len(seq_g.latencies),
        "queries": gdocs,
        "gateway": {"p50_ms": median(seq_g.latencies), "p95_ms": percentile(seq_g.latencies, 95),
                    "rps_seq": len(seq_g.latencies) / t_g, "errors": seq_g.errors},
        "gateway_template_hits": {"p50_ms": median(tmpl.latencies), "p95_ms": percentile(tmpl.latencies, 95)},
        "handwritten": {"p50_ms": median(seq_h.latencies), "p95_ms": percentile(seq_h.latencies, 95),
                        "rps_seq": len(seq_h.latencies) / t_h, "errors": seq_h.errors},
        "in_flight": {str(k): v for k, v in rps.items()},
        "model_calls_during_measurement": model_calls,
    }
    res["ratio_p50"] = res["gateway"]["p50_ms"] / res["handwritten"]["p50_ms"]
    return res


def _redis_up() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()
        return True
    except Exception:  # noqa: BLE001
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db_url: str, redis_url: str | None, workers: int, tmp: Path,
           procs: list[subprocess.Popen[bytes]]) -> tuple[str, str]:
    """``gateway serve --workers N`` (a scripted model with no answers: every plan must come from
    the warm cache) and the hand-written app under ``uvicorn --workers N``; their base URLs."""
    answers = tmp / "no-answers.json"
    answers.write_text("[]")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {"GATEWAY_PLAN_CACHE": "true", "PYTHONPATH": str(ROOT), "HANDWRITTEN_DB": db_url}
    if redis_url:
        env["GATEWAY_REDIS_URL"] = redis_url
    g_port, h_port = _free_port(), _free_port()
    for name, cmd in (
        ("gateway", [sys.executable, "-m", "gateway.cli", "serve", "--schema", str(DEMO_SCHEMA), "--db", db_url,
                     "--model", f"scripted:{answers}", "--port", str(g_port), "--workers", str(workers)]),
        ("handwritten", [sys.executable, "-m", "uvicorn", "handwritten:app_from_env", "--factory", "--port",
                         str(h_port), "--workers", str(workers), "--log-level", "warning"]),
    ):
        log = tmp / f"{name}.log"
        procs.append(subprocess.Popen(cmd, cwd=Path(__file__).parent, env=env, stdout=log.open("w"),
                                      stderr=subprocess.STDOUT))
        port = g_port if name == "gateway" else h_port
        _wait_ready(f"http://127.0.0.1:{port}/graphql", procs[-1], log)
    return f"http://127.0.0.1:{g_port}", f"http://127.0.0.1:{h_port}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--inflight", default="8,64", help="comma-separated requests in flight")
    ap.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--workers", type=int, default=0, help="0: in-process; N: served by N worker processes")
    args = ap.parse_args()
    if args.store == "postgresql" and not pg_available():
        sys.exit("PostgreSQL is not reachable (GATEWAY_BENCH_PG)")
    inflight = [int(k) for k in args.inflight.split(",") if k]
    res = asyncio.run(run(args.tasks, args.requests, inflight, args.store, args.workers))
    g, h, t = res["gateway"], res["handwritten"], res["gateway_template_hits"]
    print(f"{res['method']}; {res['store']}; {res['tasks']} tasks; "
          f"{res['requests_per_app']} sequential requests per app\n")
    heads = ["app", "p50 ms (1 in flight)", "p95 ms", "req/s (1)"] + [f"req/s ({k})" for k in inflight]
    rows = [
        ["gateway, warm plan cache (exact hits)", g["p50_ms"], g["p95_ms"], g["rps_seq"],
         *(res["in_flight"][str(k)]["gateway"] for k in inflight)],
        ["gateway, template hits (tasks tagged home)", t["p50_ms"], t["p95_ms"], "", *("" for _ in inflight)],
        ["hand-written strawberry + SQLAlchemy", h["p50_ms"], h["p95_ms"], h["rps_seq"],
         *(res["in_flight"][str(k)]["handwritten"] for k in inflight)],
        ["ratio gateway / hand-written", res["ratio_p50"], g["p95_ms"] / h["p95_ms"], g["rps_seq"] / h["rps_seq"],
         *(res["in_flight"][str(k)]["gateway"] / res["in_flight"][str(k)]["handwritten"] for k in inflight)],
    ]
    print(table(heads, rows))
    errors = {"gateway": g["errors"] + sum(v["errors"]["gateway"] for v in res["in_flight"].values()),
              "handwritten": h["errors"] + sum(v["errors"]["handwritten"] for v in res["in_flight"].values())}
    print(f"\nerrors: {errors}; model calls during measurement: {res['model_calls_during_measurement']}")
    for k in inflight:
        for app, found in res["in_flight"][str(k)]["first_errors"].items():
            for e in found:
                print(f"  {app}, {k} in flight: {e}")
    suffix = "" if not args.workers and args.store == "sqlite" else f"_{args.store}_w{args.workers}"
    print(f"wrote {write_result('cached_vs_handwritten' + suffix, res)}")


if __name__ == "__main__":
    main()
