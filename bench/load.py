"""Throughput under load: a load generator against `gateway serve` on loopback, cached path.

`gateway serve` runs as its own process (a SQLite store seeded by `gateway import`, a scripted
model); this process warms the plan cache with one model call per query shape, then sends a
bounded load (at most --requests requests and --seconds seconds, --concurrency at a time) of
exact repeats and same-template requests ("tasks tagged <another tag>") over HTTP on
127.0.0.1, and counts errors and model calls (each response's ``extensions`` says whether its
plan came from the cache or the model).

Scale-out, when Redis is reachable (GATEWAY_REDIS_URL): two `gateway serve` processes on the
same store, only the first warmed, the load round-robin to both, the second's scripted model
without any answer (a plan it did not get from the shared cache would be an error); and one
`gateway serve --workers 2` (uvicorn worker processes, each its own gateway) whose scripted
model has no answers either: a one-process `gateway serve` warms the cache first and stops.

    .venv/bin/python bench/load.py [--requests 4000] [--seconds 40] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from common import DEMO_SCHEMA, REDIS_URL, ROOT, median, percentile, table, tracker_seed, write_result

SELECTION = "id title status priority"
WARM = [  # (request, the scripted model's plan)
    (
        "tasks tagged urgent",
        {
            "steps": [
                {
                    "op": "find",
                    "model": "Task",
                    "where": {"tags": {"name": {"eq": "urgent"}}},
                    "orderBy": [{"field": "id", "direction": "asc"}],
                }
            ],
            "result": 0,
            "params": {"tag": "urgent"},
        },
    ),
    (
        "high priority tasks of the Website project",
        {
            "steps": [
                {
                    "op": "find",
                    "model": "Task",
                    "where": {"and": [{"priority": {"eq": "HIGH"}}, {"project": {"name": {"eq": "Website"}}}]},
                }
            ],
            "result": 0,
            "params": {"project": "Website"},
        },
    ),
    (
        "tasks estimated at 3 points or more, biggest first",
        {
            "steps": [
                {
                    "op": "find",
                    "model": "Task",
                    "where": {"estimate": {"gte": 3}},
                    "orderBy": [{"field": "estimate", "direction": "desc"}],
                    "limit": 20,
                }
            ],
            "result": 0,
            "params": {"points": 3},
        },
    ),
]


def doc(request: str) -> dict[str, Any]:
    return {"query": "query Q($q: String!) { tasks(q: $q) { %s } }" % SELECTION, "variables": {"q": request}}


def mix() -> list[str]:
    """Exact repeats of the warm requests and same-template requests with other literals."""
    out = [r for r, _ in WARM]
    out += [f"tasks tagged {t}" for t in ("home", "tag2", "tag3", "tag7", "tag11")]
    out += [f"tasks estimated at {n} points or more, biggest first" for n in (1, 5, 7)]
    return out


class Server:
    """One `gateway serve` process on 127.0.0.1."""

    def __init__(
        self, tmp: Path, db: str, answers: Path, port: int, env: dict[str, str], name: str, workers: int = 1
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = (tmp / f"{name}.log").open("w")
        cmd = [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--schema",
            str(DEMO_SCHEMA),
            "--db",
            db,
            "--model",
            f"scripted:{answers}",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway serve exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gateway serve did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(urls: list[str], requests: int, seconds: float, concurrency: int) -> dict[str, Any]:
    bodies = mix()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    counter = iter(range(requests))
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        for i in counter:
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{urls[i % len(urls)]}/graphql", json=doc(bodies[i % len(bodies)]))
                body = r.json()
            except (httpx.HTTPError, ValueError) as e:
                errors[type(e).__name__] += 1
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200 or body.get("errors"):
                errors[f"{r.status_code} {(body.get('errors') or [{}])[0].get('extensions', {}).get('code')}"] += 1
                continue
            trace = body["extensions"]["fields"]["tasks"]
            sources[f"{trace['source']}:{trace.get('cache', '-')}"] += 1

    t0 = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "requests": len(latencies) + sum(errors.values()),
        "elapsed_s": elapsed,
        "rps": (len(latencies) + sum(errors.values())) / elapsed,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "sources": dict(sources),
        "model_calls": sources.get("model:-", 0),
        "p50_ms": median(latencies),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
    }


def warm(url: str) -> None:
    for request, _ in WARM:
        body = httpx.post(f"{url}/graphql", json=doc(request), timeout=30).json()
        assert not body.get("errors") and body["extensions"]["fields"]["tasks"]["source"] == "model", body
    body = httpx.post(f"{url}/graphql", json=doc("tasks tagged home"), timeout=30).json()
    assert body["extensions"]["fields"]["tasks"]["cache"] == "template", body


def redis_ok() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        return True
    except Exception:  # noqa: BLE001
        return False


def scenario(processes: int, args: argparse.Namespace, workers: int = 1) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gw-load-"))
    db = f"sqlite:///{tmp / 'load.db'}"
    (tmp / "seed.json").write_text(json.dumps(tracker_seed(args.tasks)), encoding="utf-8")
    answers = tmp / "answers.json"
    answers.write_text(json.dumps([plan for _, plan in WARM]), encoding="utf-8")
    (tmp / "none.json").write_text("[]", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = str(ROOT)
    prefix = None
    if processes > 1 or workers > 1:
        prefix = f"gwbench:{uuid.uuid4().hex[:8]}:"
        env.update(GATEWAY_REDIS_URL=REDIS_URL, GATEWAY_REDIS_PREFIX=prefix)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "import",
            str(tmp / "seed.json"),
            "--schema",
            str(DEMO_SCHEMA),
            "--db",
            db,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    if workers > 1:  # warm with a one-process server, then serve with workers that cannot plan
        warmer = Server(tmp, db, answers, free_port(), env, "warm")
        try:
            warmer.wait_ready()
            warm(warmer.url)
        finally:
            warmer.stop()
        servers = [Server(tmp, db, tmp / "none.json", free_port(), env, "serve0", workers)]
    else:
        servers = [
            Server(tmp, db, answers if i == 0 else tmp / "none.json", free_port(), env, f"serve{i}")
            for i in range(processes)
        ]
    try:
        for s in servers:
            s.wait_ready()
        if workers == 1:
            warm(servers[0].url)
        res = asyncio.run(load([s.url for s in servers], args.requests, args.seconds, args.concurrency))
    finally:
        for s in servers:
            s.stop()
        if prefix:
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            for key in r.scan_iter(f"{prefix}*"):
                r.delete(key)
    label = (
        "1 process"
        if processes == 1 and workers == 1
        else f"{processes} processes sharing Redis"
        if workers == 1
        else f"--workers {workers}, sharing Redis"
    )
    return {
        "servers": label,
        "processes": processes,
        "workers": workers,
        "redis": prefix is not None,
        "concurrency": args.concurrency,
        **res,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=4000, help="at most this many requests per scenario")
    ap.add_argument("--seconds", type=float, default=40, help="and at most this long per scenario")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--tasks", type=int, default=1000)
    args = ap.parse_args()
    runs = [scenario(1, args)]
    if redis_ok():
        runs.append(scenario(2, args))
        runs.append(scenario(1, args, workers=2))
    else:
        print("Redis not reachable: the scale-out scenarios are skipped")
    print(
        f"\n`gateway serve` on 127.0.0.1, SQLite store with {args.tasks:,} tasks; load from another process, "
        f"{args.concurrency} at a time, at most {args.requests:,} requests / {args.seconds:.0f}s per scenario\n"
    )
    print(
        table(
            [
                "servers",
                "requests",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "errors",
                "model calls",
                "exact hits",
                "template hits",
            ],
            [
                [
                    r["servers"],
                    r["requests"],
                    r["rps"],
                    r["p50_ms"],
                    r["p95_ms"],
                    r["p99_ms"],
                    r["errors"],
                    r["model_calls"],
                    r["sources"].get("cache:exact", 0),
                    r["sources"].get("cache:template", 0),
                ]
                for r in runs
            ],
        )
    )
    print(f"\nwrote {write_result('load', {'tasks': args.tasks, 'scenarios': runs})}")


if __name__ == "__main__":
    main()
