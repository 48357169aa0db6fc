"""Traces of model calls, for distillation: a large model's good plans teach the small one.

With ``GATEWAY_TRACES=path.jsonl`` every model call appends one line (prompt, answer,
validated plan, latency, tokens), and the resolver appends the outcome of running the plan.
:func:`export_finetune` turns the calls whose plan was valid and ran into Mistral's
fine-tuning chat format: ``{"messages": [system, user, assistant]}`` per line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO


class TraceLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps({"time": time.time(), **entry}, default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def read_traces(path: str | Path) -> list[dict[str, Any]]:
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def finetune_examples(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chat example per request whose plan was valid and ran without error."""
    entries = list(entries)
    outcomes = {e["request_id"]: e["outcome"] for e in entries if e.get("kind") == "outcome"}
    examples = []
    for e in entries:
        if e.get("kind") != "call" or e.get("plan") is None or outcomes.get(e["request_id"], "ok") != "ok":
            continue
        # the original prompt only: a repaired answer becomes a first-time answer
        prompt = e["messages"][: e.get("prompt_length", 2)]
        examples.append({"messages": [*prompt, {"role": "assistant", "content": json.dumps(e["plan"])}]})
    return examples


def export_finetune(path: str | Path, out: TextIO) -> int:
    examples = finetune_examples(read_traces(path))
    for ex in examples:
        out.write(json.dumps(ex, ensure_ascii=False) + "\n")
    return len(examples)
