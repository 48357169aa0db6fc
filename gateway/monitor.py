"""What this process served: recent request traces and running stats for the admin API.

Fed once per GraphQL request (over HTTP or an MCP tool) with the per-field traces that go into
``extensions`` and the error codes of the response. Kept in memory, per process: with several
workers each one reports its own share (the persistent record of model calls is GATEWAY_TRACES).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

RECENT = 200        # request traces kept for the admin API
SAMPLES = 10_000    # latencies kept for percentiles (a sliding window)


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile; None with no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class RequestTrace:
    at: float
    duration_ms: float
    fields: dict[str, Any]
    error_codes: list[str]


@dataclass
class Monitor:
    started: float = field(default_factory=time.time)
    requests: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    model_latencies: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    recent: deque[RequestTrace] = field(default_factory=lambda: deque(maxlen=RECENT))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, fields: dict[str, Any], errors: list[dict[str, Any]] | None, duration_ms: float) -> None:
        """Count one request: its fields' sources, model use and tokens, and its errors by code."""
        codes = [str((e.get("extensions") or {}).get("code") or "(no code)") for e in errors or []]
        with self._lock:
            self.requests += 1
            self.latencies.append(duration_ms)
            for trace in fields.values():
                source = trace.get("source")
                if source:
                    self.sources[source] += 1
                if source == "model":
                    self.model_calls += int(trace.get("attempts") or 1)
                    tokens = trace.get("tokens") or {}
                    self.prompt_tokens += int(tokens.get("prompt") or 0)
                    self.completion_tokens += int(tokens.get("completion") or 0)
                    if trace.get("latencyMs") is not None:
                        self.model_latencies.append(float(trace["latencyMs"]))
            self.errors.update(codes)
            self.recent.append(RequestTrace(time.time(), round(duration_ms, 2), fields, codes))

    def traces(self, limit: int) -> list[RequestTrace]:
        """The most recent requests, newest first."""
        with self._lock:
            return list(self.recent)[::-1][:max(0, limit)]

    def cache_hit_rate(self) -> float | None:
        """Planned fields answered from the cache (listings need no plan, so they do not count)."""
        hits = self.sources["cache"] + self.sources["frozen"]
        planned = hits + self.sources["model"]
        return round(hits / planned, 4) if planned else None
