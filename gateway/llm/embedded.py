"""The embedded, offline model: llama.cpp (``llama-cpp-python``) running a local GGUF.

``EmbeddedProvider(None)`` runs the default Qwen2.5-Coder-0.5B-Instruct Q4_K_M, joined and
checksum-verified by :mod:`gateway.llm.model_files`; ``EmbeddedProvider("/x.gguf")`` runs a
GGUF the user supplies (their file, so no checksum). Answers are decoded under a grammar built
from the answer's JSON Schema, so the text is always JSON of the right shape (unless it hits
the token cap).

One model and one llama context per file per process: loading costs about a second and the
memory of the weights, and a single context lets llama.cpp reuse the KV cache of the fixed
prompt prefix (system prompt + SDL) from one request to the next: nothing here resets the
context, so each call only evaluates the tokens after the prefix it shares with the previous
one. Calls therefore run one at a time, off the event loop.

``LlamaRAMCache`` (``GATEWAY_EMBEDDED_RAM_CACHE_MB``) is off by default: it only helps when
requests alternate between fields with different prefixes (measured about 3 s saved per
switch), and llama-cpp-python 0.3.x copies a 311 MB logits buffer into every saved state,
so peak memory went from 0.9 GB to 3.2 GB.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ModelError, ModelUnavailable
from . import model_files
from .base import Completion, Message, Usage

DEFAULT_N_CTX = Settings.embedded_n_ctx  # room for a ~3-4k token prompt plus the answer
DEFAULT_MAX_TOKENS = Settings.embedded_max_tokens
_MAX_GRAMMARS = 64  # schemas come from the SDL, so few; the cap only bounds memory


def default_threads() -> int:
    """One thread per core this process may use, less one (at least one).

    llama.cpp's threads spin at barriers, so when every core is taken and anything else runs
    (the gateway's own event loop, the store, other jobs) a token can take many times longer:
    measured on a busy 2-core box, 2 threads ranged 5-35 s a call, 1 thread 8-16 s.
    ``GATEWAY_EMBEDDED_THREADS`` overrides this.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass
class _LoadedModel:
    """One llama.cpp model and context, with the lock that serialises its use."""

    llama: Any
    model_id: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    grammars: dict[str, Any] = field(default_factory=dict)

    def grammar_for(self, schema: dict[str, Any]) -> Any:
        """The grammar for a schema, built and checked once: a large schema costs real time."""
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        grammar = self.grammars.get(key)
        if grammar is None:
            from llama_cpp import LlamaGrammar

            try:
                grammar = LlamaGrammar.from_json_schema(json.dumps(grammar_safe_schema(schema)), verbose=False)
            except Exception as exc:  # the converter raises plain exceptions on odd schemas
                raise ModelError(f"the embedded model cannot turn the answer schema into a grammar: {exc}") from exc
            _check_grammar(self.llama, grammar)
            if len(self.grammars) >= _MAX_GRAMMARS:
                self.grammars.clear()
            self.grammars[key] = grammar
        return grammar


_RULE_CHARS = re.compile(r"[^a-zA-Z0-9-]+")


def grammar_safe_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema with ``$defs`` renamed to names GBNF accepts.

    llama-cpp-python's converter (0.3.x) sanitises a definition's rule name (``Where_Person``
    -> ``Where-Person``) but emits a recursive ``$ref`` to it unsanitised, which llama.cpp
    rejects; renaming the definitions to ``def-Where-Person`` first sidesteps that.
    """
    section = "$defs" if "$defs" in schema else "definitions" if "definitions" in schema else None
    if section is None or not isinstance(schema[section], dict):
        return schema
    rename: dict[str, str] = {}
    for old in schema[section]:
        new = base = "def-" + _RULE_CHARS.sub("-", old)
        i = 0
        while new in rename.values():
            i += 1
            new = f"{base}-{i}"
        rename[f"#/{section}/{old}"] = f"#/{section}/{new}"

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (rename.get(v, v) if k == "$ref" and isinstance(v, str) else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out = walk(schema)
    out[section] = {rename[f"#/{section}/{k}"].rsplit("/", 1)[1]: walk(v) for k, v in schema[section].items()}
    return out


def _check_grammar(llama: Any, grammar: Any) -> None:
    """Parse the grammar in llama.cpp now: a grammar it rejects would crash the process
    (llama-cpp-python does not check the sampler it gets back), so refuse it here instead."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(
        llama._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
    )
    if not sampler:
        raise ModelError("llama.cpp rejected the grammar built from the answer schema "
                         "(see the parse error above); the embedded model cannot answer this field")
    llama_cpp.llama_sampler_free(sampler)


