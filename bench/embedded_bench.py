"""Benchmark an embedded model: where a request's time goes, and first-time request latency.

    .venv/bin/python bench/embedded_bench.py [--model embedded|embedded:qwen2.5-coder-0.5b|PATH] [--n 12]

Both parts use the gateway's real prompt (``gateway.prompt.build_messages``) for root fields of
the demo schema and the field's plan JSON Schema as the grammar, as in production.

Part 1, phases, on one request (repeated ``--rounds`` times, medians reported): prefill speed
from an empty KV cache; the forward pass per token decoding freely (the limit to approach);
decoding under the plan grammar with llama-cpp-python's own loop (the previous engine, which
filters the whole vocabulary through the grammar every step) and with the gateway's decoder
(grammar checked on the greedy token first), without and with prompt-lookup drafts.

Part 2, first-time requests: ``--n`` distinct requests over six root fields, in an order that
switches fields (as users and the eval do), each a model call. Every configuration has its
own llama context, and they run interleaved request by request, so load from other jobs on
the machine falls on all of them alike:

    baseline   llama-cpp-python create_chat_completion, reusing only the live KV cache
               (the provider before this change)
    decoder    the gateway's decoder, check-first grammar, no drafts, no saved prefixes
    +drafts    ... with prompt-lookup drafts of --draft tokens (default 8)
    +prefixes  ... and saved prefix states: the provider's defaults

Writes bench/results/embedded-<model>.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
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

SCHEMA = ROOT / "schema.graphql"
PHASE_REQUESTS = [("query.tasks", "tasks tagged urgent in the Apollo project", "id title status"),
                  ("mutation.tasks", "add 'Fix login' to the Website project", "id title")]
# (field, request, selection): distinct requests switching between six root fields.
REQUESTS = [
    ("query.tasks", "all tasks that are done", "title"),
    ("query.people", "people who are engineers", "name"),
    ("query.tasks", "tasks assigned to Ada Lovelace", "title"),
    ("query.taskCount", "how many tasks are done", ""),
    ("mutation.tasks", "add a task 'Renew passport' with low priority", "title"),
    ("query.projects", "archived projects", "name"),
    ("query.tasks", "tasks tagged urgent", "title"),
    ("mutation.tasks", "mark 'Fix login bug' as done", "title status"),
    ("query.taskCount", "number of high priority tasks", ""),
    ("query.people", "people sorted by name", "name"),
    ("query.tasks", "the 3 tasks with the biggest estimate", "title"),
    ("mutation.projects", "create a project called Billing", "name"),
    ("query.tasks", "tasks in progress", "title"),
    ("mutation.tasks", "set the priority of Dark mode to high", "title"),
    ("query.projects", "projects that have a high priority task", "name"),
    ("query.tasks", "tasks estimated at more than 4 hours", "title"),
]


def gateway_prompt(field: str, request: str, selection: str) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Messages and plan schema for a request, from the project's own code."""
    from gateway.plan_schema import plan_json_schema  # internal: a unit of the plan-schema stage
    from gateway.prompt import build_messages  # internal: a unit of the prompt stage
    from gateway.sdl import load_sdl  # internal: a unit of the SDL stage

    catalog = load_sdl(SCHEMA)
    root = catalog.root(*field.split("."))
    return build_messages(catalog, root, request, selection, {}), plan_json_schema(catalog, root)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def new_context(path: str, model_id: str, args: argparse.Namespace, prefix_mb: int) -> embedded._LoadedModel:
    llama = embedded._load_llama(path, args.n_ctx, args.threads)
    return embedded._LoadedModel(llama, model_id, prefix_mb * 1024 * 1024)


def timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def llama_cpp_loop(loaded: embedded._LoadedModel, prompt: list[int], grammar: Any, max_tokens: int) -> int:
    """llama-cpp-python's own generate loop (greedy, optional grammar); tokens produced."""
    import llama_cpp

    n = 0
    for tok in loaded.llama.generate(prompt, temp=0.0, repeat_penalty=1.0, grammar=grammar):
        if llama_cpp.llama_vocab_is_eog(loaded.llama._model.vocab, tok) or n >= max_tokens:
            break
        n += 1
    return n


