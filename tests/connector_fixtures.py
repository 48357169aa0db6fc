"""Connectors that misbehave, for tests of the connector contract."""

from __future__ import annotations

import time

from gateway import connector


@connector("bad.raises", returns="Signup")
def raises(since: str) -> list[dict]:
    raise RuntimeError("analytics API said 503")


@connector("bad.hangs", returns="Signup", timeout_s=0.3)
def hangs(since: str) -> list[dict]:
    time.sleep(5)
    return []


@connector("bad.wrong_type", returns="Signup")
def wrong_type(since: str) -> list[dict]:
    return [{"email": 42, "signedUpAt": "2026-11-20"}, {"plan": "pro"}]


@connector("crm.add_contact", returns="Signup", side_effects=True)
def add_contact(email: str) -> list[dict]:
    """Creates a contact in the CRM."""
    return [{"email": email, "signedUpAt": "2026-11-25"}]


@connector("async.signups", returns="Signup")
async def async_signups(since: str, limit: int = 10) -> list[dict]:
    return [{"email": f"user{i}@example.com", "signedUpAt": since} for i in range(limit)]
