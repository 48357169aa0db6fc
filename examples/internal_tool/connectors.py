"""Connectors of the internal tool: the analytics API, wrapped as a typed function."""

from __future__ import annotations

import os

import httpx

from gateway import connector

ANALYTICS_URL = os.environ.get("ANALYTICS_URL", "http://127.0.0.1:8123")


@connector("analytics.signups", returns="Signup", timeout_s=5)
def signups(since: str, until: str | None = None) -> list[dict]:
    """Sign-ups between two ISO dates (inclusive), from the analytics API."""
    params = {"since": since, **({"until": until} if until else {})}
    response = httpx.get(f"{ANALYTICS_URL}/signups", params=params, timeout=5)
    response.raise_for_status()
    return response.json()["results"]