def phases(loaded: embedded._LoadedModel, args: argparse.Namespace) -> dict[str, Any]:
    """Prefill speed and per-token decoding cost of each engine, medians over the rounds."""
    rows: dict[str, list[float]] = {}
    extra: dict[str, list[float]] = {}
    dec = loaded.decoder
    for r in range(args.rounds):
        field, request, selection = PHASE_REQUESTS[r % len(PHASE_REQUESTS)]
        messages, schema = gateway_prompt(field, request, selection)
        grammar = loaded.grammar_for(schema)
        prompt, shared = loaded.tokens(messages)
        dec._keep(0)
        _, dt = timed(lambda: dec._decode(prompt, all_logits=False))
        rows.setdefault("prefill, tokens/s", []).append(len(prompt) / dt)
        extra.setdefault("prompt tokens", []).append(len(prompt))
        extra.setdefault("field prefix tokens", []).append(shared)

        def per_token(label: str, fn: Any) -> None:
            dec._keep(len(prompt) - 1)  # everything but the last prompt token stays in the cache
            n, dt = timed(fn)
            tokens = n if isinstance(n, int) else n[1].completion_tokens
            rows.setdefault(label, []).append(1000 * dt / max(tokens, 1))
            extra.setdefault(f"{label}: tokens", []).append(tokens)
            if not isinstance(n, int) and n[1].drafted:
                extra.setdefault(f"{label}: accepted drafts", []).append(n[1].accepted / n[1].drafted)
                extra.setdefault(f"{label}: forward passes", []).append(n[1].forward_passes)

        cap = args.max_tokens
        per_token("free decoding (llama-cpp-python loop), ms/token",
                  lambda: llama_cpp_loop(loaded, prompt, None, cap))
        per_token("free decoding (gateway decoder), ms/token",
                  lambda: dec.generate(prompt, 0, None, "", cap, 0))
        per_token("grammar, llama-cpp-python loop, ms/token",
                  lambda: llama_cpp_loop(loaded, prompt, grammar, cap))
        per_token("grammar, gateway decoder (check first), ms/token",
                  lambda: dec.generate(prompt, 0, grammar._grammar, grammar._root, cap, 0))
        for k in args.draft_sweep:
            per_token(f"grammar, gateway decoder + drafts of {k}, ms/token",
                      lambda k=k: dec.generate(prompt, 0, grammar._grammar, grammar._root, cap, k))
        print(f"  round {r + 1}: " + ", ".join(f"{k.split(',')[0]} {v[-1]:.1f}" for k, v in rows.items()),
              flush=True)
    out = {k: round(statistics.median(v), 1) for k, v in rows.items()}
    out.update({k: round(statistics.median(v), 2) for k, v in extra.items()})
    return out


