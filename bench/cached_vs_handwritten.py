"""Cached path vs. hand-written: the same queries on the same SQLite file, in one run.

The gateway (warm plan cache, so no model call) and a hand-written strawberry + SQLAlchemy
Core API answer the same three queries with the same selection from the same SQLite file.
Both ASGI apps are driven in-process through ``httpx.ASGITransport`` (no sockets, same method
for both), requests sequential for latency, then 8 at a time for throughput. Blocks of
requests alternate between the two apps so drift hits both alike.

    .venv/bin/python bench/cached_vs_handwritten.py [--tasks 1000] [--requests 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import httpx
import strawberry
from common import DEMO_SCHEMA, median, percentile, table, tracker_seed, write_result
from sqlalchemy import MetaData, Table, create_engine, func, select
from strawberry.asgi import GraphQL

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


# -- the hand-written API -------------------------------------------------------------------
# What a developer would write by hand: strawberry types, SQLAlchemy Core queries.
DB: dict[str, Any] = {}  # engine and tables, set by handwritten_app


@strawberry.type
class Task:
    id: strawberry.ID
    title: str
    status: str
    priority: Optional[str]


@strawberry.type
class Query:
    @strawberry.field
    def tasks(self, tag: Optional[str] = None, project: Optional[str] = None,
              priority: Optional[str] = None) -> list[Task]:
        task, tags, projects, task_tags = DB["Task"], DB["Tag"], DB["Project"], DB["Tag_tasks__Task_tags"]
        stmt = select(task.c.id, task.c.title, task.c.status, task.c.priority).order_by(task.c.id)
        if tag is not None:  # the join table's left_id is the Tag, right_id the Task
            stmt = stmt.where(task.c.id.in_(select(task_tags.c.right_id)
                                            .join(tags, tags.c.id == task_tags.c.left_id)
                                            .where(tags.c.name == tag)))
        if project is not None:
            stmt = stmt.where(task.c.project.in_(select(projects.c.id).where(projects.c.name == project)))
        if priority is not None:
            stmt = stmt.where(task.c.priority == priority)
        with DB["engine"].connect() as conn:
            return [Task(id=r.id, title=r.title, status=r.status, priority=r.priority) for r in conn.execute(stmt)]

    @strawberry.field
    def task_count(self, status: Optional[str] = None) -> int:
        stmt = select(func.count()).select_from(DB["Task"])
        if status is not None:
            stmt = stmt.where(DB["Task"].c.status == status)
        with DB["engine"].connect() as conn:
            return int(conn.execute(stmt).scalar_one())


def handwritten_app(db_url: str) -> tuple[Any, Any]:
    engine = create_engine(db_url)
    meta = MetaData()
    DB["engine"] = engine
    for name in ("Task", "Tag", "Project", "Tag_tasks__Task_tags"):
        DB[name] = Table(name, meta, autoload_with=engine)
    return GraphQL(strawberry.Schema(query=Query)), engine


# -- measuring ------------------------------------------------------------------------------
async def sequential(client: httpx.AsyncClient, docs: list[str], n: int, out: list[float]) -> None:
    for i in range(n):
        t0 = time.perf_counter()
        r = await client.post("/graphql", json={"query": docs[i % len(docs)]})
        out.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200 or "errors" in r.json():
            raise RuntimeError(f"request failed: {r.status_code} {r.text[:300]}")


async def concurrent_rps(client: httpx.AsyncClient, docs: list[str], n: int, workers: int = 8) -> float:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            r = await client.post("/graphql", json={"query": docs[i % len(docs)]})
            if r.status_code != 200:
                raise RuntimeError(r.text[:300])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return n / (time.perf_counter() - t0)


async def run(tasks: int, n_requests: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    model = ScriptedProvider([], routes={doc.split('"')[1]: [plan] for doc, plan, _ in QUERIES})
    gw = Gateway(Settings(schema=str(DEMO_SCHEMA), db=db_url, plan_cache=True), provider=model)
    import_records(gw.executor, tracker_seed(tasks))
    hand_app, hand_engine = handwritten_app(db_url)
    gdocs = [q for q, _, _ in QUERIES]
    hdocs = [h for _, _, h in QUERIES]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(gw)), base_url="http://gw") as g, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=hand_app), base_url="http://hw") as h:
        # same answers from both; the first round fills the plan cache (one model call per query)
        for (gdoc, _, hdoc) in [*QUERIES, (TEMPLATE_QUERY, None, TEMPLATE_HAND)]:
            gbody, hbody = (await g.post("/graphql", json={"query": gdoc})).json(), \
                           (await h.post("/graphql", json={"query": hdoc})).json()
            assert gbody["data"] == hbody["data"], (gdoc, gbody, hbody)
        calls_after_warmup = len(model.calls)
        warm: list[float] = []
        await sequential(g, gdocs, 150, warm)
        await sequential(h, hdocs, 150, warm)
        lat_g: list[float] = []
        lat_h: list[float] = []
        lat_t: list[float] = []
        block = 100
        t_g = t_h = 0.0
        for _ in range(max(1, n_requests // block)):
            t0 = time.perf_counter()
            await sequential(g, gdocs, block, lat_g)
            t_g += time.perf_counter() - t0
            t0 = time.perf_counter()
            await sequential(h, hdocs, block, lat_h)
            t_h += time.perf_counter() - t0
        await sequential(g, [TEMPLATE_QUERY], 300, lat_t)
        rps8_g = await concurrent_rps(g, gdocs, n_requests)
        rps8_h = await concurrent_rps(h, hdocs, n_requests)
        model_calls = len(model.calls) - calls_after_warmup
    gw.close()
    hand_engine.dispose()
    res = {
        "method": "in-process ASGI via httpx.ASGITransport, same for both apps",
        "store": "SQLite file (WAL), same file for both",
        "tasks": tasks, "requests_per_app": len(lat_g),
        "queries": [q for q, _, _ in QUERIES],
        "gateway": {"p50_ms": median(lat_g), "p95_ms": percentile(lat_g, 95), "rps_seq": len(lat_g) / t_g,
                    "rps_8": rps8_g},
        "gateway_template_hits": {"p50_ms": median(lat_t), "p95_ms": percentile(lat_t, 95)},
        "handwritten": {"p50_ms": median(lat_h), "p95_ms": percentile(lat_h, 95), "rps_seq": len(lat_h) / t_h,
                        "rps_8": rps8_h},
        "model_calls_during_measurement": model_calls,
    }
    res["ratio_p50"] = res["gateway"]["p50_ms"] / res["handwritten"]["p50_ms"]
    res["ratio_p95"] = res["gateway"]["p95_ms"] / res["handwritten"]["p95_ms"]
    res["ratio_rps_seq"] = res["handwritten"]["rps_seq"] / res["gateway"]["rps_seq"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=1500)
    args = ap.parse_args()
    res = asyncio.run(run(args.tasks, args.requests))
    g, h = res["gateway"], res["handwritten"]
    t = res["gateway_template_hits"]
    print(f"{res['method']}; {res['tasks']} tasks; {res['requests_per_app']} sequential requests per app\n")
    print(table(["app", "p50 ms", "p95 ms", "req/s (1 at a time)", "req/s (8 at a time)"], [
        ["gateway, warm plan cache (exact hits)", g["p50_ms"], g["p95_ms"], g["rps_seq"], g["rps_8"]],
        ["gateway, template hits (tasks tagged home)", t["p50_ms"], t["p95_ms"], "", ""],
        ["hand-written strawberry + SQLAlchemy", h["p50_ms"], h["p95_ms"], h["rps_seq"], h["rps_8"]],
        ["ratio gateway / hand-written", res["ratio_p50"], res["ratio_p95"],
         1 / res["ratio_rps_seq"], g["rps_8"] / h["rps_8"]],
    ]))
    print(f"\nmodel calls during measurement: {res['model_calls_during_measurement']}")
    print(f"wrote {write_result('cached_vs_handwritten', res)}")


if __name__ == "__main__":
    main()
