"""Benchmark the embedded model: load time, first vs later call latency, peak memory.

    .venv/bin/python bench/embedded_bench.py [--n 6] [--alternate] [--ram-cache-mb 512]

Every call shares one fixed system prefix (the gateway's real system prompt for a root
field of schema.graphql, with the plan JSON Schema as the grammar) and varies only the short
user request, as in production. The first call evaluates the whole prompt; later calls reuse
the prefix's KV cache, so the gap between them is what the reuse saves. ``--alternate``
switches between two fields' prefixes on every call, the case where llama.cpp's own prefix
reuse misses and ``--ram-cache-mb`` (LlamaRAMCache) could help. Writes
bench/results/embedded.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.llm import embedded  # noqa: E402  # internal: the embedded provider is what this measures

REQUESTS = [
    "tasks that are in progress, highest priority first",
    "the five most recently due tasks assigned to Ada",
    "tasks tagged urgent in the Apollo project",
    "tasks whose title mentions invoice",
    "high priority tasks that are not done",
    "tasks due before 2025-01-01 with no assignee",
    "tasks in project Zeus estimated over 3 hours",
    "everything Grace is working on that is still todo",
]


def _gateway_prompt(field: str) -> tuple[str, list[dict[str, str]], dict[str, Any]] | None:
    """(label, messages for a placeholder request, plan schema) from the project's own code."""
    try:
        from gateway.plan_schema import plan_json_schema  # internal: a unit of the plan-schema stage
        from gateway.prompt import build_messages  # internal: a unit of the prompt stage
        from gateway.sdl import load_sdl  # internal: a unit of the SDL stage

        catalog = load_sdl(ROOT / "schema.graphql")
        root = catalog.root(*field.split("."))
        messages = build_messages(catalog, root, "{request}", "id title status", {})
        return field, messages, plan_json_schema(catalog, root)
    except Exception as exc:  # the gateway code is moving; fall back rather than fail
        print(f"(real prompt for {field} unavailable: {exc!r}; using a synthetic one)")
        return None


def _synthetic_prompt(label: str) -> tuple[str, list[dict[str, str]], dict[str, Any]]:
    system = (f"[{label}] You turn a request into a JSON plan for a task tracker. "
              + "Tasks have title, status (TODO, IN_PROGRESS, DONE), priority, dueDate, assignee. " * 40)
    schema = {
        "type": "object",
        "properties": {
            "model": {"enum": ["Task", "Person", "Project"]},
            "where": {"type": "object", "additionalProperties": {"type": "string"}},
            "limit": {"type": "integer"},
        },
        "required": ["model", "where"],
        "additionalProperties": False,
    }
    return label, [{"role": "system", "content": system}, {"role": "user", "content": "{request}"}], schema


def _with_request(messages: list[dict[str, str]], request: str) -> list[dict[str, str]]:
    return [{**m, "content": m["content"].replace("{request}", request)} for m in messages]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=6, help="calls to make")
    ap.add_argument("--model", default=None, help="a GGUF path (default: the verified default model)")
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--ram-cache-mb", type=int, default=0, help="enable LlamaRAMCache of this size")
    ap.add_argument("--alternate", action="store_true", help="alternate two different prefixes")
    ap.add_argument("--synthetic", action="store_true", help="do not use the gateway's own prompt")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "embedded.json"))
    args = ap.parse_args()

    fields = ["query.tasks", "mutation.tasks"] if args.alternate else ["query.tasks"]
    prompts = [(None if args.synthetic else _gateway_prompt(f)) or _synthetic_prompt(f) for f in fields]

    t0 = time.perf_counter()
    provider = embedded.EmbeddedProvider(args.model, max_tokens=args.max_tokens, n_threads=args.threads,
                                         ram_cache_mb=args.ram_cache_mb)
    path = provider._resolve_path()
    t_verify = time.perf_counter() - t0
    loaded = provider.load()
    t_load = time.perf_counter() - t0 - t_verify
    rss_after_load = _peak_rss_mb()

    grammar_ms = []
    for _, _, schema in prompts:
        g0 = time.perf_counter()
        loaded.grammar_for(schema)
        grammar_ms.append(round((time.perf_counter() - g0) * 1000, 1))

    calls: list[dict[str, Any]] = []
    for i in range(args.n):
        label, messages, schema = prompts[i % len(prompts)]
        request = REQUESTS[i % len(REQUESTS)]
        c0 = time.perf_counter()
        completion = asyncio.run(provider.complete(_with_request(messages, request), schema))
        wall_ms = (time.perf_counter() - c0) * 1000
        try:
            json.loads(completion.text)
            valid = True
        except ValueError:
            valid = False
        u = completion.usage
        calls.append({"i": i, "prefix": label, "request": request, "latency_ms": round(u.latency_ms, 1),
                      "wall_ms": round(wall_ms, 1), "prompt_tokens": u.prompt_tokens,
                      "completion_tokens": u.completion_tokens, "valid_json": valid,
                      "ms_per_completion_token": round(u.latency_ms / max(u.completion_tokens, 1), 1),
                      "answer": completion.text[:300]})
        print(f"call {i} [{label}] {u.latency_ms:8.0f} ms  prompt {u.prompt_tokens:5d} tok  "
              f"answer {u.completion_tokens:4d} tok  json={'ok' if valid else 'BAD'}  {request!r}")

    later = [c["latency_ms"] for c in calls[1:]]
    result = {
        "model": provider.model_id,
        "path": path,
        "llama_cpp_python": _version("llama-cpp-python"),
        "machine": {"cpu_threads_used": provider.n_threads, "platform": platform.platform(),
                    "processor": _cpu_model()},
        "options": {"n": args.n, "n_ctx": provider.n_ctx, "max_tokens": provider.max_tokens,
                    "ram_cache_mb": args.ram_cache_mb, "alternate": args.alternate,
                    "prompt": "synthetic" if args.synthetic else "gateway"},
        "verify_or_join_s": round(t_verify, 2),
        "load_s": round(t_load, 2),
        "grammar_build_ms": grammar_ms,
        "rss_after_load_mb": round(rss_after_load, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "first_call_ms": calls[0]["latency_ms"] if calls else None,
        "later_calls_median_ms": round(statistics.median(later), 1) if later else None,
        "later_calls_mean_ms": round(statistics.mean(later), 1) if later else None,
        "all_valid_json": all(c["valid_json"] for c in calls),
        "calls": calls,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nverify/join {t_verify:.2f} s, load {t_load:.2f} s, grammar build {grammar_ms} ms")
    print(f"first call {result['first_call_ms']} ms, later calls median {result['later_calls_median_ms']} ms")
    print(f"peak RSS {result['peak_rss_mb']} MB (after load {result['rss_after_load_mb']} MB)")
    print(f"wrote {out}")


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
