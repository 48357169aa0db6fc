"""What the change triggers cost PostgreSQL writers: commits per second of concurrent one-row writes.

A store whose SDL has a ``Subscription`` field gets a statement trigger per table that calls
``pg_notify`` (``gateway.store.changes``). A transaction that notifies takes a cluster-wide lock
while it commits, so concurrent notifying writers commit one after another. The gateway's own
sessions skip it (the gateway announces its writes itself, after they commit); a program
outside the gateway pays it. Measured on one fresh PostgreSQL database, each writer inserting
one task per transaction:

- gateway: ``Executor.run`` of a one-row insert plan, then ``Notifier.publish`` of what it
  touched (what ``Gateway.run_prepared`` does once a write is planned, without HTTP and model);
- gateway engine: one SQLAlchemy ``INSERT`` on a connection of the gateway's pool (its
  sessions, without the executor's Python work, which bounds the row above on a small machine);
- outside: a plain psycopg connection in autocommit, one ``INSERT`` per transaction;

each with the triggers dropped and installed, in alternating rounds, so the same run gives the
baseline.

    .venv/bin/python bench/notify_cost.py [--writers 8] [--writes 400] [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from common import DEMO_SCHEMA, pg_available, pg_database, pg_drop, table, write_result
from sqlalchemy import insert

from gateway import Gateway, Settings
from gateway.plan import Plan  # internal: the write is run as the executor runs a planned one
from gateway.store.changes import TRIGGER, ensure_change_triggers  # internal: the triggers measured
from gateway.subscriptions import written_models  # internal: the models a write announces, as the service does
from gateway.validation import validate_plan  # internal: the write is checked as a planned one is

LIVE = "\ntype Subscription { tasks(q: String): [Task!]! }\n"
DB = "gateway_bench_notify"


def concurrently(writers: int, writes: int, write: Callable[[int, int], None]) -> float:
    """Commits per second of ``writers`` threads, each making ``writes`` one-row transactions."""
    start = threading.Barrier(writers + 1)

    def worker(w: int) -> None:
        start.wait()
        for i in range(writes):
            write(w, i)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return writers * writes / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--writes", type=int, default=400, help="transactions per writer")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if not pg_available():
        raise SystemExit("PostgreSQL not reachable (GATEWAY_BENCH_PG)")
    import psycopg

    url = pg_database(DB)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    tmp = Path(tempfile.mkdtemp(prefix="gw-notify-"))
    schema = tmp / "live.graphql"
    schema.write_text(DEMO_SCHEMA.read_text() + LIVE)
    gw = Gateway(Settings(schema=str(schema), db=url, plan_cache=False, grounding_probes=0))
    try:
        root = gw.catalog.root("mutation", "tasks")

        def plan(title: str) -> Any:
            data = {"steps": [{"op": "insert", "model": "Task", "values": [{"title": title, "status": "TODO"}]}]}
            return validate_plan(gw.catalog, Plan.model_validate({**data, "result": 0}), root)

        def gateway_write(w: int, i: int) -> None:
            p = plan(f"gateway {w}-{i}")
            gw.executor.run(p)
            gw.notifier.publish(written_models(gw.catalog, p))

        task = gw.tables.table("Task")

        def engine_write(w: int, i: int) -> None:
            with gw.engine.begin() as conn:
                conn.execute(insert(task).values(id=f"e-{w}-{i}-{time.time_ns()}", title=str(i), status="TODO"))

        local = threading.local()

        def outside_write(w: int, i: int) -> None:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = psycopg.connect(dsn, autocommit=True)
            conn.execute(
                """INSERT INTO "Task"(id, title, status) VALUES (%s, %s, 'TODO')""", (f"o-{time.time_ns()}-{w}", str(i))
            )

        def triggers(on: bool) -> None:
            if on:
                assert ensure_change_triggers(gw.engine, gw.tables)
                return
            with psycopg.connect(dsn, autocommit=True) as pg:
                for t in gw.tables.models:
                    pg.execute(f'DROP TRIGGER IF EXISTS "{TRIGGER}" ON "{t}"')
                for t in gw.tables.joins:
                    pg.execute(f'DROP TRIGGER IF EXISTS "{TRIGGER}" ON "{t}"')

        runs: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for on in (False, True):
                triggers(on)
                for who, write in (
                    ("gateway", gateway_write),
                    ("gateway engine", engine_write),
                    ("outside", outside_write),
                ):
                    rate = concurrently(args.writers, args.writes, write)
                    runs.setdefault(f"{who} {'with' if on else 'without'} triggers", []).append(rate)
        rows = [[k, median(v), ", ".join(f"{x:,.0f}" for x in v)] for k, v in runs.items()]
        print(f"{args.writers} writers x {args.writes} one-row transactions, PostgreSQL\n")
        print(table(["writer", "commits/s (median)", "rounds"], rows))
        write_result(
            "notify_cost",
            {"writers": args.writers, "writes": args.writes, "commits_per_s": runs},
        )
    finally:
        gw.close()
        pg_drop(DB)


if __name__ == "__main__":
    main()
