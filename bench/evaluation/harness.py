"""Run cases through the gateway's public request path and score them by results and store state.

Every case runs on a fresh copy of its suite's seeded SQLite store, with the plan cache off,
through the same call the HTTP server makes (:func:`execute`, the one place that names it).
The plan in ``extensions`` is kept in the report for reading failures, never for scoring.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gateway import Gateway, Provider, Settings, export_records, import_records
from gateway.llm import get_provider  # internal: one provider (one loaded model) shared by every case of a run

from .cases import CATEGORIES, Case, Suite
from .expect import UNANSWERED, Outcome
from .state import StoreShape


async def execute(gw: Gateway, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    """One GraphQL request through ``Gateway.execute``, the call every transport makes (HTTP,
    the CLI), as a caller without roles; returns the response body of the GraphQL spec."""
    result = await gw.execute(document, variables)
    return result.formatted()


class SuiteStore:
    """A suite's seeded template store, copied for each case."""

    def __init__(self, suite: Suite, workdir: Path, timeout_s: float | None = None) -> None:
        self.suite = suite
        self.workdir = workdir
        self.timeout_s = timeout_s
        self.template = workdir / f"{suite.name}.db"
        gw = Gateway(self._settings(self.template))
        try:
            import_records(gw.executor, suite.seed)
            with gw.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            self.shape = StoreShape(gw.catalog, suite.seed)
            # The comparison must be able to say "unchanged" of a store nobody touched.
            problem = self.shape.difference(suite.seed, export_records(gw.executor))
            if problem:
                raise RuntimeError(f"suite {suite.name}: the seeded store does not read back as its seed: {problem}")
        finally:
            gw.close()

    def _settings(self, db: Path, model: str | None = None) -> Settings:
        settings = Settings(schema=str(self.suite.schema), db=f"sqlite:///{db}", model=model, plan_cache=False)
        if self.timeout_s is not None:
            settings.model_timeout_s = self.timeout_s
        return settings

    def fresh(self, provider: Provider, model: str) -> tuple[Gateway, Path]:
        db = self.workdir / "case.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.copy(self.template, db)
        return Gateway(self._settings(db, model), provider=provider), db


async def run_case(case: Case, store: SuiteStore, provider: Provider, model: str) -> dict[str, Any]:
    """Run one case on a fresh store and score it."""
    seed, shape = store.suite.seed, store.shape
    gw, db = store.fresh(provider, model)
    try:
        started = time.perf_counter()
        body = await execute(gw, case.document(), {"q": case.request})
        seconds = time.perf_counter() - started
        after = export_records(gw.executor)
    finally:
        gw.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    errors = body.get("errors") or []
    outcome = Outcome(
        result=(body.get("data") or {}).get(case.field),
        codes=[(e.get("extensions") or {}).get("code") for e in errors],
        messages=[str(e.get("message", "")) for e in errors],
        unchanged=shape.difference(seed, after) is None,
        matches_state=lambda expected: shape.difference(expected, after),
    )
    try:
        why = case.expect.check(outcome, seed)
    except Exception as e:  # noqa: BLE001 - a result of an unexpected shape is a wrong answer
        why = f"unscorable result: {type(e).__name__}: {e}"
    expected = case.expect.expected_state(seed)
    trace = ((body.get("extensions") or {}).get("fields") or {}).get(case.field, {})
    return {
        "id": case.id,
        "suite": case.suite,
        "category": case.category,
        "operation": case.operation,
        "field": case.field,
        "request": case.request,
        "passed": why is None,
        "why": why,
        "codes": outcome.codes,
        "messages": [m[:300] for m in outcome.messages[:2]],
        "seconds": round(seconds, 3),
        "unchanged": outcome.unchanged,
        "changes": shape.changes(seed, after),
        "invented": shape.invented_strings(seed, after, case.request, expected),
        "model": trace.get("model"),
        "source": trace.get("source"),
        "attempts": trace.get("attempts"),
        "tokens": trace.get("tokens"),
        "reading": trace.get("reading") or trace.get("summary"),
        "plan": trace.get("plan"),
    }


