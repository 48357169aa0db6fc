"""The embedded models: the pins and checksum gate on their joined files, and real answers.

The file tests install small fake part distributions into a temporary folder on ``sys.path``
(found the way the real ones are, through their installed file lists), so they run everywhere.
The real-model tests run only where llama-cpp-python and the models' parts are installed
(``pip install '.[embedded,embedded-small]'``).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway import ModelUnavailable
from gateway.llm import embedded, get_provider, model_files  # internal: the provider modules are what this covers

ROOT = Path(__file__).resolve().parent.parent
CHUNKS = [b"GGUF" + bytes(range(256)) * 3, b"middle part " * 100, b"tail"]


@pytest.fixture(autouse=True)
def _fresh_memo(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file test starts as a new process would: nothing verified, nothing loaded (the
    real-model tests share one load: re-hashing and re-loading a GB per test buys nothing)."""
    if "real_model" in request.node.name:
        return
    monkeypatch.setattr(model_files, "_verified", set())
    monkeypatch.setattr(embedded, "_models", {})


def _install_fake_parts(site: Path, prefix: str, version: str, chunks: list[bytes]) -> list[str]:
    """Write one installed distribution per chunk (dist-info with METADATA and RECORD, and the
    part file under ``<pkg>/data/``), as pip would from a part wheel; return their names."""
    names = []
    for i, data in enumerate(chunks, 1):
        name, pkg = f"{prefix}-part{i}", f"{prefix.replace('-', '_')}_part{i}"
        (site / pkg / "data").mkdir(parents=True)
        (site / pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
        info = site / f"{pkg}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "RECORD").write_text(f"{pkg}/data/part{i:02d}.bin,,\n{pkg}-{version}.dist-info/METADATA,,\n")
        names.append(name)
    return names


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> model_files.ModelFile:
    """A packaged model whose three parts are installed (in a temporary site folder) and
    whose pinned size and hash match them; it stands in for the default model."""
    site = tmp_path / "site"
    names = _install_fake_parts(site, f"gateway-test-{tmp_path.name}", "1.2.3", CHUNKS)
    monkeypatch.syspath_prepend(str(site))
    joined = b"".join(CHUNKS)
    fake = replace(
        model_files.QWEN_1_5B,
        distributions=tuple(names),
        version="1.2.3",
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
    )
    monkeypatch.setattr(model_files, "MODELS", {**model_files.MODELS, fake.name: fake})
    monkeypatch.setenv("GATEWAY_CACHE_DIR", str(tmp_path / "cache"))
    return fake


def _pinned_in_pyproject(extra: str) -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {r for r in data["project"]["optional-dependencies"][extra] if not r.startswith("llama-cpp-python")}


@pytest.mark.parametrize("model", list(model_files.MODELS.values()), ids=lambda m: m.name)
def test_each_packaged_model_is_pinned_exactly_by_its_extra(model: model_files.ModelFile) -> None:
    """The extra installs exactly the parts the loader joins, at the version it accepts."""
    assert _pinned_in_pyproject(model.extra) == {f"{d}=={model.version}" for d in model.distributions}


def test_default_is_the_1_5b_and_the_0_5b_is_a_named_choice() -> None:
    assert model_files.model_file(None).model_id == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert model_files.model_file(None).size == 1_117_320_768
    assert len(model_files.model_file(None).distributions) == 22
    assert model_files.model_file("qwen2.5-coder-0.5b").model_id == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    with pytest.raises(ModelUnavailable, match="unknown embedded model"):
        model_files.model_file("qwen2.5-coder-7b")


def test_sha256_file(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    assert model_files.sha256_file(f) == hashlib.sha256(b"abc").hexdigest()


def test_installed_parts_are_found_in_order_without_importing_them(fake_model: model_files.ModelFile) -> None:
    parts = model_files.locate_parts(fake_model)
    assert [p.read_bytes() for p in parts] == CHUNKS
    assert all(p.name.endswith(".bin") and p.parent.name == "data" for p in parts)


def test_matching_parts_are_joined_once_and_reused(
    fake_model: model_files.ModelFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = model_files.ensure_model(fake_model)
    assert path.name == fake_model.filename and path.read_bytes() == b"".join(CHUNKS)

    joins: list[object] = []
    real_join = model_files.join_parts
    monkeypatch.setattr(model_files, "join_parts", lambda *a, **k: joins.append(a) or real_join(*a, **k))
    monkeypatch.setattr(model_files, "_verified", set())  # as a new process: re-hash, not re-join
    assert model_files.ensure_model(fake_model) == path
    assert joins == []


def test_a_tampered_part_is_refused_and_leaves_nothing(fake_model: model_files.ModelFile) -> None:
    parts = model_files.locate_parts(fake_model)
    parts[1].write_bytes(b"x" * len(CHUNKS[1]))  # same size, other bytes: only the hash tells
    with pytest.raises(ModelUnavailable, match=r"refusing the embedded model.*sha256.*pip install '\.\[embedded\]'"):
        model_files.ensure_model(fake_model)
    assert list(model_files.cache_dir().iterdir()) == []  # no cached file, no temp file left behind


def test_parts_of_the_wrong_size_are_refused_before_joining(fake_model: model_files.ModelFile) -> None:
    model_files.locate_parts(fake_model)[2].write_bytes(b"tail, and then some")
    with pytest.raises(ModelUnavailable, match=r"refusing the embedded model: its 3 parts hold .* bytes"):
        model_files.ensure_model(fake_model)
    assert not model_files.cache_dir().exists() or list(model_files.cache_dir().iterdir()) == []


def test_a_missing_part_says_which_and_what_to_install(
    fake_model: model_files.ModelFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = replace(fake_model, distributions=(*fake_model.distributions, "gateway-test-no-such-part"))
    monkeypatch.setattr(model_files, "MODELS", {**model_files.MODELS, missing.name: missing})
    monkeypatch.setattr(embedded, "_require_llama_cpp", lambda: None)
    with pytest.raises(ModelUnavailable, match=r"gateway-test-no-such-part is missing.*pip install '\.\[embedded\]'"):
        embedded.EmbeddedProvider(None)


def test_a_part_of_another_version_is_refused(
    fake_model: model_files.ModelFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = replace(fake_model, version="1.2.4")
    with pytest.raises(ModelUnavailable, match=r"1\.2\.3 is installed but .* needs 1\.2\.4"):
        model_files.locate_parts(other)


def test_a_corrupted_cache_is_deleted_and_rejoined(fake_model: model_files.ModelFile) -> None:
    path = model_files.ensure_model(fake_model)
    path.write_bytes(b"tampered cache")
    model_files._verified.clear()
    assert model_files.ensure_model(fake_model) == path
    assert path.read_bytes() == b"".join(CHUNKS)


def test_provider_never_loads_a_file_that_fails_the_checksum(
    fake_model: model_files.ModelFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through get_provider("embedded"): wrong hash -> ModelUnavailable and llama.cpp is never
    called; right hash -> the joined, cached file is what gets loaded, once per process."""
    monkeypatch.setattr(embedded, "_require_llama_cpp", lambda: None)
    loaded: list[str] = []
    monkeypatch.setattr(embedded, "_load_llama", lambda path, *a: loaded.append(path) or object())

    bad = replace(fake_model, sha256="0" * 64)
    monkeypatch.setattr(model_files, "MODELS", {**model_files.MODELS, bad.name: bad})
    with pytest.raises(ModelUnavailable, match="refusing"):
        asyncio.run(get_provider("embedded").complete([{"role": "user", "content": "hi"}], {}))
    assert loaded == []

    monkeypatch.setattr(model_files, "MODELS", {**model_files.MODELS, fake_model.name: fake_model})
    provider = get_provider("embedded")
    assert provider.name == f"embedded:{fake_model.model_id}"
    provider.load()
    assert loaded == [str(model_files.cache_dir() / fake_model.filename)]
    get_provider("embedded").load()
    assert len(loaded) == 1  # once per process


def test_the_small_model_is_selected_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    names = _install_fake_parts(site, "gateway-test-small", "0.9.0", CHUNKS[:1])
    monkeypatch.syspath_prepend(str(site))
    small = replace(model_files.QWEN_0_5B, distributions=tuple(names))
    monkeypatch.setattr(model_files, "MODELS", {**model_files.MODELS, small.name: small})
    monkeypatch.setattr(embedded, "_require_llama_cpp", lambda: None)
    assert get_provider("embedded:qwen2.5-coder-0.5b").name == "embedded:qwen2.5-coder-0.5b-instruct-q4_k_m"
    with pytest.raises(ModelUnavailable, match=r"unknown embedded model 'qwen-9b'.*embedded:qwen2\.5-coder-0\.5b"):
        get_provider("embedded:qwen-9b")


def test_missing_llama_cpp_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModelUnavailable, match=r"pip install '\.\[embedded\]'"):
        embedded.EmbeddedProvider(None)


def test_user_gguf_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_require_llama_cpp", lambda: None)
    with pytest.raises(ModelUnavailable, match="not found"):
        embedded.EmbeddedProvider(str(tmp_path / "missing.gguf"))


def _real_model_skip_reason(name: str | None = None) -> str | None:
    model = model_files.model_file(name)
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed ({model.install_hint})"
    if not model_files.parts_installed(model):
        return f"the embedded model {model.name}'s parts are not installed ({model.install_hint})"
    return None


CLASSIFY_SCHEMA = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": ["book", "film", "song"]},
        "title": {"type": "string"},
    },
    "required": ["kind", "title"],
    "additionalProperties": False,
}
CLASSIFY = [
    {"role": "system", "content": "Classify the item the user names. Answer with JSON: kind and title."},
    {"role": "user", "content": "The novel Dune by Frank Herbert"},
]


@pytest.mark.parametrize("name", list(model_files.MODELS))
def test_real_model_answers_json_that_fits_the_schema(name: str) -> None:
    if _real_model_skip_reason(name) is not None:
        pytest.skip(str(_real_model_skip_reason(name)))
    provider = get_provider("embedded" if name == model_files.DEFAULT_MODEL else f"embedded:{name}")
    completion = asyncio.run(provider.complete(CLASSIFY, CLASSIFY_SCHEMA))
    answer = json.loads(completion.text)
    assert answer["kind"] == "book" and "dune" in answer["title"].lower()
    assert completion.usage.model == f"embedded:{model_files.MODELS[name].model_id}"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert completion.usage.latency_ms > 0


def test_grammar_safe_schema_renames_recursive_defs() -> None:
    """llama-cpp-python emits unsanitised names for recursive refs like ``Where_Person``."""
    schema = {
        "$ref": "#/$defs/Where_Person",
        "$defs": {"Where_Person": {"type": "object", "properties": {"not": {"$ref": "#/$defs/Where_Person"}}}},
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
        "$defs": {
            "Where_Task": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "not": {"$ref": "#/$defs/Where_Task"},
                    "or": {"type": "array", "items": {"$ref": "#/$defs/Where_Task"}},
                },
                "additionalProperties": False,
            }
        },
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


def _grammar_allows(schema: dict[str, Any], text: str) -> bool:
    """Whether the grammar the provider builds for ``schema`` lets the model write ``text``
    and stop there, token by token, as the decoder checks its greedy choices."""
    import ctypes
    import math

    import llama_cpp

    from gateway.llm.grammar import schema_to_gbnf  # internal: the grammar builder is what this covers

    loaded = embedded.EmbeddedProvider(None).load()
    vocab = loaded.llama._model.vocab
    grammar = llama_cpp.llama_sampler_init_grammar(
        vocab, schema_to_gbnf(embedded.grammar_safe_schema(schema)).encode(), b"root"
    )
    one: Any = (llama_cpp.llama_token_data * 1)()
    arr = llama_cpp.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)

    def allowed(token: int) -> bool:
        one[0].id, one[0].logit, one[0].p = token, 0.0, 0.0
        arr.size, arr.selected = 1, -1
        llama_cpp.llama_sampler_apply(grammar, ctypes.byref(arr))
        return not math.isinf(one[0].logit)

    try:
        for token in loaded.llama.tokenize(text.encode(), add_bos=False, special=False):
            if not allowed(token):
                return False
            llama_cpp.llama_sampler_accept(grammar, token)
        return allowed(llama_cpp.llama_vocab_eos(vocab)) or allowed(llama_cpp.llama_vocab_eot(vocab))
    finally:
        llama_cpp.llama_sampler_free(grammar)


def test_real_model_grammar_keeps_optional_keys_where_the_schema_declares_them() -> None:
    """llama.cpp's converter puts an object's required keys first: an aggregate step had to
    give its ``aggregates`` before its ``where``, unlike every worked example, and the model
    closed the step without the condition (counts of "available books" counted every book)."""
    if _real_model_skip_reason() is not None:
        pytest.skip(str(_real_model_skip_reason()))
    where = {"type": "object", "properties": {"available": {"type": "boolean"}}, "additionalProperties": False}
    step = {
        "type": "object",
        "properties": {
            "op": {"const": "aggregate"},
            "where": where,
            "aggregates": {"type": "array", "items": {"type": "string"}},
            "limit": {"type": "integer"},
        },
        "required": ["op", "aggregates"],
        "additionalProperties": False,
    }
    assert _grammar_allows(step, '{"op": "aggregate", "where": {"available": true}, "aggregates": ["count"]}')
    assert _grammar_allows(step, '{"op": "aggregate", "aggregates": ["count"], "limit": 2}')
    assert not _grammar_allows(step, '{"op": "aggregate", "where": {"available": true}}')  # required key missing
    assert not _grammar_allows(step, '{"op": "aggregate", "aggregates": ["count"], "where": {"available": true}}')
