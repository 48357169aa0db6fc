"""Scale: find and aggregate over 1,000,000 rows on SQLite and PostgreSQL, without and with @index.

For each store: the gateway starts on an SDL without ``@index``/``@unique`` and creates the
table; a million rows go in by bulk insert (``executemany`` in one transaction on SQLite,
``COPY`` on PostgreSQL); the plans below run through the gateway's executor (what a cached
request runs, without HTTP); then the gateway restarts on the same SDL with the directives
added, which migrates the indexes in (timed), and the same plans run again.

    .venv/bin/python bench/scale.py [--rows 1000000] [--repeat 5] [--no-pg]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from common import median, pg_available, pg_database, pg_drop, table, write_result

from gateway import Gateway, Settings
from gateway.plan import Plan  # internal: a unit of the plan stage
from gateway.validation import validate_plan  # internal: a unit of the validation stage

SDL = """
enum Kind { A B C D }

type Item {
  id: ID!
  sku: String! UNIQUE
  category: String! INDEX
  value: Int INDEX
  kind: Kind
}

type KindCount { kind: Kind  count: Int! }

type Query {
  items(q: String, limit: Int): [Item!]! @maxRows(n: 1000)
  itemCount(q: String): Int!
  itemStats(q: String): [KindCount!]!
}
"""
CATEGORIES = 1000


def plans(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, root field, plan) for a table of ``n`` rows."""
    return [
        ("find by category (1 in 1,000), first 100", "items",
         {"steps": [{"op": "find", "model": "Item", "where": {"category": {"eq": "c-0421"}}, "limit": 100}]}),
        ("find one by sku (@unique)", "items",
         {"steps": [{"op": "find", "model": "Item", "where": {"sku": {"eq": f"sku-{n // 2 + 7:07d}"}}}]}),
        ("count in a category", "itemCount",
         {"steps": [{"op": "aggregate", "model": "Item", "where": {"category": {"eq": "c-0421"}},
                     "aggregates": [{"fn": "count", "as": "n"}]}]}),
        ("count and sum over a value range (0.1%)", "itemCount",
         {"steps": [{"op": "aggregate", "model": "Item",
                     "where": {"and": [{"value": {"gte": 500_000}}, {"value": {"lt": 501_000}}]},
                     "aggregates": [{"fn": "count", "as": "n"}, {"fn": "sum", "field": "value", "as": "s"}]}]}),
        ("count per kind (whole table)", "itemStats",
         {"steps": [{"op": "aggregate", "model": "Item", "groupBy": ["kind"],
                     "aggregates": [{"fn": "count", "as": "count"}]}]}),
    ]


def sdl(indexed: bool) -> str:
    return SDL.replace("UNIQUE", "@unique" if indexed else "").replace("INDEX", "@index" if indexed else "")


def rows(n: int) -> list[tuple[Any, ...]]:
    rnd = random.Random(1)
    kinds = "ABCD"
    return [(f"i{i}", f"sku-{i:07d}", f"c-{rnd.randrange(CATEGORIES):04d}", rnd.randrange(1_000_000),
             kinds[rnd.randrange(4)], i + 1) for i in range(n)]


def bulk_insert(gw: Gateway, data: list[tuple[Any, ...]]) -> float:
    t0 = time.perf_counter()
    raw = gw.engine.raw_connection()
    try:
        if gw.engine.dialect.name == "sqlite":
            cur = raw.cursor()
            cur.execute("BEGIN")
            cur.executemany('INSERT INTO "Item" (id, sku, category, value, kind, _gateway_created) VALUES (?, ?, ?, ?, ?, ?)', data)
            cur.execute("COMMIT")
            cur.execute('ANALYZE "Item"')
        else:
            pg = raw.driver_connection
            with pg.cursor() as cur:
                with cur.copy('COPY "Item" (id, sku, category, value, kind, _gateway_created) FROM STDIN') as copy:
                    for r in data:
                        copy.write_row(r)
            pg.commit()
            pg.autocommit = True
            pg.execute('VACUUM ANALYZE "Item"')
            pg.autocommit = False
    finally:
        raw.close()
    return time.perf_counter() - t0


