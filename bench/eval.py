"""Evaluate a model on natural-language requests against the demo schema with seeded data.

    python bench/eval.py [--model embedded|mistral:mistral-large-latest|openai:NAME] [--only N]

Each request runs on a fresh copy of the seeded store through the real gateway (plan cache
off). Prints the share of exact results, the share of valid plans and the latency per
request, and writes bench/results/eval-<model>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from common import DEMO_SCHEMA, machine, table, write_result

from gateway.config import Settings
from gateway.seed import export_records, import_records
from gateway.service import Gateway

SEED = json.loads((Path(__file__).parent / "eval_seed.json").read_text())
Data = dict[str, list[dict[str, Any]]]


@dataclass
class Case:
    kind: str  # read | reference | order | count | insert | update | delete
    operation: str
    field: str
    request: str
    selection: str
    expect: Callable[[Any, Data], bool]


def titles(*names: str) -> Callable[[Any, Data], bool]:
    return lambda result, _: sorted(r["title"] for r in result) == sorted(names)


def titles_in_order(*names: str) -> Callable[[Any, Data], bool]:
    return lambda result, _: [r["title"] for r in result][:len(names)] == list(names)


def names(*wanted: str) -> Callable[[Any, Data], bool]:
    return lambda result, _: sorted(r["name"] for r in result) == sorted(wanted)


def equals(value: Any) -> Callable[[Any, Data], bool]:
    return lambda result, _: result == value


def task(data: Data, title: str) -> dict[str, Any] | None:
    return next((t for t in data["Task"] if t["title"].lower() == title.lower()), None)


def stored(check: Callable[[Data], bool]) -> Callable[[Any, Data], bool]:
    return lambda _result, data: check(data)


Q, M = "query", "mutation"
CASES = [
    Case("read", Q, "tasks", "all tasks that are done", "title", titles("Write release notes", "Update privacy policy", "Set up CI pipeline")),
    Case("read", Q, "tasks", "tasks still to do", "title", titles("Fix login bug", "Redesign onboarding", "Water the plants", "Dark mode", "Buy groceries")),
    Case("read", Q, "tasks", "high priority tasks", "title", titles("Fix login bug", "Push notifications", "Migrate database", "Set up CI pipeline")),
    Case("read", Q, "tasks", "tasks in progress", "title", titles("Push notifications", "Migrate database")),
    Case("read", Q, "tasks", "tasks with 'login' in the title", "title", titles("Fix login bug")),
    Case("read", Q, "tasks", "tasks estimated at more than 4 hours", "title", titles("Push notifications", "Redesign onboarding", "Migrate database", "Set up CI pipeline")),
    Case("read", Q, "tasks", "tasks estimated at 1 hour or less", "title", titles("Write release notes", "Water the plants", "Buy groceries")),
    Case("read", Q, "tasks", "low priority tasks that are not done", "title", titles("Water the plants", "Dark mode")),
    Case("read", Q, "tasks", "tasks without a project", "title", titles("Water the plants", "Buy groceries")),
    Case("read", Q, "tasks", "tasks due before December 2026", "title", titles("Fix login bug", "Write release notes", "Migrate database")),
    Case("read", Q, "task", "the task called Dark mode", "title", lambda r, _: r is not None and r["title"] == "Dark mode"),
    Case("read", Q, "people", "people who are engineers", "name", names("Ada Lovelace")),
    Case("read", Q, "projects", "archived projects", "name", names("Data platform")),
    Case("read", Q, "tags", "the tag named urgent", "name", names("urgent")),
    Case("reference", Q, "tasks", "tasks in the Website project", "title", titles("Fix login bug", "Write release notes", "Update privacy policy")),
    Case("reference", Q, "tasks", "tasks assigned to Ada Lovelace", "title", titles("Fix login bug", "Push notifications", "Migrate database")),
    Case("reference", Q, "tasks", "tasks tagged urgent", "title", titles("Fix login bug", "Migrate database", "Buy groceries")),
    Case("reference", Q, "tasks", "tasks tagged home", "title", titles("Water the plants", "Buy groceries")),
    Case("reference", Q, "tasks", "open tasks of the Mobile app project", "title", titles("Redesign onboarding", "Dark mode")),
    Case("reference", Q, "tasks", "tasks of people who are designers", "title", titles("Redesign onboarding", "Dark mode")),
    Case("reference", Q, "projects", "projects that have a high priority task", "name", names("Website", "Mobile app", "Data platform")),
    Case("reference", Q, "people", "people with a task tagged backend", "name", names("Ada Lovelace", "Linus Torvalds")),
    Case("order", Q, "tasks", "the 3 tasks with the biggest estimate", "title", titles_in_order("Migrate database", "Push notifications")),
    Case("order", Q, "tasks", "tasks ordered by due date, earliest first", "title dueDate", lambda r, _: [t["title"] for t in r if t["dueDate"]][:2] == ["Write release notes", "Fix login bug"]),
    Case("order", Q, "tasks", "the task with the smallest estimate", "title", lambda r, _: bool(r) and r[0]["title"] == "Water the plants"),
    Case("order", Q, "people", "people sorted by name", "name", lambda r, _: [p["name"] for p in r] == ["Ada Lovelace", "Grace Hopper", "Linus Torvalds"]),
    Case("count", Q, "taskCount", "how many tasks are there", "", equals(10)),
    Case("count", Q, "taskCount", "how many tasks are done", "", equals(3)),
    Case("count", Q, "taskCount", "number of high priority tasks", "", equals(4)),
    Case("count", Q, "taskCount", "how many tasks does Ada Lovelace have", "", equals(3)),
    Case("count", Q, "taskStats", "count of tasks per status", "status count", lambda r, _: sorted((x["status"], x["count"]) for x in r) == [("DONE", 3), ("IN_PROGRESS", 2), ("TODO", 5)]),
    Case("count", Q, "taskStats", "number of tasks by priority", "priority count", lambda r, _: sorted((x["priority"], x["count"]) for x in r) == [("HIGH", 4), ("LOW", 3), ("MEDIUM", 3)]),
    Case("insert", M, "tasks", "add a task 'Renew passport' with low priority", "title", stored(lambda d: (t := task(d, "Renew passport")) is not None and t.get("priority") == "LOW" and t["status"] == "TODO")),
    Case("insert", M, "tasks", "create a high priority task 'Fix checkout' in the Website project", "title", stored(lambda d: (t := task(d, "Fix checkout")) is not None and t.get("priority") == "HIGH" and t.get("project") == "p1")),
    Case("insert", M, "tasks", "add task 'Review designs' assigned to Grace Hopper", "title", stored(lambda d: (t := task(d, "Review designs")) is not None and t.get("assignee") == "u3")),
    Case("insert", M, "projects", "create a project called Billing", "name", stored(lambda d: any(p["name"] == "Billing" for p in d["Project"]))),
    Case("insert", M, "people", "add a person named Alan Turing with email alan@example.com", "name", stored(lambda d: any(p["name"] == "Alan Turing" and p.get("email") == "alan@example.com" for p in d["Person"]))),
    Case("insert", M, "tags", "add a tag called design", "name", stored(lambda d: any(t["name"] == "design" for t in d["Tag"]))),
    Case("update", M, "tasks", "mark 'Fix login bug' as done", "title status", stored(lambda d: task(d, "Fix login bug")["status"] == "DONE" and task(d, "Dark mode")["status"] == "TODO")),
    Case("update", M, "tasks", "set the priority of Dark mode to high", "title", stored(lambda d: task(d, "Dark mode")["priority"] == "HIGH")),
    Case("update", M, "tasks", "assign 'Water the plants' to Linus Torvalds", "title", stored(lambda d: task(d, "Water the plants").get("assignee") == "u2")),
    Case("update", M, "tasks", "move Dark mode to the Website project", "title", stored(lambda d: task(d, "Dark mode").get("project") == "p1")),
    Case("update", M, "tasks", "start working on Redesign onboarding (in progress)", "title", stored(lambda d: task(d, "Redesign onboarding")["status"] == "IN_PROGRESS")),
    Case("update", M, "projects", "archive the Mobile app project", "name", stored(lambda d: next(p for p in d["Project"] if p["name"] == "Mobile app").get("archived") is True)),
    Case("delete", M, "tasks", "delete the task Buy groceries", "title", stored(lambda d: task(d, "Buy groceries") is None and len(d["Task"]) == 9)),
    Case("delete", M, "tasks", "remove all tasks that are done", "title", stored(lambda d: len(d["Task"]) == 7 and all(t["status"] != "DONE" for t in d["Task"]))),
    Case("delete", M, "tags", "delete the home tag", "name", stored(lambda d: all(t["name"] != "home" for t in d["Tag"]) and len(d["Tag"]) == 3)),
]


async def run_case(case: Case, model: str, workdir: Path, template_db: Path) -> dict[str, Any]:
    db = workdir / "case.db"
    shutil.copy(template_db, db)
    gw = Gateway(Settings(schema=str(DEMO_SCHEMA), db=f"sqlite:///{db}", model=model, plan_cache=False))
    sel = f" {{ {case.selection} }}" if case.selection else ""
    doc = f'{case.operation} Eval($q: String!) {{ {case.field}(q: $q){sel} }}'
    started = time.perf_counter()
    body = (await gw.execute(doc, {"q": case.request})).formatted()
    elapsed = time.perf_counter() - started
    trace = (body.get("extensions") or {}).get("fields", {}).get(case.field, {})
    result = (body.get("data") or {}).get(case.field)
    errors = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
    valid = "plan" in trace and "PLAN_INVALID" not in errors
    try:
        exact = not errors and case.expect(result, export_records(gw.executor))
    except Exception:
        exact = False
    gw.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return {"kind": case.kind, "request": case.request, "valid_plan": valid, "exact": bool(exact),
            "errors": errors, "seconds": round(elapsed, 3), "attempts": trace.get("attempts"),
            "tokens": trace.get("tokens"), "plan": trace.get("plan")}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--model", default=None, help="model spec (default: GATEWAY_MODEL or embedded)")
    parser.add_argument("--only", type=int, default=None, help="run only the first N cases")
    args = parser.parse_args()
    model = args.model or Settings.from_env().model or "embedded"
    cases = CASES[: args.only] if args.only else CASES
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        template = workdir / "seed.db"
        seeded = Gateway(Settings(schema=str(DEMO_SCHEMA), db=f"sqlite:///{template}", plan_cache=False))
        import_records(seeded.executor, SEED)
        with seeded.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        seeded.close()
        results = []
        for i, case in enumerate(cases, 1):
            r = await run_case(case, model, workdir, template)
            results.append(r)
            mark = "ok " if r["exact"] else ("plan" if r["valid_plan"] else "bad")
            print(f"[{i:2}/{len(cases)}] {mark} {r['seconds']:6.2f}s  {case.request}", file=sys.stderr)
    kinds = sorted({r["kind"] for r in results})
    rows = []
    for kind in kinds + ["all"]:
        rs = [r for r in results if kind in ("all", r["kind"])]
        lat = sorted(r["seconds"] for r in rs)
        rows.append([kind, len(rs), f"{sum(r['exact'] for r in rs) / len(rs):.0%}",
                     f"{sum(r['valid_plan'] for r in rs) / len(rs):.0%}", f"{lat[len(lat) // 2]:.2f}",
                     f"{sum(lat) / len(lat):.2f}"])
    print(f"model: {model}")
    print(table(["kind", "requests", "exact", "valid plan", "p50 s", "mean s"], rows))
    path = write_result(f"eval-{model.replace(':', '_').replace('/', '_')}",
                        {"model": model, "machine": machine(), "cases": results,
                         "exact": sum(r["exact"] for r in results) / len(results),
                         "valid_plan": sum(r["valid_plan"] for r in results) / len(results)})
    print(f"written {path}")


if __name__ == "__main__":
    asyncio.run(main())
