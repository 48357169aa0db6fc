"""The failure contract every remote provider keeps, run against each over a local fake server.

Retries on 429/5xx honouring Retry-After, error codes for rate limits, outages, timeouts and
bad keys, and the API key never in an error, its extensions or the logs.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator

import pytest

from gateway import ModelAuth, ModelRateLimited, ModelTimeout, ModelUnavailable
from gateway.llm.mistral import MistralProvider  # internal: the provider under test
from gateway.llm.openai_compat import OpenAICompatProvider  # internal: the provider under test

try:
    from tests.fake_llm_server import FakeLLMServer, Reply, assert_no_key, chat_ok, error, fail, fast_backoff, run  # noqa: F401 - fast_backoff is an autouse fixture
except ImportError:  # tests/ is not a package: pytest put it on sys.path itself
    from fake_llm_server import FakeLLMServer, Reply, assert_no_key, chat_ok, error, fail, fast_backoff, run  # noqa: F401

KEY = "sk-SECRET-5555-provider-key"
Make = Callable[..., Any]


def make_mistral(url: str, **kw: Any) -> MistralProvider:
    return MistralProvider("mistral-small-latest", api_key=KEY, server_url=url, **kw)


def make_openai(url: str, **kw: Any) -> OpenAICompatProvider:
    return OpenAICompatProvider("qwen2.5-7b-instruct", base_url=f"{url}/v1", api_key=KEY, **kw)


@pytest.fixture(params=[make_mistral, make_openai], ids=["mistral", "openai"])
def make(request: pytest.FixtureRequest) -> Make:
    return request.param


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def test_429_with_retry_after_zero_is_retried(make: Make, server: FakeLLMServer) -> None:
    server.script(error(429, "slow down", {"Retry-After": "0"}), chat_ok('{"steps": [1]}'))
    assert run(make(server.url)).text == '{"steps": [1]}'
    assert len(server.requests) == 2


def test_retry_after_is_honoured(make: Make, server: FakeLLMServer) -> None:
    server.script(error(429, "slow down", {"Retry-After": "1"}), chat_ok())
    start = time.perf_counter()
    run(make(server.url))
    assert time.perf_counter() - start >= 0.9
    assert len(server.requests) == 2


def test_429_forever_is_rate_limited(make: Make, server: FakeLLMServer) -> None:
    server.script(error(429, "slow down", {"Retry-After": "0"}))
    err = fail(make(server.url, max_retries=2))
    assert isinstance(err, ModelRateLimited) and err.code == "MODEL_RATE_LIMITED"
    assert len(server.requests) == 3


def test_repeated_500_is_unavailable_and_scrubbed(make: Make, server: FakeLLMServer,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script(error(500, f"upstream broke; you sent Authorization: Bearer {KEY} api_key={KEY}"))
    err = fail(make(server.url, max_retries=2))
    assert isinstance(err, ModelUnavailable) and err.code == "MODEL_UNAVAILABLE"
    assert err.extensions["status"] == 500 and err.extensions["attempts"] == 3
    assert len(server.requests) == 3
    assert_no_key(err, KEY, caplog)


def test_500_then_success_recovers(make: Make, server: FakeLLMServer) -> None:
    server.script(error(503), error(502), chat_ok())
    assert run(make(server.url)).usage.completion_tokens == 5
    assert len(server.requests) == 3


def test_slow_server_times_out(make: Make, server: FakeLLMServer) -> None:
    server.script(Reply(200, chat_ok().body, delay_s=2.0))
    start = time.perf_counter()
    err = fail(make(server.url, timeout_s=0.5))
    assert time.perf_counter() - start < 1.9
    assert isinstance(err, ModelTimeout) and err.code == "MODEL_TIMEOUT"
    assert_no_key(err, KEY)


@pytest.mark.parametrize("status", [401, 403])
def test_bad_key_is_model_auth_not_retried_and_never_leaks(make: Make, server: FakeLLMServer, status: int,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script(error(status, f"Incorrect API key provided: {KEY}"))
    err = fail(make(server.url))
    assert isinstance(err, ModelAuth) and err.code == "MODEL_AUTH"
    assert err.extensions["status"] == status
    assert len(server.requests) == 1
    assert_no_key(err, KEY, caplog)


def test_unreachable_server_is_unavailable(make: Make) -> None:
    with FakeLLMServer() as srv:
        url = srv.url  # a port that was free a moment ago and is closed now
    err = fail(make(url, max_retries=1))
    assert isinstance(err, ModelUnavailable) and err.code == "MODEL_UNAVAILABLE"
    assert_no_key(err, KEY)
