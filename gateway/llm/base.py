"""The provider seam: one small async interface that every model backend implements.

A provider takes chat messages and the JSON Schema the answer must satisfy, and returns the
answer's text with its usage. Tests swap the provider (``scripted``), never its internals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass
class Usage:
    """What one answer cost: the model that gave it, its tokens and its latency."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    """A provider's answer: its text (JSON that should fit the schema) and its usage."""

    text: str
    usage: Usage


@runtime_checkable
class Provider(Protocol):
    """A language model that answers with JSON constrained to a schema."""

    name: str

    async def complete(self, messages: list[Message], json_schema: dict[str, Any]) -> Completion:
        """Answer the conversation; the answer should satisfy ``json_schema``.

        Raises a :class:`gateway.errors.ModelError` subclass (``ModelUnavailable``,
        ``ModelTimeout``, ``ModelAuth`` ...) when the model cannot answer.
        """
        ...
