"""A real local HTTP server that speaks the chat-completions API (Mistral's and OpenAI's share it).

Tests script its answers (status, body, headers, delay) and read back the requests it got, so
the real SDK/httpx client is exercised end to end over a socket, with no mocks in between.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None  # dict/list -> JSON; str -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def chat_ok(content: str = '{"steps": []}', prompt_tokens: int = 12, completion_tokens: int = 5,
            model: str = "test-model") -> Reply:
    """A successful chat completion in the shape both APIs use."""
    return Reply(200, {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": model,
        "created": int(time.time()),
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    })


def error(status: int, message: str = "error", headers: dict[str, str] | None = None,
          delay_s: float = 0.0) -> Reply:
    """An API error with a JSON body."""
    return Reply(status, {"object": "error", "message": message, "type": "error", "code": status},
                 headers or {}, delay_s)


class FakeLLMServer:
    """Threaded server on 127.0.0.1 with a random free port; replies follow a script.

    The last scripted reply repeats once the script runs out, so "always 500" is one reply.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: list[Reply] = [chat_ok()]
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                reply = server._next(Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                                              body))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                payload = data.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]

    def script(self, *replies: Reply) -> FakeLLMServer:
        """Set the replies to give, in order (the last one repeats)."""
        with self._lock:
            self._script = list(replies)
        return self

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Shared by the provider tests: a minimal plan schema, a conversation, and quick backoff.
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"steps": {"type": "array", "items": {"type": "object"}}},
    "required": ["steps"],
    "additionalProperties": False,
}
MESSAGES = [
    {"role": "system", "content": "You write plans."},
    {"role": "user", "content": "list the books"},
]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the exponential steps tiny so repeated-failure tests stay quick."""
    from gateway.llm import retry  # internal: the provider modules are what this covers

    monkeypatch.setattr(retry, "BASE_DELAY_S", 0.01)


def run(p: Any, messages: list[dict[str, str]] = MESSAGES) -> Any:
    """One completion from provider ``p``, run to the end."""
    import asyncio

    return asyncio.run(p.complete(messages, PLAN_SCHEMA))


def fail(p: Any) -> Any:
    """The ModelError provider ``p`` raises."""
    from gateway import ModelError

    with pytest.raises(ModelError) as info:
        run(p)
    return info.value


def assert_no_key(err: Any, key: str, caplog: pytest.LogCaptureFixture | None = None) -> None:
    """The API key is nowhere in the error, its extensions or the logs."""
    assert key not in str(err)
    assert key not in repr(err)
    assert key not in err.message
    assert key not in json.dumps(err.as_extensions(), default=str)
    assert err.__cause__ is None
    if caplog is not None:
        assert key not in caplog.text
