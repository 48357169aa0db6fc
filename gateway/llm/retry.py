"""Retries, backoff and error mapping shared by the HTTP model providers.

Both remote providers (Mistral through its SDK, OpenAI-compatible servers through httpx) fail
in the same few ways: a status code, a timeout, a dropped connection. Keeping the policy here
means they retry, wait and report identically, and there is one place that scrubs the API key
out of anything a client or a log could see.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ModelAuth, ModelError, ModelRateLimited, ModelTimeout, ModelUnavailable

log = logging.getLogger("gateway.llm")

T = TypeVar("T")

MAX_WAIT_S = 10.0  # never sleep longer than this between attempts, whatever Retry-After says
BASE_DELAY_S = 0.5  # first backoff step when the server gives no Retry-After
DETAIL_CHARS = 300  # how much of an error body we keep in a message

_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_KEY_FIELD = re.compile(r"(?i)((?:api[_-]?key|authorization|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+")


class HTTPStatusError(Exception):
    """A non-2xx answer, shaped like the SDK's errors (``status_code``, ``headers``, ``body``)."""

    def __init__(self, status_code: int, headers: Mapping[str, str], body: str) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.headers = headers
        self.body = body


@dataclass
class Failure:
    """One failed attempt, reduced to what the retry policy needs."""

    kind: str  # "status" | "timeout" | "connection"
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""

    @property
    def retryable(self) -> bool:
        """429, 5xx and lost connections may pass; timeouts already spent the caller's budget."""
        if self.kind == "connection":
            return True
        return self.kind == "status" and self.status is not None and (self.status == 429 or self.status >= 500)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Remove secrets (and anything that looks like a bearer token or key field) from text."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _BEARER.sub(r"\1 [redacted]", text)
    return _KEY_FIELD.sub(r"\1[redacted]", text)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms``."""
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def classify(exc: BaseException) -> Failure | None:
    """Reduce an SDK/httpx/httpx2 exception to a :class:`Failure`; ``None`` if unknown.

    Matches by attribute and class name rather than by import so it covers ``httpx``, the
    ``httpx2`` fork newer ``mistralai`` releases use, and the SDK's own error classes alike.
    """
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        headers = getattr(exc, "headers", None)
        if headers is None:
            headers = getattr(getattr(exc, "raw_response", None), "headers", None)
        body = getattr(exc, "body", None)
        if not isinstance(body, str):
            body = str(exc)
        return Failure("status", status, parse_retry_after(headers), body)
    names = _class_names(exc)
    if isinstance(exc, TimeoutError) or "TimeoutException" in names:
        return Failure("timeout", detail=type(exc).__name__)
    if isinstance(exc, OSError) or names & {
        "TransportError",
        "NetworkError",
        "RequestError",
        "NoResponseError",
        "RemoteProtocolError",
    }:
        return Failure("connection", detail=f"{type(exc).__name__}: {exc}")
    return None


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Honour the server's Retry-After when given, else exponential backoff with jitter; capped."""
    if retry_after is not None:
        return min(retry_after, MAX_WAIT_S)
    return min(BASE_DELAY_S * 2.0**attempt * (1 + random.random() * 0.25), MAX_WAIT_S)


def to_model_error(
    failure: Failure, *, provider: str, model: str, attempts: int, timeout_s: float, secrets: Iterable[str | None]
) -> ModelError:
    """The gateway error a client sees for a failure; every string in it is scrubbed."""
    secrets = list(secrets)
    detail = scrub(" ".join(failure.detail.split())[:DETAIL_CHARS], secrets)
    ext: dict[str, Any] = {"provider": provider, "model": scrub(model, secrets), "attempts": attempts}
    if failure.status is not None:
        ext["status"] = failure.status
    suffix = f": {detail}" if detail else ""
    if failure.kind == "timeout":
        return ModelTimeout(f"{provider} did not answer within {timeout_s:g}s", **ext)
    if failure.kind == "connection":
        return ModelUnavailable(f"{provider} unreachable after {attempts} attempt(s){suffix}", **ext)
    status = failure.status or 0
    if status in (401, 403):
        return ModelAuth(f"{provider} rejected the API key (HTTP {status})", **ext)
    if status == 429:
        return ModelRateLimited(f"{provider} rate limit still hit after {attempts} attempt(s){suffix}", **ext)
    if status >= 500 or status == 404:
        return ModelUnavailable(f"{provider} failed with HTTP {status} after {attempts} attempt(s){suffix}", **ext)
    return ModelError(f"{provider} refused the request (HTTP {status}){suffix}", **ext)


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    provider: str,
    model: str,
    timeout_s: float,
    max_retries: int,
    secrets: Iterable[str | None] = (),
) -> T:
    """Run ``attempt`` with a per-attempt timeout, retrying 429/5xx/connection failures.

    Raises a :class:`ModelError` built outside any ``except`` block, so no chained exception
    (whose text may echo headers or the key) rides along in a traceback.
    """
    secrets = list(secrets)
    tries = 0
    while True:
        tries += 1
        failure: Failure | None = None
        unknown: BaseException | None = None
        try:
            return await asyncio.wait_for(attempt(), timeout=timeout_s)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - reduced to a Failure or a scrubbed error below
            failure = classify(exc)
            if failure is None:
                unknown = exc
        if failure is None:
            detail = scrub(f"{type(unknown).__name__}: {unknown}", secrets)[:DETAIL_CHARS]
            raise ModelUnavailable(f"{provider} call failed: {detail}", provider=provider, model=model, attempts=tries)
        if not failure.retryable or tries > max_retries:
            raise to_model_error(
                failure, provider=provider, model=model, attempts=tries, timeout_s=timeout_s, secrets=secrets
            )
        delay = backoff_delay(tries - 1, failure.retry_after)
        log.warning(
            "%s %s: %s %s, retry %d/%d in %.2fs",
            provider,
            model,
            failure.kind,
            failure.status or "",
            tries,
            max_retries,
            delay,
        )
        await asyncio.sleep(delay)


def elapsed_ms(start: float) -> float:
    """Milliseconds since a ``time.perf_counter()`` reading."""
    return (time.perf_counter() - start) * 1000
