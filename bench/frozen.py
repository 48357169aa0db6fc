"""Frozen mode: start-up time, memory and latency of `gateway serve --frozen` vs. the model-backed server.

Three `gateway serve` processes on one SQLite file of 1,000 tasks, each started 3 times:
  frozen    `serve --frozen plans.lock.json` (the lock written by `gateway plans freeze`)
  embedded  `serve` with the embedded model, loaded at start-up as `serve` does
  cached    `serve --model scripted:...` with the plan cache warm (what a cache hit costs)
Start-up is the time from process start to the first 200 from /healthz; memory is the
process's resident set (VmRSS) and peak (VmHWM) then; "model in memory" is whether libllama
is mapped into the process. Latency: the same requests (exact and template hits) sent one at
a time to the frozen and the cached server in turn, so both see the same machine load.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import DEMO_SCHEMA, ROOT, median, percentile, table, tracker_seed, write_result

URGENT = {"steps": [{"op": "find", "model": "Task", "where": {"tags": {"name": {"eq": "urgent"}}}, "limit": 50}],
          "result": 0, "params": {"tag": "urgent"}}
DONE = {"steps": [{"op": "aggregate", "model": "Task", "where": {"status": {"eq": "DONE"}},
                   "aggregates": [{"fn": "count", "as": "count"}]}], "result": 0, "params": {}}
REQUESTS = [("tasks", "tasks tagged urgent", "id title status priority"),   # exact
            ("tasks", "tasks tagged home", "id title status priority"),     # template
            ("taskCount", "how many tasks are done", "")]                   # exact, aggregate
STARTS = 3
ROUNDS = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(folder: Path) -> tuple[str, Path, Path]:
    """A seeded store whose plan cache holds the requests' plans, its lock file, a scripted model file."""
    from gateway import Gateway, Settings, import_records
    from gateway.plan import Plan  # internal: the plan language itself is under test
    from gateway.validation import validate_plan  # internal: checks plans directly

    db = f"sqlite:///{folder / 'store.db'}"
    gw = Gateway(Settings(schema=str(DEMO_SCHEMA), db=db))
    import_records(gw.executor, tracker_seed(1000))
    assert gw.plan_cache is not None
    for field, request, plan in (("tasks", "tasks tagged urgent", URGENT), ("taskCount", "how many tasks are done", DONE)):
        root = gw.catalog.root("query", field)
        gw.plan_cache.remember(root, request, "", {}, validate_plan(gw.catalog, Plan.model_validate(plan), root))
    gw.close()
    lock = folder / "plans.lock.json"
    subprocess.run([sys.executable, "-m", "gateway.cli", "plans", "freeze", "--output", str(lock),
                    "--schema", str(DEMO_SCHEMA), "--db", db], check=True, capture_output=True, env=env())
    answers = folder / "answers.json"
    answers.write_text("[]", encoding="utf-8")
    return db, lock, answers


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def proc_status(pid: int) -> dict[str, Any]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # MiB
    maps = Path(f"/proc/{pid}/maps").read_text()
    fields["model"] = "libllama" in maps or ".gguf" in maps
    return fields


def start(args: list[str], db: str) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    started = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--schema", str(DEMO_SCHEMA), "--db", db,
                          "--port", str(port), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())
    deadline = time.time() + 300
    while True:
        if p.poll() is not None:
            raise RuntimeError(f"server exited: {p.stderr.read().decode() if p.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return p, port, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if time.time() > deadline:
            p.kill()
            raise RuntimeError("server did not start")
        time.sleep(0.02)


def stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def ask(client: httpx.Client, port: int, field: str, q: str, selection: str) -> tuple[float, dict[str, Any]]:
    sel = f" {{ {selection} }}" if selection else ""
    body = {"query": f"query Q($q: String!) {{ {field}(q: $q){sel} }}", "variables": {"q": q}}
    t = time.perf_counter()
    r = client.post(f"http://127.0.0.1:{port}/graphql", json=body)
    elapsed = (time.perf_counter() - t) * 1000
    data = r.json()
    assert "errors" not in data, data
    return elapsed, data


def main() -> None:
    rows: list[list[Any]] = []
    result: dict[str, Any] = {"starts": {}, "latency_ms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        db, lock, answers = prepare(Path(tmp))
        kinds = {"frozen": ["--frozen", str(lock)], "embedded": ["--model", "embedded"],
                 "cached": ["--model", f"scripted:{answers}"]}
        for name, args in kinds.items():
            runs = []
            for _ in range(STARTS):
                p, port, seconds = start(args, db)
                runs.append({"startup_s": seconds, **proc_status(p.pid)})
                stop(p)
            result["starts"][name] = runs
            rows.append([name, median([r["startup_s"] for r in runs]), median([r["VmRSS"] for r in runs]),
                         median([r["VmHWM"] for r in runs]), "yes" if runs[0]["model"] else "no"])
        print(table(["server", "start-up s (median of 3)", "RSS MiB", "peak RSS MiB", "model in memory"], rows))

        frozen, f_port, _ = start(kinds["frozen"], db)
        cached, c_port, _ = start(kinds["cached"], db)
        times: dict[str, list[float]] = {"frozen": [], "cached": []}
        sources: dict[str, set[str]] = {"frozen": set(), "cached": set()}
        try:
            with httpx.Client(timeout=30) as client:
                for i in range(len(REQUESTS)):  # warm both
                    ask(client, f_port, *REQUESTS[i])
                    ask(client, c_port, *REQUESTS[i])
                for i in range(ROUNDS):  # one request to each in turn, the order swapped every round
                    field, q, sel = REQUESTS[i % len(REQUESTS)]
                    for name, port in (("frozen", f_port), ("cached", c_port))[:: 1 if i % 2 == 0 else -1]:
                        ms, data = ask(client, port, field, q, sel)
                        times[name].append(ms)
                        sources[name].add(data["extensions"]["fields"][field]["source"])
        finally:
            stop(frozen)
            stop(cached)
        lat_rows = [[n, median(v), percentile(v, 95), len(v), ", ".join(sorted(sources[n]))] for n, v in times.items()]
        print()
        print(table(["server", "p50 ms", "p95 ms", "requests", "source"], lat_rows))
        result["latency_ms"] = {n: {"p50": median(v), "p95": percentile(v, 95), "n": len(v)} for n, v in times.items()}
        result["ratio_p50_frozen_over_cached"] = median(times["frozen"]) / median(times["cached"])
        print(f"\nfrozen / cached p50: {result['ratio_p50_frozen_over_cached']:.3f}")
        result["lock_file_plans"] = len(json.loads(lock.read_text())["plans"])
    print(write_result("frozen", result))


if __name__ == "__main__":
    main()
