"""MistralProvider through the real ``mistralai`` SDK against a local fake Mistral server."""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

import pytest

from gateway.errors import ModelAuth, ModelRateLimited, ModelTimeout, ModelUnavailable
from gateway.llm import get_provider
from gateway.llm.mistral import MistralProvider

try:
    from tests.fake_llm_server import (  # noqa: F401 - fast_backoff is an autouse fixture
        MESSAGES, PLAN_SCHEMA, FakeLLMServer, Reply, assert_no_key, chat_ok, error, fail, fast_backoff, run)
except ImportError:  # tests/ is not a package: pytest put it on sys.path itself
    from fake_llm_server import (  # noqa: F401 - fast_backoff is an autouse fixture
        MESSAGES, PLAN_SCHEMA, FakeLLMServer, Reply, assert_no_key, chat_ok, error, fail, fast_backoff, run)

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


def test_429_with_retry_after_zero_is_retried(server: FakeLLMServer) -> None:
    server.script(error(429, "slow down", {"Retry-After": "0"}), chat_ok('{"steps": [1]}'))
    out = run(provider(server))
    assert out.text == '{"steps": [1]}'
    assert len(server.requests) == 2


def test_retry_after_is_honoured(server: FakeLLMServer) -> None:
    server.script(error(429, "slow down", {"Retry-After": "1"}), chat_ok())
    start = time.perf_counter()
    run(provider(server))
    assert time.perf_counter() - start >= 0.9
    assert len(server.requests) == 2


def test_429_forever_is_rate_limited(server: FakeLLMServer) -> None:
    server.script(error(429, "slow down", {"Retry-After": "0"}))
    err = fail(provider(server, max_retries=2))
    assert isinstance(err, ModelRateLimited) and err.code == "MODEL_RATE_LIMITED"
    assert len(server.requests) == 3


def test_repeated_500_is_unavailable_and_scrubbed(server: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script(error(500, f"upstream broke; you sent Authorization: Bearer {KEY} key={KEY}"))
    err = fail(provider(server, max_retries=2))
    assert isinstance(err, ModelUnavailable) and err.code == "MODEL_UNAVAILABLE"
    assert err.extensions["status"] == 500 and err.extensions["attempts"] == 3
    assert len(server.requests) == 3
    assert_no_key(err, KEY, caplog)


def test_500_then_success_recovers(server: FakeLLMServer) -> None:
    server.script(error(503), error(502), chat_ok())
    assert run(provider(server)).usage.completion_tokens == 5
    assert len(server.requests) == 3


def test_slow_server_times_out(server: FakeLLMServer) -> None:
    server.script(Reply(200, chat_ok().body, delay_s=2.0))
    start = time.perf_counter()
    err = fail(provider(server, timeout_s=0.5))
    assert time.perf_counter() - start < 1.9
    assert isinstance(err, ModelTimeout) and err.code == "MODEL_TIMEOUT"
    assert_no_key(err, KEY)


def test_401_is_model_auth_not_retried_and_key_never_leaks(server: FakeLLMServer,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script(error(401, f"Unauthorized: bad api key {KEY}"))
    err = fail(provider(server))
    assert isinstance(err, ModelAuth) and err.code == "MODEL_AUTH"
    assert err.extensions["status"] == 401
    assert len(server.requests) == 1
    assert_no_key(err, KEY, caplog)


def test_403_is_model_auth(server: FakeLLMServer) -> None:
    server.script(error(403, "forbidden"))
    assert fail(provider(server)).code == "MODEL_AUTH"


def test_unreachable_server_is_unavailable() -> None:
    with FakeLLMServer() as srv:
        url = srv.url  # a port that was free a moment ago and is closed now
    err = fail(MistralProvider("m", api_key=KEY, server_url=url, max_retries=1))
    assert isinstance(err, ModelUnavailable) and err.code == "MODEL_UNAVAILABLE"
    assert_no_key(err, KEY)
