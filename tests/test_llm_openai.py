"""OpenAICompatProvider (httpx) against a local fake OpenAI-compatible server, plus the shared retry policy."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any, Iterator

import pytest

from gateway.llm import get_provider, retry  # internal: the provider modules are what this covers
from gateway.llm.openai_compat import OpenAICompatProvider  # internal: the provider under test

try:
    from tests.fake_llm_server import (  # noqa: F401 - fast_backoff is an autouse fixture
        MESSAGES,
        PLAN_SCHEMA,
        FakeLLMServer,
        Reply,
        chat_ok,
        error,
        fail,
        fast_backoff,
        run,
    )
except ImportError:  # tests/ is not a package: pytest put it on sys.path itself
    from fake_llm_server import MESSAGES, PLAN_SCHEMA, FakeLLMServer, Reply, chat_ok, error, fail, fast_backoff, run  # noqa: F401 - fast_backoff is an autouse fixture

KEY = "sk-openai-SECRET-0987654321"
REJECT_SCHEMA = error(400, "Invalid value for response_format: json_schema is not supported by this server")


@pytest.fixture(autouse=True)
def no_schema_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the environment switch that turns json_schema off."""
    monkeypatch.delenv("OPENAI_JSON_SCHEMA", raising=False)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def provider(server: FakeLLMServer, **kw: Any) -> OpenAICompatProvider:
    kw.setdefault("api_key", KEY)
    return OpenAICompatProvider("qwen2.5-7b-instruct", base_url=f"{server.url}/v1", **kw)


def test_request_carries_model_messages_schema_and_temperature(server: FakeLLMServer) -> None:
    server.script(chat_ok('{"steps": []}', prompt_tokens=40, completion_tokens=9))
    p = provider(server)
    out = run(p)

    assert out.text == '{"steps": []}'
    assert (out.usage.model, out.usage.prompt_tokens, out.usage.completion_tokens) == ("qwen2.5-7b-instruct", 40, 9)
    assert out.usage.latency_ms > 0
    [req] = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body == {
        "model": "qwen2.5-7b-instruct",
        "temperature": 0,
        "messages": MESSAGES,
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "plan", "schema": PLAN_SCHEMA, "strict": True}},
    }
    assert p.json_schema_supported is True


def test_env_configures_base_url_and_key(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    p = get_provider("openai:llama3.1")
    assert isinstance(p, OpenAICompatProvider) and p.name == "openai:llama3.1"
    assert KEY not in repr(p)
    run(p)
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_no_key_sends_no_authorization(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    run(provider(server, api_key=None))
    assert "authorization" not in server.requests[0].headers


# --- json_schema fallback ------------------------------------------------------------------

def test_rejected_response_format_falls_back_and_is_remembered(server: FakeLLMServer) -> None:
    server.script(REJECT_SCHEMA, chat_ok("Sure! here is your plan: {steps: ["))
    p = provider(server)
    out = run(p)

    assert out.text == "Sure! here is your plan: {steps: ["  # invalid JSON is the caller's to judge
    first, second = server.requests
    assert "response_format" in first.body
    assert "response_format" not in second.body
    assert second.body["temperature"] == 0 and second.body["model"] == "qwen2.5-7b-instruct"
    system = second.body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You write plans.")
    assert json.dumps(PLAN_SCHEMA, separators=(",", ":")) in system["content"]
    assert "JSON" in system["content"]
    assert second.body["messages"][1:] == MESSAGES[1:]
    assert p.json_schema_supported is False

    server.script(chat_ok())
    run(p)
    assert len(server.requests) == 3
    assert "response_format" not in server.requests[2].body


def test_fallback_without_system_message_prepends_one(server: FakeLLMServer) -> None:
    run(provider(server, json_schema_supported=False), [{"role": "user", "content": "hi"}])
    [req] = server.requests
    assert "response_format" not in req.body
    assert req.body["messages"][0]["role"] == "system"
    assert '"required":["steps"]' in req.body["messages"][0]["content"]
    assert req.body["messages"][1] == {"role": "user", "content": "hi"}


def test_env_says_unsupported(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_JSON_SCHEMA", "0")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    run(get_provider("openai:qwen2.5-7b-instruct"))
    assert "response_format" not in server.requests[0].body


def test_other_400_is_not_a_fallback(server: FakeLLMServer) -> None:
    server.script(error(400, "messages: too long for context window"))
    p = provider(server)
    err = fail(p)
    assert err.code == "MODEL_ERROR" and err.extensions["status"] == 400
    assert len(server.requests) == 1 and p.json_schema_supported is None


# --- retries and error mapping -------------------------------------------------------------

def test_non_json_answer_is_unavailable(server: FakeLLMServer) -> None:
    server.script(Reply(200, "<html>gateway</html>"))
    assert fail(provider(server)).code == "MODEL_UNAVAILABLE"


# --- the shared policy (gateway/llm/retry.py) ----------------------------------------------

def test_parse_retry_after_forms() -> None:
    assert retry.parse_retry_after({"retry-after": "0"}) == 0
    assert retry.parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert retry.parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry.parse_retry_after({"retry-after": "soon"}) is None
    assert retry.parse_retry_after({}) is None
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry.parse_retry_after({"retry-after": date}) or 0) <= 31


def test_backoff_is_capped() -> None:
    assert retry.backoff_delay(0, 120) == retry.MAX_WAIT_S
    assert retry.backoff_delay(0, 0) == 0
    assert retry.backoff_delay(20, None) == retry.MAX_WAIT_S


def test_scrub_removes_key_and_bearer_tokens() -> None:
    text = retry.scrub(f"key {KEY}; Authorization: Bearer other-token; api_key=xyz123", [KEY, None, ""])
    assert KEY not in text and "other-token" not in text and "xyz123" not in text
