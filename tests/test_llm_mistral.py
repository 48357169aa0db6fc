"""MistralProvider through the real ``mistralai`` SDK against a local fake Mistral server."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from gateway import ModelAuth
from gateway.llm import get_provider  # internal: the provider modules are what this covers
from gateway.llm.mistral import MistralProvider  # internal: the provider under test

try:
    from tests.fake_llm_server import MESSAGES, PLAN_SCHEMA, FakeLLMServer, chat_ok, fail, fast_backoff, run  # noqa: F401 - fast_backoff is an autouse fixture
except ImportError:  # tests/ is not a package: pytest put it on sys.path itself
    from fake_llm_server import MESSAGES, PLAN_SCHEMA, FakeLLMServer, chat_ok, fail, fast_backoff, run  # noqa: F401 - fast_backoff is an autouse fixture

KEY = "sk-mistral-SECRET-1234567890"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def provider(server: FakeLLMServer, **kw: Any) -> MistralProvider:
    return MistralProvider("mistral-small-latest", api_key=KEY, server_url=server.url, **kw)


def test_request_carries_model_messages_schema_and_temperature(server: FakeLLMServer) -> None:
    server.script(chat_ok('{"steps": []}', prompt_tokens=31, completion_tokens=7))
    out = run(provider(server))

    assert out.text == '{"steps": []}'
    assert (out.usage.model, out.usage.prompt_tokens, out.usage.completion_tokens) == ("mistral-small-latest", 31, 7)
    assert out.usage.latency_ms > 0
    [req] = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    body = req.body
    assert body["model"] == "mistral-small-latest"
    assert [{"role": m["role"], "content": m["content"]} for m in body["messages"]] == MESSAGES
    assert body["temperature"] == 0
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "plan", "schema": PLAN_SCHEMA, "strict": True},
    }


def test_key_and_server_come_from_env(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    monkeypatch.setenv("MISTRAL_SERVER_URL", server.url)
    p = get_provider("mistral:mistral-large-latest")
    assert isinstance(p, MistralProvider) and p.name == "mistral:mistral-large-latest"
    assert KEY not in repr(p)
    assert run(p).usage.prompt_tokens == 12
    assert server.requests[0].body["model"] == "mistral-large-latest"


def test_missing_key_is_model_auth_without_a_request(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    err = fail(MistralProvider("m", server_url=server.url))
    assert isinstance(err, ModelAuth) and err.code == "MODEL_AUTH"
    assert server.requests == []


