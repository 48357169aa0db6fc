"""Shared bits of the benchmarks: the data they load, percentiles, tables and result files."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEMO_SCHEMA = ROOT / "schema.graphql"
PG_ADMIN_URL = os.environ.get("GATEWAY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GATEWAY_BENCH_REDIS", "redis://127.0.0.1:6379/0")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STATUSES = ["TODO", "IN_PROGRESS", "DONE"]
PRIORITIES = ["LOW", "MEDIUM", "HIGH"]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem_gib = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def tracker_seed(tasks: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """A task tracker of ``tasks`` tasks, with projects, people and tags scaled along (seed format)."""
    rnd = random.Random(seed)
    n_projects, n_people, n_tags = max(2, tasks // 100), max(2, tasks // 50), max(2, min(50, tasks // 20))
    projects = [
        {"id": f"p{i}", "name": "Website" if i == 0 else f"Project {i}", "description": f"Project number {i}"}
        for i in range(n_projects)
    ]
    people = [
        {"id": f"u{i}", "name": f"Person {i}", "email": f"person{i}@example.com", "role": "dev"}
        for i in range(n_people)
    ]
    tag_names = ["urgent", "home"] + [f"tag{i}" for i in range(2, n_tags)]
    tags = [{"id": f"g{i}", "name": n} for i, n in enumerate(tag_names)]
    task_rows = []
    for i in range(tasks):
        task_rows.append(
            {
                "id": f"t{i}",
                "title": f"Task {i}: {rnd.choice(['fix', 'write', 'review', 'ship'])} "
                f"{rnd.choice(['login', 'docs', 'billing', 'search'])}",
                "status": rnd.choice(STATUSES),
                "priority": rnd.choice(PRIORITIES),
                "estimate": rnd.randint(1, 8),
                "project": f"p{rnd.randrange(n_projects)}",
                "assignee": f"u{rnd.randrange(n_people)}",
                "tags": sorted({f"g{rnd.randrange(n_tags)}" for _ in range(2)}),
            }
        )
    return {"Project": projects, "Person": people, "Tag": tags, "Task": task_rows}


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table, so the same text goes to the terminal and to bench/README.md."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine and the time of the run."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "ran_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001
        return False


def pg_database(name: str) -> str:
    """Create a fresh PostgreSQL database; return its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"


def pg_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
