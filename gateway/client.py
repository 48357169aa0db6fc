"""A small Python client: ask a root field in plain words, read the plan and timings back.

    from gateway import GatewayClient
    client = GatewayClient("http://127.0.0.1:8000/graphql", api_key=None)
    answer = client.ask("tasks", "open tasks tagged urgent", "title status project { name }")
    answer.data, answer.plan, answer.timings

It sends plain GraphQL (the request travels as a variable, never spliced into the document),
so anything it does, Apollo, urql or curl can do too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


class GatewayQueryError(Exception):
    """The gateway answered with GraphQL errors; ``errors`` holds them, ``data`` what resolved."""

    def __init__(self, errors: list[dict[str, Any]], data: Any) -> None:
        codes = ", ".join(str(e.get("extensions", {}).get("code", "ERROR")) for e in errors)
        super().__init__(f"{codes}: {errors[0].get('message')}")
        self.errors, self.data = errors, data


@dataclass
class Answer:
    """One field's data, with the trace the gateway reported for it (``plan``, ``timings``)."""

    data: Any
    trace: dict[str, Any] = field(default_factory=dict)

    @property
    def plan(self) -> dict[str, Any] | None:
        return self.trace.get("plan")

    @property
    def timings(self) -> dict[str, Any]:
        return {k: self.trace.get(k) for k in ("source", "model", "latencyMs", "tokens", "totalMs")}


class GatewayClient:
    """A gateway over HTTP: ``ask`` one root field in plain words, or ``execute`` any GraphQL document."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 120.0) -> None:
        headers = {"accept": "application/graphql-response+json, application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.url = url
        self._http = httpx.Client(headers=headers, timeout=timeout)

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send any GraphQL document; returns the response body (raises on HTTP errors)."""
        resp = self._http.post(self.url, json={"query": query, "variables": variables or {}})
        if resp.status_code >= 400 and not resp.headers.get("content-type", "").startswith("application/"):
            resp.raise_for_status()
        return resp.json()

    def ask(self, field_name: str, q: str | None, selection: str = "", mutation: bool = False) -> Answer:
        """Ask one root field; raises GatewayQueryError when the field failed."""
        op = "mutation" if mutation else "query"
        sel = f" {{ {selection} }}" if selection else ""
        if q is None:  # no request: the field lists, with no model call
            body = self.execute(f"{op} {{ {field_name}{sel} }}")
        else:
            body = self.execute(f"{op} Ask($q: String!) {{ {field_name}(q: $q){sel} }}", {"q": q})
        if body.get("errors"):
            raise GatewayQueryError(body["errors"], body.get("data"))
        trace = (body.get("extensions") or {}).get("fields", {}).get(field_name, {})
        return Answer(body["data"][field_name], trace)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "GatewayClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
