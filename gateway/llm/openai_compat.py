"""Any OpenAI-compatible chat-completions server: vLLM, Ollama, llama.cpp, LM Studio, hosted APIs.

Plain httpx rather than the ``openai`` package: one POST is all we need, and it keeps the
dependency list short. Servers that reject ``response_format: json_schema`` get the schema in
the system message instead (remembered for later calls); validation stays the caller's job.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from ..config import Settings
from ..errors import ModelUnavailable
from .base import Completion, Message, Usage
from .retry import HTTPStatusError, call_with_retries, elapsed_ms

DEFAULT_BASE_URL = "https://api.openai.com/v1"

SCHEMA_INSTRUCTION = (
    "Answer with a single JSON object and nothing else: no prose, no code fences. "
    "It must satisfy this JSON Schema:\n{schema}"
)


def _rejects_response_format(err: HTTPStatusError) -> bool:
    """A 400/422 that names response_format or json_schema: the server lacks structured output."""
    body = err.body.lower()
    return err.status_code in (400, 422) and ("response_format" in body or "json_schema" in body)


def with_schema_instruction(messages: list[Message], json_schema: dict[str, Any]) -> list[Message]:
    """Carry the schema in the system message (merged into the first one: some chat templates
    accept only one system message, first)."""
    note = SCHEMA_INSTRUCTION.format(schema=json.dumps(json_schema, separators=(",", ":")))
    if messages and messages[0].get("role") == "system":
        first = dict(messages[0])
        first["content"] = f"{first.get('content', '')}\n\n{note}"
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


class OpenAICompatProvider:
    """``openai:<model>`` against ``{base_url}/chat/completions``."""

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = Settings.model_timeout_s, max_retries: int = 3,
                 json_schema_supported: bool | None = None) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._api_key = api_key or None  # local servers need none
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        # None = not known yet (try it); False = fall back to the schema-in-prompt request.
        self.json_schema_supported = json_schema_supported

    def __repr__(self) -> str:  # never show the key
        return f"OpenAICompatProvider(model={self.model!r}, base_url={self.base_url!r})"

    def _body(self, messages: list[Message], json_schema: dict[str, Any], structured: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "temperature": 0}
        if structured:
            body["messages"] = list(messages)
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "plan", "schema": json_schema, "strict": True},
            }
        else:
            body["messages"] = with_schema_instruction(messages, json_schema)
        return body

    async def _post(self, client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        res = await client.post(f"{self.base_url}/chat/completions", json=body, headers=headers)
        if res.status_code >= 400:
            raise HTTPStatusError(res.status_code, res.headers, res.text)
        try:
            data = res.json()
        except ValueError:
            raise ModelUnavailable("openai-compatible server answered with non-JSON",
                                   provider="openai", model=self.model) from None
        if not isinstance(data, dict):
            raise ModelUnavailable("openai-compatible server answered with an unexpected body",
                                   provider="openai", model=self.model)
        return data

    async def complete(self, messages: list[Message], json_schema: dict[str, Any]) -> Completion:
        """Ask for a plan; with json_schema when the server takes it, else schema in the prompt."""

        async def attempt() -> dict[str, Any]:
            # A client per call: httpx pools are tied to the event loop that opened them.
            async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s)) as client:
                if self.json_schema_supported is not False:
                    try:
                        data = await self._post(client, self._body(messages, json_schema, True))
                    except HTTPStatusError as err:
                        if not _rejects_response_format(err):
                            raise
                        self.json_schema_supported = False  # remember: skip the doomed request next time
                    else:
                        self.json_schema_supported = True
                        return data
                return await self._post(client, self._body(messages, json_schema, False))

        start = time.perf_counter()
        data = await call_with_retries(attempt, provider="openai", model=self.model, timeout_s=self.timeout_s,
                                       max_retries=self.max_retries, secrets=[self._api_key])
        latency = elapsed_ms(start)
        try:
            content = data["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ModelUnavailable("openai-compatible server returned no choices",
                                   provider="openai", model=self.model) from None
        usage = data.get("usage") or {}
        return Completion(
            text=content if isinstance(content, str) else json.dumps(content),
            usage=Usage(model=self.model,
                        prompt_tokens=int(usage.get("prompt_tokens") or 0),
                        completion_tokens=int(usage.get("completion_tokens") or 0),
                        latency_ms=latency),
        )