_models: dict[str, _LoadedModel] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free models before interpreter shutdown, when llama.cpp's own finaliser would fail noisily."""
    with _models_lock:
        for loaded in _models.values():
            try:
                loaded.llama.close()
            except Exception:  # noqa: BLE001 - shutting down: nothing left to report to
                pass
        _models.clear()


def _require_llama_cpp() -> None:
    """Fail early, saying what to install, when llama-cpp-python is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ModelUnavailable(
            f"the embedded model needs llama-cpp-python, which is not installed: run "
            f"{model_files.INSTALL_HINT} (or pick another model with --model / GATEWAY_MODEL)"
        )


def _load_llama(path: str, n_ctx: int, n_threads: int, ram_cache_bytes: int) -> Any:
    """Open a GGUF with llama.cpp (a seam the tests replace to prove what gets loaded)."""
    from llama_cpp import Llama, LlamaRAMCache

    llama = Llama(
        model_path=path,
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        verbose=False,
    )
    if ram_cache_bytes > 0:
        llama.set_cache(LlamaRAMCache(capacity_bytes=ram_cache_bytes))
    return llama


class EmbeddedProvider:
    """A local GGUF model behind the Provider interface.

    ``path`` None means the default model. Cheap checks (llama-cpp-python and the model's
    parts or file present) happen here so a misconfigured gateway fails at start-up; the
    join, checksum and load happen on first use or on :meth:`load`.
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        n_ctx: int | None = None,
        max_tokens: int | None = None,
        n_threads: int | None = None,
        ram_cache_mb: int | None = None,
        cache_dir: str | None = None,
    ) -> None:
        _require_llama_cpp()
        self.path = path
        if path is None:
            model_files.locate_parts()  # raises ModelUnavailable with the install command
            self.model_id = f"embedded:{model_files.DEFAULT_MODEL_ID}"
        else:
            if not Path(path).expanduser().is_file():
                raise ModelUnavailable(f"embedded model file not found: {path}")
            self.model_id = f"embedded:{Path(path).stem}"
        self.name = self.model_id
        self.n_ctx = n_ctx or DEFAULT_N_CTX
        self.max_tokens = max_tokens or DEFAULT_MAX_TOKENS
        self.n_threads = n_threads or default_threads()
        self.ram_cache_bytes = (ram_cache_mb or 0) * 1024 * 1024
        self.cache_dir = cache_dir  # None: the user cache folder

    def _resolve_path(self) -> str:
        """The file to load: the verified default (joined on first use) or the user's GGUF."""
        if self.path is None:
            return str(model_files.ensure_default_model(self.cache_dir))
        return str(Path(self.path).expanduser().resolve())

    def load(self) -> _LoadedModel:
        """Load the model once per process (thread-safe); later calls return the same one."""
        with _models_lock:
            path = self._resolve_path()  # verification happens before anything is loaded
            loaded = _models.get(path)
            if loaded is None:
                try:
                    llama = _load_llama(path, self.n_ctx, self.n_threads, self.ram_cache_bytes)
                except ModelError:
                    raise
                except Exception as exc:  # llama.cpp says ValueError for an unreadable GGUF
                    raise ModelUnavailable(f"llama.cpp could not load {path}: {exc}") from exc
                loaded = _models[path] = _LoadedModel(llama, self.model_id)
            return loaded

    def _complete_sync(self, messages: list[Message], json_schema: dict[str, Any]) -> Completion:
        loaded = self.load()
        with loaded.lock:
            grammar = loaded.grammar_for(json_schema)
            start = time.perf_counter()
            try:
                # No reset between calls: llama-cpp-python keeps the previous tokens' KV and
                # only evaluates the part of the prompt after the common prefix.
                result = loaded.llama.create_chat_completion(
                    messages=messages,
                    grammar=grammar,
                    temperature=0.0,
                    max_tokens=self.max_tokens,
                )
            except ValueError as exc:  # e.g. "Requested tokens (...) exceed context window"
                raise ModelError(f"the embedded model could not answer: {exc}") from exc
            latency_ms = (time.perf_counter() - start) * 1000.0
        usage = result.get("usage") or {}
        text = result["choices"][0]["message"]["content"] or ""
        return Completion(
            text,
            Usage(
                model=self.model_id,
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                latency_ms=latency_ms,
            ),
        )

    async def complete(self, messages: list[Message], json_schema: dict[str, Any]) -> Completion:
        """Answer under the schema's grammar, greedily; ``latency_ms`` is the model's own time
        (not the wait for the lock or the one-off load).

        The work runs in a thread; if the caller times out, that thread still finishes its
        decode (at most ``max_tokens``) before the next call can start.
        """
        return await asyncio.to_thread(self._complete_sync, messages, json_schema)
