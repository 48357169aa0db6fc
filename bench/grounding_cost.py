"""Grounding's cost vs. data size: SQL statements, hint lines, prompt tokens and probe time.

A library store (books, a tenth as many authors) grows from 100 to 100,000 books on SQLite and,
when reachable, PostgreSQL. For each size the same five requests are grounded
(``gateway.grounding.ground`` with the default caps, as the gateway calls it before planning):
SELECT statements are counted with an engine event, and the store's own count of the work they
did (PostgreSQL buffers touched, SQLite virtual-machine steps: figures that load on a shared
machine does not move) is taken by running them again; the hints' lines and the whole prompt
(``build_messages`` with the hints) are counted in Mistral Tekken tokens, and the probe time is
the median of 5 runs. One request matches nothing. The price is paid on writes: each size is
also loaded into a store without the value index, and the load times (the triggers' cost) and
the one-time fill when a gateway starts on that store with grounding on are reported.

    .venv/bin/python bench/grounding_cost.py [--sizes 100,1000,10000,100000] [--no-pg]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import median, pg_available, pg_database, pg_drop, table, write_result
from sqlalchemy import event

from gateway import Gateway, Settings
from gateway.grounding import GroundingLimits, format_hints, ground  # internal: grounding is what this measures
from gateway.prompt import build_messages  # internal: the prompt grounding grows is measured
from gateway.store.tables import CREATED_COLUMN  # internal: bulk-loaded rows need it

SCHEMA = """
enum Status { AVAILABLE CHECKED_OUT LOST }
enum Genre { SCIENCE_FICTION FANTASY HISTORY MYSTERY }
type Author { id: ID! name: String! @index bio: String books: [Book!]! }
type Book { id: ID! title: String! @index summary: String status: Status! genre: Genre year: Int author: Author }
type Query { books(q: String): [Book!]! }
"""
REQUESTS = [
    "books by Le Guin that are checked out",
    "science fiction books by Frank Herbert",
    "how many books called 'Dune'",
    "books whose title mentions winter",
    "books about submarines",  # matches nothing: every probe reads its whole column
]
WORDS = ["winter", "river", "glass", "night", "garden", "stone", "empire", "shadow", "harbor", "letters"]


def library(books: int, seed: int = 11) -> dict[str, list[dict[str, Any]]]:
    rnd = random.Random(seed)
    n_authors = max(2, books // 10)
    authors = [
        {"id": "a0", "name": "Ursula K. Le Guin", "bio": "Wrote Earthsea"},
        {"id": "a1", "name": "Frank Herbert", "bio": "Wrote Dune"},
    ]
    authors += [
        {"id": f"a{i}", "name": f"Author {i} {rnd.choice(WORDS).title()}", "bio": f"Bio {i}"}
        for i in range(2, n_authors)
    ]
    rows = [
        {
            "id": "b0",
            "title": "Dune",
            "summary": "Desert planet",
            "status": "AVAILABLE",
            "genre": "SCIENCE_FICTION",
            "year": 1965,
            "author": "a1",
        }
    ]
    rows += [
        {
            "id": f"b{i}",
            "title": f"The {rnd.choice(WORDS)} of {rnd.choice(WORDS)} {i}",
            "summary": f"Summary {i} {rnd.choice(WORDS)}",
            "status": rnd.choice(["AVAILABLE", "CHECKED_OUT"]),
            "genre": rnd.choice(["FANTASY", "HISTORY", "MYSTERY"]),
            "year": 1900 + i % 120,
            "author": f"a{rnd.randrange(n_authors)}",
        }
        for i in range(1, books)
    ]
    return {"Author": authors, "Book": rows}


def tokenizer() -> Callable[[str], int]:
    import mistral_common
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    tk = Tekkenizer.from_file(str(Path(mistral_common.__file__).parent / "data" / "tekken_240911.json"))
    return lambda text: len(tk.encode(text, bos=False, eos=False))


def load(gw: Gateway, data: dict[str, list[dict[str, Any]]]) -> None:
    with gw.engine.begin() as conn:
        for name in ("Author", "Book"):
            rows = data[name]
            rows = [{**r, CREATED_COLUMN: n} for n, r in enumerate(rows, 1)]
            for i in range(0, len(rows), 5000):
                conn.execute(gw.tables.table(name).insert(), rows[i : i + 5000])


def build(fresh_db: Callable[[str], str], schema: Path, books: int) -> tuple[str, dict[str, float]]:
    """Load the library twice: with the value index kept by triggers, and without it (then
    start a gateway with grounding on, which fills the index once). Returns the first store."""
    data = library(books)
    costs: dict[str, float] = {}
    for label, probes in (("without index", 0), ("with index", 12)):
        db = fresh_db(label)
        gw = Gateway(Settings(schema=str(schema), db=db, plan_cache=False, grounding_probes=probes))
        t0 = time.perf_counter()
        load(gw, data)
        costs[f"load s, {label}"] = round(time.perf_counter() - t0, 2)
        gw.close()
        if probes == 0:
            t0 = time.perf_counter()
            Gateway(Settings(schema=str(schema), db=db, plan_cache=False)).close()
            costs["start with fill s"] = round(time.perf_counter() - t0, 2)
    if not db.startswith("sqlite"):
        from sqlalchemy import create_engine

        with create_engine(db, isolation_level="AUTOCOMMIT").connect() as conn:  # what autovacuum soon does
            conn.exec_driver_sql("VACUUM ANALYZE")
    return db, costs


def work(gw: Gateway, statements: list[tuple[str, Any]]) -> int:
    """The store's own count of the work the probes did, which load on the machine does not move:
    PostgreSQL's buffers touched (EXPLAIN ANALYZE BUFFERS), SQLite's virtual-machine steps."""
    total = 0
    with gw.engine.connect() as conn:
        if gw.engine.dialect.name == "sqlite":
            raw = conn.connection.driver_connection
            steps = [0]

            def tick() -> int:
                steps[0] += 1
                return 0

            raw.set_progress_handler(tick, 1)
            try:
                for statement, params in statements:
                    raw.execute(statement, params).fetchall()
            finally:
                raw.set_progress_handler(None, 1)
            return steps[0]
        for statement, params in statements:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params).scalar()
            node = plan[0]["Plan"]
            total += node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
    return total


def measure(db: str, schema: Path, count: Callable[[str], int]) -> list[dict[str, Any]]:
    gw = Gateway(Settings(schema=str(schema), db=db, plan_cache=False))
    root = gw.catalog.root("query", "books")
    limits = GroundingLimits()
    seen: list[tuple[str, Any]] = []

    def on_execute(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    out = []
    for request in REQUESTS:
        ground(gw.catalog, gw.engine, root, request, (), limits)  # warm the page cache
        times = []
        for _ in range(5):
            event.listen(gw.engine, "before_cursor_execute", on_execute)
            seen.clear()
            t0 = time.perf_counter()
            matches = ground(gw.catalog, gw.engine, root, request, (), limits)
            times.append((time.perf_counter() - t0) * 1000)
            event.remove(gw.engine, "before_cursor_execute", on_execute)
        hints = format_hints(matches, limits.value_chars)
        messages = build_messages(gw.catalog, root, request, "id title", {}, grounding=hints)
        out.append(
            {
                "request": request,
                "statements": len(seen),
                "work": work(gw, list(seen)),
                "hints": len(matches),
                "hint_tokens": count(hints),
                "prompt_tokens": sum(count(m["content"]) for m in messages),
                "probe_ms": round(median(times), 2),
                "hint_text": hints,
            }
        )
    gw.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,1000,10000,100000")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    count = tokenizer()
    tmp = Path(tempfile.mkdtemp(prefix="gw-ground-"))
    schema = tmp / "library.graphql"
    schema.write_text(SCHEMA, encoding="utf-8")
    stores = ["sqlite"] + ([] if args.no_pg or not pg_available() else ["postgresql"])
    results: list[dict[str, Any]] = []
    writes: list[dict[str, Any]] = []
    for store in stores:
        for books in (int(s) for s in args.sizes.split(",")):
            names: list[str] = []

            def fresh_db(label: str, store: str = store, books: int = books, names: list[str] = names) -> str:
                if store == "sqlite":
                    return f"sqlite:///{tmp / ('lib{}-{}.db'.format(books, label.replace(' ', '-')))}"
                names.append(f"gw_ground_{books}_{len(names)}")
                return pg_database(names[-1])

            try:
                db, costs = build(fresh_db, schema, books)
                rows = measure(db, schema, count)
            finally:
                for name in names:
                    pg_drop(name)
            writes.append({"store": store, "books": books, **costs})
            results += [{"store": store, "books": books, **r} for r in rows]
            print(f"{store} {books:,} books done", flush=True)
    print(
        table(
            [
                "store",
                "books",
                "request",
                "SQL statements",
                "store work",
                "hint lines",
                "hint tokens",
                "prompt tokens",
                "probe ms (median of 5)",
            ],
            [
                [
                    r["store"],
                    r["books"],
                    r["request"],
                    r["statements"],
                    r["work"],
                    r["hints"],
                    r["hint_tokens"],
                    r["prompt_tokens"],
                    r["probe_ms"],
                ]
                for r in results
            ],
        )
    )
    print("store work: SQLite virtual-machine steps, PostgreSQL shared buffers touched, for all the probes")
    print()
    print(
        table(
            ["store", "books", "load s, without index", "load s, with index", "start with fill s"],
            [
                [w["store"], w["books"], w["load s, without index"], w["load s, with index"], w["start with fill s"]]
                for w in writes
            ],
        )
    )
    print("\nhints at the largest size:")
    for r in results:
        if r["books"] == max(x["books"] for x in results) and r["store"] == "sqlite":
            print(f"{r['request']!r}:{r['hint_text']}")
    print(f"wrote {write_result('grounding_cost', {'requests': REQUESTS, 'results': results, 'writes': writes})}")


if __name__ == "__main__":
    main()
