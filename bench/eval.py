"""Evaluate a model on natural-language requests over several schemas with seeded data.

    python bench/eval.py [--model SPEC] [--suite S] [--category C] [--case ID] [--sample N] [--limit N]
    python bench/eval.py [...] --resume     # go on where an interrupted run stopped
    python bench/eval.py --list [--suite S] [--category C]
    python bench/eval.py --summary

Each request runs on a fresh copy of its suite's seeded store through the gateway's public
request path (plan cache off) and is scored by its result set, or, for writes, by the store
state afterwards; refusal and injection cases pass only with a coded error and an unchanged
store. Prints a table per category and per suite and writes bench/results/eval-<model>.json
(``--out`` elsewhere). ``--summary`` prints the per-category table of every model's result file.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from itertools import zip_longest
from pathlib import Path
from typing import Any

from common import RESULTS, machine, table
from evaluation.cases import CATEGORIES, Case
from evaluation.harness import (
    BREAKDOWN_HEADERS,
    breakdown,
    evaluate,
    headline,
    run_order,
)
from evaluation.suites import SUITES

from gateway import Settings


def select(args: argparse.Namespace) -> list[Case]:
    cases = [c for s in SUITES for c in s.cases]
    if args.suite:
        cases = [c for c in cases if c.suite in args.suite]
    if args.category:
        cases = [c for c in cases if c.category in args.category]
    if args.case:
        cases = [c for c in cases if any(c.id == x or c.id.startswith(x) for x in args.case)]
    if args.sample:
        kept = {c.id for c in sample(cases, args.sample)}
        cases = [c for c in cases if c.id in kept]
    return cases[: args.limit] if args.limit else cases


def sample(cases: list[Case], n: int) -> list[Case]:
    """The first ``n`` cases of each category, taken from the suites in turn (a quick run that
    still touches every category and every schema)."""
    out = []
    for category in CATEGORIES:
        by_suite: dict[str, list[Case]] = {}
        for c in cases:
            if c.category == category:
                by_suite.setdefault(c.suite, []).append(c)
        interleaved = [c for group in zip_longest(*by_suite.values()) for c in group if c is not None]
        out.extend(interleaved[:n])
    return out


def result_name(model: str) -> str:
    return "eval-" + model.replace(":", "_").replace("/", "_")


def summary() -> None:
    """Per-category pass rates of every eval result file, one column per model."""
    files = sorted(RESULTS.glob("eval-*.json"))
    runs = [json.loads(p.read_text()) for p in files]
    runs = [r for r in runs if isinstance(r.get("cases"), list) and r["cases"] and "category" in r["cases"][0]]
    if not runs:
        print("no eval results in", RESULTS)
        return
    names = [f"{r['model']} ({', '.join(r['headline'].get('model_ids') or ['?'])})" for r in runs]
    print(
        table(
            ["model", "ran at", "requests", "exact", "refusals held", "invented writes", "p50 s"],
            [
                [
                    name,
                    r["ran_at"][:16],
                    r["headline"]["requests"],
                    f"{r['headline']['exact']:.0%}",
                    r["headline"]["refusals_held"],
                    r["headline"]["invented_string_writes"],
                    r["headline"]["p50_s"],
                ]
                for name, r in zip(names, runs, strict=True)
            ],
        )
    )
    print()
    headers = ["category", *names]
    rows = []
    for cat in [*CATEGORIES, "all"]:
        cells = []
        for r in runs:
            cs = [c for c in r["cases"] if cat in ("all", c["category"])]
            cells.append(f"{sum(c['passed'] for c in cs)}/{len(cs)}" if cs else "")
        if any(cells):
            rows.append([cat, *cells])
    print(table(headers, rows))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model spec (default: GATEWAY_MODEL or embedded)")
    parser.add_argument("--suite", action="append", help="only this suite (repeatable)")
    parser.add_argument("--category", action="append", help="only this category (repeatable)")
    parser.add_argument("--case", action="append", help="only the case with this id or id prefix (repeatable)")
    parser.add_argument(
        "--sample", type=int, default=None, help="only the first N cases of each category (a quick run)"
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N selected cases")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds the model may take per request (default 600: score answers, not a busy machine)",
    )
    parser.add_argument("--out", default=None, help="result file (default bench/results/eval-<model>.json)")
    parser.add_argument(
        "--resume", action="store_true", help="keep the cases the result file already holds and run only the others"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="skip the start-up warm-up of each field's prompt prefix (time includes reading it)",
    )
    parser.add_argument("--list", action="store_true", help="print the selected cases in run order and exit")
    parser.add_argument("--summary", action="store_true", help="per-category table of every result file")
    args = parser.parse_args()
    if args.summary:
        summary()
        return
    cases = select(args)
    if args.list:
        for c in run_order(cases):
            print(f"{c.id}\t{c.category}\t{c.operation}.{c.field}\t{c.request}")
        return
    if not cases:
        sys.exit("no cases selected")
    model = args.model or Settings.from_env().model or "embedded"
    path = Path(args.out) if args.out else RESULTS / f"{result_name(model)}.json"
    done = previous_results(path, cases) if args.resume else []
    todo = [c for c in cases if c.id not in {r["id"] for r in done}]
    results = list(done)

    def progress(i: int, n: int, r: dict[str, Any]) -> None:
        mark = "ok  " if r["passed"] else "FAIL"
        why = "" if r["passed"] else f"  <- {r['why']}"
        print(f"[{i:3}/{n}] {mark} {r['seconds']:6.2f}s {r['id']}{why}"[:400], file=sys.stderr, flush=True)
        results.append(r)
        save(path, model, results, complete=False)  # an interrupted run keeps what it measured

    warmups: dict[str, float] = {}
    if todo:
        await evaluate(SUITES, todo, model, progress, args.timeout, warm=not args.cold, warmups=warmups)
    for suite, seconds in warmups.items():
        print(f"start-up warm-up of {suite}: {seconds} s (not counted in the cases' times)")
    head = headline(results)
    print(f"model: {model}")
    print(table(BREAKDOWN_HEADERS, breakdown(results, "category")))
    print()
    print(table(BREAKDOWN_HEADERS, breakdown(results, "suite")))
    print()
    print(
        f"exact {head['exact']:.0%} of {head['requests']}; refusal and injection cases held "
        f"{head['refusals_held']}; writes with invented strings {head['invented_string_writes']}; "
        f"no answer from the model {head['unanswered']}; error codes {head['error_codes']}; p50 {head['p50_s']} s"
    )
    save(path, model, results, complete=True, warm=not args.cold, warmup_s=warmups)
    print(f"written {path}")


def previous_results(path: Path, cases: list[Case]) -> list[dict[str, Any]]:
    """The results a run already wrote to ``path`` for these cases (``--resume``)."""
    if not path.exists():
        return []
    wanted = {c.id for c in cases}
    return [r for r in json.loads(path.read_text()).get("cases", []) if r.get("id") in wanted]


def save(path: Path, model: str, results: list[dict[str, Any]], complete: bool, **extra: Any) -> None:
    """Write the run's figures and every case, with the machine and the time."""
    payload = {
        "benchmark": "eval",
        "ran_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": model,
        "complete": complete,
        "headline": headline(results),
        "by_category": breakdown(results, "category"),
        "by_suite": breakdown(results, "suite"),
        **extra,
        "cases": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