def first_time_requests(path: str, model_id: str, args: argparse.Namespace) -> dict[str, Any]:
    drafts = {"baseline": 0, "decoder": 0, "+drafts": args.draft, "+prefixes": args.draft}
    configs = {name: new_context(path, model_id, args, args.prefix_cache_mb if name == "+prefixes" else 0)
               for name in args.configs}
    calls: list[dict[str, Any]] = []
    for i, (field, request, selection) in enumerate(REQUESTS[:args.n]):
        messages, schema = gateway_prompt(field, request, selection)
        row: dict[str, Any] = {"i": i, "field": field, "request": request}
        for name, loaded in configs.items():
            if name == "baseline":
                grammar = loaded.grammar_for(schema)
                result, dt = timed(lambda: loaded.llama.create_chat_completion(
                    messages=messages, grammar=grammar, temperature=0.0, max_tokens=args.max_tokens))
                text = result["choices"][0]["message"]["content"] or ""
                row[name] = {"s": round(dt, 2), "completion_tokens": result["usage"]["completion_tokens"]}
            else:
                (text, _, st), dt = timed(lambda: loaded.answer(messages, schema, args.max_tokens,
                                                                drafts[name], args.n_ctx))
                row[name] = {"s": round(dt, 2), "completion_tokens": st.completion_tokens,
                             "prefilled": st.prompt_tokens - st.reused_tokens, "restored": st.restored_tokens,
                             "accepted": st.accepted, "drafted": st.drafted, "fallbacks": st.grammar_fallbacks}
            row[name]["answer"] = text
        same = len({row[n]["answer"] for n in configs}) == 1
        row["same_answer"] = same
        calls.append(row)
        print(f"  {i:2d} {field:18s} " + "  ".join(f"{n} {row[n]['s']:6.2f}s" for n in configs)
              + f"  same={same}  {request!r}", flush=True)
    summary = {}
    for name in configs:
        times = [c[name]["s"] for c in calls]
        summary[name] = {"p50_s": round(statistics.median(times), 2), "mean_s": round(statistics.mean(times), 2),
                         "max_s": round(max(times), 2)}
    summary["answers identical in all configurations"] = sum(c["same_answer"] for c in calls)
    for loaded in configs.values():
        loaded.llama.close()
    return {"summary": summary, "calls": calls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="embedded", help="embedded, embedded:<name> or a GGUF path")
    ap.add_argument("--n", type=int, default=12, help="first-time requests in part 2")
    ap.add_argument("--rounds", type=int, default=2, help="repetitions of part 1")
    ap.add_argument("--max-tokens", type=int, default=300)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=embedded.default_threads())
    ap.add_argument("--draft", type=int, default=embedded.DEFAULT_DRAFT_TOKENS)
    ap.add_argument("--draft-sweep", type=int, nargs="*", default=[4, 8, 16])
    ap.add_argument("--prefix-cache-mb", type=int, default=embedded.DEFAULT_PREFIX_CACHE_MB)
    ap.add_argument("--configs", nargs="+", default=["baseline", "decoder", "+drafts", "+prefixes"],
                    choices=["baseline", "decoder", "+drafts", "+prefixes"])
    ap.add_argument("--skip-phases", action="store_true")
    ap.add_argument("--skip-requests", action="store_true")
    args = ap.parse_args()

    arg = args.model.partition(":")[2] if args.model.startswith("embedded") else args.model
    provider = embedded.EmbeddedProvider(arg or None)
    (path, t_verify) = timed(provider._resolve_path)
    (loaded, t_load) = timed(lambda: new_context(path, provider.model_id, args, 0))
    result: dict[str, Any] = {
        "model": provider.model_id,
        "llama_cpp_python": _version("llama-cpp-python"),
        "machine": {"threads": args.threads, "cores": os.cpu_count(), "platform": platform.platform(),
                    "processor": _cpu_model(), "load_average_at_start": os.getloadavg()},
        "options": dict(vars(args)),
        "verify_or_join_s": round(t_verify, 2),
        "load_s": round(t_load, 2),
    }
    print(f"{provider.model_id}: verify/join {t_verify:.2f} s, load {t_load:.2f} s, "
          f"{args.threads} threads, load average {os.getloadavg()[0]:.1f}", flush=True)
    if not args.skip_phases:
        print("phases:", flush=True)
        result["phases"] = phases(loaded, args)
    loaded.llama.close()
    del loaded
    gc.collect()
    if not args.skip_requests:
        print("first-time requests:", flush=True)
        result["first_time_requests"] = first_time_requests(path, provider.model_id, args)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["load_average_at_end"] = os.getloadavg()
    out = ROOT / "bench" / "results" / f"embedded-{provider.model_id.split(':', 1)[1]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for key, value in result.get("phases", {}).items():
        print(f"| {key} | {value} |")
    for name, value in result.get("first_time_requests", {}).get("summary", {}).items():
        print(f"| {name} | {value} |")
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