async def warm_up(store: SuiteStore, provider: Provider, model: str) -> float:
    """Read every field's prompt prefix of the suite into the model (``serve``'s start-up
    work); the seconds it took."""
    gw, _db = store.fresh(provider, model)
    forget = getattr(provider, "forget_prefixes", None)
    if forget is not None:  # a server serves one schema: the previous suite's prefixes go
        forget()
    try:
        started = time.perf_counter()
        await gw.warm_model()
        return round(time.perf_counter() - started, 2)
    finally:
        gw.close()


def run_order(cases: Iterable[Case]) -> list[Case]:
    """Cases grouped by suite and field, first appearance first: the embedded model reuses the
    prompt prefix of the previous request, so consecutive requests to one field are cheaper."""
    cases = list(cases)
    first: dict[tuple[str, str, str], int] = {}
    for i, c in enumerate(cases):
        first.setdefault((c.suite, c.operation, c.field), i)
    return sorted(cases, key=lambda c: first[(c.suite, c.operation, c.field)])


async def evaluate(
    suites: list[Suite],
    cases: list[Case],
    model: str,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    timeout_s: float | None = None,
    warm: bool = True,
    warmups: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Run ``cases`` (of ``suites``) with one provider for the whole run; results in run order.
    ``timeout_s`` replaces the gateway's model timeout (a busy machine should not score).
    ``warm`` first reads every field's prompt prefix, as ``gateway serve`` does at start-up, so a
    case's time is that of a first-time request to a running server; ``warmups`` gets the
    seconds that took per suite."""
    provider = get_provider(model)
    by_name = {s.name: s for s in suites}
    ordered = run_order(cases)
    results = []
    with tempfile.TemporaryDirectory(prefix="gateway-eval-") as tmp:
        stores: dict[str, SuiteStore] = {}
        for i, case in enumerate(ordered, 1):
            if case.suite not in stores:
                stores[case.suite] = SuiteStore(by_name[case.suite], Path(tmp), timeout_s)
                if warm:
                    seconds = await warm_up(stores[case.suite], provider, model)
                    if warmups is not None:
                        warmups[case.suite] = seconds
            result = await run_case(case, stores[case.suite], provider, model)
            results.append(result)
            if progress:
                progress(i, len(ordered), result)
    return results


# -- reporting --------------------------------------------------------------------------------
def _p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def headline(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures the targets speak of."""
    guarded = [r for r in results if r["category"] in ("refuse", "injection")]
    return {
        "requests": len(results),
        "model_ids": sorted({r["model"] for r in results if r.get("model")}),
        "exact": sum(r["passed"] for r in results) / max(1, len(results)),
        "refusals_held": f"{sum(r['passed'] for r in guarded)}/{len(guarded)}",
        "invented_string_writes": sum(1 for r in results if r["invented"]),
        "invented_strings": sorted({s for r in results for s in r["invented"]}),
        "unanswered": sum(1 for r in results if set(r["codes"]) & UNANSWERED),
        "error_codes": dict(Counter(code for r in results for code in set(r["codes"]))),
        "p50_s": round(_p50([r["seconds"] for r in results]), 2),
    }


def breakdown(results: list[dict[str, Any]], key: str) -> list[list[Any]]:
    """Rows of (group, requests, passed, share, invented writes, p50 s, mean s) by ``key``."""
    order = list(CATEGORIES) if key == "category" else sorted({r[key] for r in results})
    rows = []
    for group in [g for g in order if any(r[key] == g for r in results)] + ["all"]:
        rs = [r for r in results if group in ("all", r[key])]
        secs = [r["seconds"] for r in rs]
        rows.append(
            [
                group,
                len(rs),
                sum(r["passed"] for r in rs),
                f"{sum(r['passed'] for r in rs) / len(rs):.0%}",
                sum(1 for r in rs if r["invented"]),
                f"{_p50(secs):.2f}",
                f"{sum(secs) / len(secs):.2f}",
            ]
        )
    return rows


BREAKDOWN_HEADERS = ["", "requests", "passed", "share", "invented writes", "p50 s", "mean s"]
