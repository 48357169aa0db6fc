"""Time to first byte of a page mixing a cached field and a model field, with and without @defer.

Issue 13's target: "for a page mixing a cached field and a model field, time to first byte
equal to the cached field alone". A real uvicorn server on 127.0.0.1 (in a thread) serves the
demo schema on a seeded SQLite file; a real HTTP client asks, in alternating rounds,

  (a) the cached page alone: a listing (``projects``) and a ``q`` field whose plan is in the
      warm plan cache;
  (b) the same page plus a model-resolved ``taskCount(q: ...)`` under ``@defer``, over
      ``multipart/mixed`` as Apollo Client and urql ask for it;
  (c) the same page with that model field inline (no ``@defer``), for contrast;
  (d) the cached page alone, its document text new every round (a comment), to show what of
      the gap between (b) and (a) is checking a new document (parse and validation are kept
      per document text, and (b)'s text is new every round);
  (e) the cached page plus a *cached* ``taskCount`` under ``@defer``, to show what of that gap
      is the multipart response itself rather than starting the model's field.

The deferred field's ``q`` text is new on every round (and its plan lists no parameters, so no
template covers it), so the model really is asked each time; the run counts the calls.

The model is simulated: a scripted provider at the provider boundary that answers after a fixed
delay (``--delay``). TTFB is about what the gateway sends before the model has answered, not
about the model, and a real model on this 2-core machine would make the delay (and the load on
the server) vary from round to round.

Time to first byte is from sending the request to the first chunk of the response body; for a
multipart response the time to its first complete part (the initial payload) is recorded too.

    .venv/bin/python bench/defer_ttfb.py [--rounds 30] [--delay 1.5] [--tasks 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from common import DEMO_SCHEMA, median, percentile, table, tracker_seed, write_result

from gateway import Completion, Gateway, ScriptedProvider, Settings, create_app, import_records

CACHED_Q = "tasks tagged urgent"
CACHED_PLAN = {
    "steps": [
        {
            "op": "find",
            "model": "Task",
            "where": {"tags": {"name": {"eq": "urgent"}}},
            "orderBy": [{"field": "id", "direction": "asc"}],
        }
    ],
    "result": 0,
    "params": {},
}
COUNT_PLAN = {
    "steps": [{"op": "aggregate", "model": "Task", "aggregates": [{"fn": "count", "as": "n"}]}],
    "result": 0,
    "params": {},
}
CACHED_PAGE = '{ projects { name } tasks(q: "%s") { id title status } }' % CACHED_Q
HEADERS = {"accept": "multipart/mixed;incrementalSpec=v0.2, application/json"}


def model_field(i: int) -> str:
    """A request text no earlier round asked, so its plan is not in the cache."""
    return f'taskCount(q: "how many tasks are there, count number {i}")'


def fresh_cached_page(i: int) -> str:
    return "# round %d\n%s" % (i, CACHED_PAGE)


WARM_COUNT = 'taskCount(q: "how many tasks are there in all")'
DEFERRED_CACHED_PAGE = CACHED_PAGE[:-1] + '... @defer(label: "cached") { %s } }' % WARM_COUNT


def deferred_page(i: int) -> str:
    return CACHED_PAGE[:-1] + '... @defer(label: "model") { %s } }' % model_field(i)


def inline_page(i: int) -> str:
    return CACHED_PAGE[:-1] + model_field(i) + " }"


class SlowModel(ScriptedProvider):
    """The scripted model, answering after ``delay`` seconds (an asyncio sleep: no CPU)."""

    def __init__(self, delay: float) -> None:
        super().__init__([])
        self.delay = delay

    async def complete(self, messages: Any, json_schema: Any) -> Completion:
        await asyncio.sleep(self.delay)
        asked = [m["content"] for m in messages if m["role"] == "user" and "<<<" in m["content"]]
        if asked and CACHED_Q in asked[-1]:
            self.route(CACHED_Q, CACHED_PLAN)
        else:
            self.push(COUNT_PLAN)
        return await super().complete(messages, json_schema)


class Server:
    """uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, gateway: Gateway) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}/graphql"
        config = uvicorn.Config(create_app(gateway), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Timing:
    """Times of one kind of request, in ms."""

    def __init__(self) -> None:
        self.first_byte: list[float] = []
        self.first_part: list[float] = []
        self.total: list[float] = []
        self.errors: list[str] = []

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": len(self.first_byte), "errors": len(self.errors), "first_errors": self.errors[:3]}
        for name, values in (("ttfb", self.first_byte), ("first_part", self.first_part), ("total", self.total)):
            out[f"{name}_p50_ms"] = median(values)
            out[f"{name}_p95_ms"] = percentile(values, 95)
        return out


def fetch(client: httpx.Client, url: str, query: str, timing: Timing, expect: set[str]) -> None:
    """One request: time to the first body chunk, to the first whole payload, and to the end."""
    t0 = time.perf_counter()
    first_byte = first_part = None
    body = b""
    with client.stream("POST", url, json={"query": query}, headers=HEADERS) as response:
        multipart = response.headers["content-type"].startswith("multipart/mixed")
        for chunk in response.iter_raw():
            if first_byte is None:
                first_byte = time.perf_counter()
            body += chunk
            if first_part is None and (not multipart or b"\r\n---" in body.split(b"\r\n\r\n", 1)[-1]):
                first_part = time.perf_counter()
    end = time.perf_counter()
    payloads = _payloads(body, multipart)
    fields = set(payloads[0].get("data") or {}) | {
        k for p in payloads[1:] for inc in p.get("incremental", []) for k in inc.get("data", {})
    }
    problem = None
    if response.status_code != 200 or any("errors" in p for p in payloads):
        problem = f"{response.status_code} {body[:300]!r}"
    elif fields != expect:
        problem = f"fields {sorted(fields)}, expected {sorted(expect)}"
    elif "taskCount" in expect and multipart and "taskCount" in (payloads[0].get("data") or {}):
        problem = "the deferred field came in the first part"
    if problem:
        timing.errors.append(problem)
        return
    assert first_byte is not None and first_part is not None
    timing.first_byte.append((first_byte - t0) * 1000)
    timing.first_part.append((first_part - t0) * 1000)
    timing.total.append((end - t0) * 1000)


def _payloads(body: bytes, multipart: bool) -> list[dict[str, Any]]:
    if not multipart:
        return [json.loads(body)]
    parts = []
    for piece in body.split(b"\r\n---"):
        _, sep, payload = piece.partition(b"\r\n\r\n")
        if sep and payload.strip().startswith(b"{"):
            parts.append(json.loads(payload))
    return parts


def run(rounds: int, delay: float, tasks: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gw-ttfb-"))
    model = SlowModel(delay)
    gw = Gateway(Settings(schema=str(DEMO_SCHEMA), db=f"sqlite:///{tmp / 'ttfb.db'}", plan_cache=True), provider=model)
    import_records(gw.executor, tracker_seed(tasks))
    cached, deferred, inline, fresh, deferred_cached = Timing(), Timing(), Timing(), Timing(), Timing()
    page_fields = {"projects", "tasks"}
    try:
        with Server(gw) as server, httpx.Client(timeout=60) as client:
            # warm-up: fill the plan cache for the cached field (one model call) and the connection
            warm = Timing()
            for _ in range(3):
                fetch(client, server.url, CACHED_PAGE, warm, page_fields)
                fetch(client, server.url, DEFERRED_CACHED_PAGE, warm, page_fields | {"taskCount"})
            if warm.errors:
                raise RuntimeError(f"warm-up failed: {warm.errors[0]}")
            calls_before = len(model.calls)
            for i in range(rounds):
                # alternate the order so drift in the machine's load hits every kind alike
                order = [
                    (CACHED_PAGE, cached, page_fields),
                    (deferred_page(2 * i), deferred, page_fields | {"taskCount"}),
                    (inline_page(2 * i + 1), inline, page_fields | {"taskCount"}),
                    (fresh_cached_page(i), fresh, page_fields),
                    (DEFERRED_CACHED_PAGE, deferred_cached, page_fields | {"taskCount"}),
                ]
                for query, timing, expect in order if i % 2 == 0 else reversed(order):
                    fetch(client, server.url, query, timing, expect)
            model_calls = len(model.calls) - calls_before
    finally:
        gw.close()
    res: dict[str, Any] = {
        "method": "uvicorn on 127.0.0.1 in a thread, httpx client in the main thread, one request at a time",
        "model": f"simulated: scripted provider answering after {delay} s (asyncio sleep)",
        "store": "sqlite",
        "tasks": tasks,
        "rounds": rounds,
        "delay_s": delay,
        "load_average": os.getloadavg(),
        "queries": {
            "cached": CACHED_PAGE,
            "deferred": deferred_page(0),
            "inline": inline_page(1),
            "cached_new_document": fresh_cached_page(0),
            "deferred_cached_field": DEFERRED_CACHED_PAGE,
        },
        "cached": cached.summary(),
        "deferred": deferred.summary(),
        "inline": inline.summary(),
        "cached_new_document": fresh.summary(),
        "deferred_cached_field": deferred_cached.summary(),
        "model_calls_during_measurement": model_calls,
        "model_calls_expected": 2 * rounds,
    }
    res["ratio_ttfb_p50_deferred_to_cached"] = res["deferred"]["ttfb_p50_ms"] / res["cached"]["ttfb_p50_ms"]
    res["ratio_ttfb_p95_deferred_to_cached"] = res["deferred"]["ttfb_p95_ms"] / res["cached"]["ttfb_p95_ms"]
    res["ratio_first_part_p50_deferred_to_cached"] = (
        res["deferred"]["first_part_p50_ms"] / res["cached"]["first_part_p50_ms"]
    )
    res["ratio_ttfb_p50_deferred_to_cached_new_document"] = (
        res["deferred"]["ttfb_p50_ms"] / res["cached_new_document"]["ttfb_p50_ms"]
    )
    res["ratio_ttfb_p50_deferred_to_deferred_cached_field"] = (
        res["deferred"]["ttfb_p50_ms"] / res["deferred_cached_field"]["ttfb_p50_ms"]
    )
    res["ratio_ttfb_p50_inline_to_cached"] = res["inline"]["ttfb_p50_ms"] / res["cached"]["ttfb_p50_ms"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30, help="requests of each kind, alternating")
    ap.add_argument("--delay", type=float, default=1.5, help="seconds the simulated model takes")
    ap.add_argument("--tasks", type=int, default=1000)
    args = ap.parse_args()
    res = run(args.rounds, args.delay, args.tasks)
    load = ", ".join(f"{x:.1f}" for x in res["load_average"])
    print(
        f"{res['method']}; SQLite, {res['tasks']} tasks; {res['rounds']} rounds; load average {load}\n"
        f"model {res['model']}: time to first byte is about what the gateway sends before the\n"
        "model answers, so a fixed, CPU-free delay keeps the model out of the figure\n"
    )
    rows = []
    for key, label in (
        ("cached", "(a) cached page alone (listing + warm q)"),
        ("deferred", "(b) page + model field under @defer (multipart)"),
        ("inline", "(c) page + model field inline (no @defer)"),
        ("cached_new_document", "(d) cached page alone, new document text each time"),
        ("deferred_cached_field", "(e) page + cached field under @defer (multipart)"),
    ):
        s = res[key]
        rows.append([label, s["ttfb_p50_ms"], s["ttfb_p95_ms"], s["first_part_p50_ms"], s["total_p50_ms"], s["errors"]])
    heads = ["request", "TTFB p50 ms", "TTFB p95 ms", "first part p50 ms", "whole response p50 ms", "errors"]
    print(table(heads, rows))
    print(
        f"\nratio (b)/(a) TTFB: p50 {res['ratio_ttfb_p50_deferred_to_cached']:.2f}x, "
        f"p95 {res['ratio_ttfb_p95_deferred_to_cached']:.2f}x; first part p50 "
        f"{res['ratio_first_part_p50_deferred_to_cached']:.2f}x; (c)/(a) p50 {res['ratio_ttfb_p50_inline_to_cached']:.1f}x; "
        f"(b)/(d) p50 {res['ratio_ttfb_p50_deferred_to_cached_new_document']:.2f}x; "
        f"(b)/(e) p50 {res['ratio_ttfb_p50_deferred_to_deferred_cached_field']:.2f}x"
    )
    print(
        f"model calls during measurement: {res['model_calls_during_measurement']} (expected {res['model_calls_expected']})"
    )
    for key in ("cached", "deferred", "inline", "cached_new_document", "deferred_cached_field"):
        for e in res[key]["first_errors"]:
            print(f"  {key}: {e}")
    print(f"wrote {write_result('defer_ttfb', res)}")


if __name__ == "__main__":
    main()
