"""A scripted provider for tests: answers are read from a list, in order.

It records every call (messages and schema) so tests can assert on what the model was asked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ModelError, ModelUnavailable
from .base import Completion, Message, Usage


class ScriptedProvider:
    """Replays answers; an answer that is an exception instance is raised instead."""

    def __init__(self, answers: list[Any], name: str = "scripted", routes: dict[str, list[Any]] | None = None) -> None:
        self.answers = list(answers)
        self.name = name
        self.routes = {k: list(v) for k, v in (routes or {}).items()}
        self.calls: list[dict[str, Any]] = []

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedProvider:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"{path}: a scripted model file holds a JSON list of answers")
        return cls(data, name=f"scripted:{path}")

    def push(self, *answers: Any) -> None:
        self.answers.extend(answers)

    def route(self, request_text: str, *answers: Any) -> None:
        """Answer requests whose text contains ``request_text`` from their own queue.

        Root fields of one GraphQL request resolve concurrently, so a single queue would
        hand answers out in an unpredictable order.
        """
        self.routes.setdefault(request_text, []).extend(answers)

    def _queue(self, messages: list[Message]) -> list[Any]:
        asked = [m["content"] for m in messages if m["role"] == "user" and "<<<" in m["content"]]
        request = asked[-1] if asked else ""  # the real request: worked examples come before it
        for text, queue in self.routes.items():
            if text in request:
                return queue
        return self.answers

    async def complete(self, messages: list[Message], json_schema: dict[str, Any]) -> Completion:
        self.calls.append({"messages": messages, "schema": json_schema})
        queue = self._queue(messages)
        if not queue:
            raise ModelUnavailable("the scripted model has no answers left")
        answer = queue.pop(0)
        if isinstance(answer, ModelError):
            raise answer
        text = answer if isinstance(answer, str) else json.dumps(answer)
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4
        return Completion(text, Usage(self.name, prompt_tokens, len(text) // 4, 0.0))
