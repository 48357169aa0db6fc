"""Mistral through the official ``mistralai`` SDK, with JSON-schema structured output.

The SDK's own retries are switched off: :mod:`gateway.llm.retry` retries, honours
``Retry-After`` and maps failures the same way for every provider.
"""

from __future__ import annotations

import time
from typing import Any

from ..config import Settings
from ..errors import ModelAuth, ModelUnavailable
from .base import Completion, Message, Usage
from .retry import call_with_retries, elapsed_ms

try:  # mistralai >= 2 (the installed 3.x): the client lives in ``mistralai.client``
    from mistralai.client import Mistral
    from mistralai.client.utils import BackoffStrategy, RetryConfig
except ImportError:  # pragma: no cover - mistralai 1.x
    from mistralai import Mistral  # type: ignore[no-redef,attr-defined,unused-ignore]
    from mistralai.utils import BackoffStrategy, RetryConfig  # type: ignore[no-redef,import-untyped,unused-ignore]

NO_SDK_RETRIES = RetryConfig("none", BackoffStrategy(1, 1, 1, 1), False)


class _QuietLogger:
    """The SDK's debug logger prints request headers (the key); never let it."""

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        pass


def _text(content: Any) -> str:
    """Message content is a string, or a list of chunks in newer models; join the text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(getattr(c, "text", None) or (c.get("text", "") if isinstance(c, dict) else ""))
                       for c in content)
    return str(content)


class MistralProvider:
    """``mistral:<model>``: Mistral's chat API with ``response_format`` json_schema, strict."""

    def __init__(self, model: str, api_key: str | None = None, server_url: str | None = None,
                 timeout_s: float = Settings.model_timeout_s, max_retries: int = 3) -> None:
        self.model = model
        self.name = f"mistral:{model}"
        self._api_key = api_key or None
        self._server_url = server_url or None
        self.timeout_s = timeout_s
        self.max_retries = max_retries

    def __repr__(self) -> str:  # never show the key
        return f"MistralProvider(model={self.model!r}, server_url={self._server_url!r})"

    async def complete(self, messages: list[Message], json_schema: dict[str, Any]) -> Completion:
        """Ask for a plan constrained by ``json_schema`` (sent as given, named ``plan``)."""
        if not self._api_key:
            raise ModelAuth("MISTRAL_API_KEY is not set", provider="mistral", model=self.model)
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "plan", "schema_definition": json_schema, "strict": True},
        }

        async def attempt() -> Any:
            # A client per call: httpx pools are tied to the event loop that opened them, and
            # callers may run us under several loops (CLI, tests); one TLS setup is cheap next
            # to a model answer.
            async with Mistral(api_key=self._api_key, server_url=self._server_url,
                               retry_config=NO_SDK_RETRIES, timeout_ms=int(self.timeout_s * 1000),
                               debug_logger=_QuietLogger()) as client:
                return await client.chat.complete_async(
                    model=self.model, messages=messages, temperature=0,
                    response_format=response_format, retries=NO_SDK_RETRIES)

        start = time.perf_counter()
        res = await call_with_retries(attempt, provider="mistral", model=self.model, timeout_s=self.timeout_s,
                                      max_retries=self.max_retries, secrets=[self._api_key])
        latency = elapsed_ms(start)
        if not res.choices or res.choices[0].message is None:
            raise ModelUnavailable("mistral returned no choices", provider="mistral", model=self.model)
        usage = res.usage
        return Completion(
            text=_text(res.choices[0].message.content),
            usage=Usage(model=self.model,
                        prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
                        completion_tokens=(usage.completion_tokens or 0) if usage else 0,
                        latency_ms=latency),
        )