def run_plans(gw: Gateway, n: int, repeat: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for label, field, data in plans(n):
        root = gw.catalog.root("query", field)
        plan = validate_plan(gw.catalog, Plan.model_validate({**data, "result": 0}), root)
        times, result = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = gw.executor.run(plan)
            times.append((time.perf_counter() - t0) * 1000)
        out[label] = {"median_ms": median(times), "min_ms": min(times), "records": len(result or [])}
    return out


def explain(gw: Gateway) -> str:
    """The store's plan for the category lookup, to show whether the index is used."""
    with gw.engine.connect() as conn:
        if gw.engine.dialect.name == "sqlite":
            rows_ = conn.exec_driver_sql("EXPLAIN QUERY PLAN SELECT * FROM \"Item\" WHERE category = 'c-0421'").all()
            return "; ".join(str(r[-1]) for r in rows_)
        rows_ = conn.exec_driver_sql("EXPLAIN SELECT * FROM \"Item\" WHERE category = 'c-0421'").all()
        return rows_[0][0].strip()


def bench_store(name: str, url: str, data: list[tuple[Any, ...]], repeat: int, tmp: Path) -> dict[str, Any]:
    plain, indexed = tmp / f"{name}-plain.graphql", tmp / f"{name}-indexed.graphql"
    plain.write_text(sdl(False), encoding="utf-8")
    indexed.write_text(sdl(True), encoding="utf-8")
    gw = Gateway(Settings(schema=str(plain), db=url, plan_cache=False))
    insert_s = bulk_insert(gw, data)
    print(f"  {name}: inserted {len(data):,} rows in {insert_s:.1f}s", flush=True)
    without = run_plans(gw, len(data), repeat)
    explain_without = explain(gw)
    gw.close()
    t0 = time.perf_counter()
    gw = Gateway(Settings(schema=str(indexed), db=url, plan_cache=False))
    migrate_s = time.perf_counter() - t0
    print(f"  {name}: migrated {gw.migrations} in {migrate_s:.1f}s", flush=True)
    if gw.engine.dialect.name == "sqlite":
        with gw.engine.connect() as conn:
            conn.exec_driver_sql('ANALYZE "Item"')
    else:
        with gw.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql('ANALYZE "Item"')
    with_ = run_plans(gw, len(data), repeat)
    explain_with = explain(gw)
    gw.close()
    return {"store": name, "rows": len(data), "bulk_insert_s": insert_s, "index_migration_s": migrate_s,
            "migrations": gw.migrations, "without_index": without, "with_index": with_,
            "explain_category_without": explain_without, "explain_category_with": explain_with}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    started = time.perf_counter()
    data = rows(args.rows)
    tmp = Path(tempfile.mkdtemp(prefix="gw-scale-"))
    stores = [("SQLite", f"sqlite:///{tmp / 'scale.db'}")]
    pg_name = f"gw_bench_scale_{os.getpid()}"
    if not args.no_pg and pg_available():
        stores.append(("PostgreSQL", pg_database(pg_name)))
    elif not args.no_pg:
        print("PostgreSQL not reachable: SQLite only")
    results = []
    try:
        for name, url in stores:
            results.append(bench_store(name, url, data, args.repeat, tmp))
    finally:
        if len(stores) > 1:
            pg_drop(pg_name)
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    res = {"rows": args.rows, "repeat": args.repeat, "path": "gateway executor (plan -> SQL), no HTTP",
           "stores": results, "total_s": time.perf_counter() - started}
    lines = []
    for r in results:
        for label in r["without_index"]:
            a, b = r["without_index"][label], r["with_index"][label]
            lines.append([r["store"], label, a["records"], a["median_ms"], b["median_ms"],
                          f"{a['median_ms'] / b['median_ms']:,.1f}x"])
    print(f"\n{args.rows:,} rows; median of {args.repeat} runs through the executor\n")
    print(table(["store", "plan", "records", "no index ms", "@index ms", "speed-up"], lines))
    print()
    print(table(["store", "bulk insert s", "index migration s", "category lookup without", "with"],
                [[r["store"], r["bulk_insert_s"], r["index_migration_s"], r["explain_category_without"],
                  r["explain_category_with"]] for r in results]))
    print(f"\ntotal {res['total_s']:.0f}s; wrote {write_result('scale', res)}")


if __name__ == "__main__":
    main()
