"""The embedded, offline model: llama.cpp (``llama-cpp-python``) running a local GGUF.

``EmbeddedProvider(None)`` runs the default Qwen2.5-Coder-1.5B-Instruct Q4_K_M and
``EmbeddedProvider("qwen2.5-coder-0.5b")`` the faster 0.5B, each joined from its parts and
checksum-verified by :mod:`gateway.llm.model_files`; ``EmbeddedProvider("/x.gguf")`` runs a
GGUF the user supplies (their file, so no checksum). Answers are decoded greedily under a
grammar built from the answer's JSON Schema, so the text is always JSON of the right shape
(unless it hits the token cap); :mod:`gateway.llm.decoding` holds the decoding loop.

One model and one llama context per file per process: loading costs a second or two and the
memory of the weights. The context keeps the KV cache of the last prompt, and the decoder
keeps the KV states of recent prompt prefixes (one per field: instructions, SDL, worked
examples), so a call evaluates only the tokens after the longest prefix it has seen.
Calls therefore run one at a time, off the event loop.
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..config import Settings
from ..errors import ModelError, ModelUnavailable
from . import model_files
from .base import Completion, Message, Usage
from .decoding import DecodeStats, GrammarDecoder
from .grammar import schema_to_gbnf

DEFAULT_N_CTX = Settings.embedded_n_ctx  # room for a ~3-4k token prompt plus the answer
DEFAULT_MAX_TOKENS = Settings.embedded_max_tokens
DEFAULT_DRAFT_TOKENS = Settings.embedded_draft_tokens  # bench/README.md: embedded speed
DEFAULT_PREFIX_CACHE_MB = Settings.embedded_prefix_cache_mb  # 1.5B: about 28 KB of KV a token
_MAX_GRAMMARS = 64  # schemas come from the SDL, so few; the cap only bounds memory


def default_threads() -> int:
    """One thread per core this process may use.

    Measured on an idle 2-core box (1.5B model): 2 threads read 91 prompt tokens/s and decode
    at 30 ms/token, 1 thread 47 tokens/s and 45 ms/token. On a box where other jobs take the
    cores, llama.cpp's spinning threads can make fewer threads faster: set
    ``GATEWAY_EMBEDDED_THREADS`` there.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


@dataclass
class _LoadedModel:
    """One llama.cpp model and context, with its decoder and the lock that serialises use."""

    llama: Any
    model_id: str
    prefix_cache_bytes: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    grammars: dict[str, Any] = field(default_factory=dict)
    _formatter: Any = None
    _decoder: GrammarDecoder | None = None

    @property
    def decoder(self) -> GrammarDecoder:
        if self._decoder is None:
            self._decoder = GrammarDecoder(self.llama, self.prefix_cache_bytes)
        return self._decoder

    def grammar_for(self, schema: dict[str, Any]) -> Any:
        """The grammar for a schema, built and checked once: a large schema costs real time."""
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        grammar = self.grammars.get(key)
        if grammar is None:
            from llama_cpp.llama_grammar import LlamaGrammar

            try:
                grammar = LlamaGrammar.from_string(schema_to_gbnf(grammar_safe_schema(schema)), verbose=False)
            except Exception as exc:  # the converter raises plain exceptions on odd schemas
                raise ModelError(f"the embedded model cannot turn the answer schema into a grammar: {exc}") from exc
            _check_grammar(self.llama, grammar)
            if len(self.grammars) >= _MAX_GRAMMARS:
                self.grammars.clear()
            self.grammars[key] = grammar
        return grammar

    def answer(
        self, messages: list[Message], json_schema: dict[str, Any], max_tokens: int, draft_tokens: int, n_ctx: int
    ) -> tuple[str, int, DecodeStats]:
        """(text, prompt tokens, decoding figures) of a greedy answer under the schema's grammar;
        the caller holds ``lock``."""
        grammar = self.grammar_for(json_schema)
        prompt, shared = self.tokens(messages)
        if len(prompt) + max_tokens > n_ctx:
            raise ModelError(
                f"the embedded model could not answer: the prompt ({len(prompt)} tokens) "
                f"and the answer ({max_tokens}) exceed its context of {n_ctx} tokens "
                "(GATEWAY_EMBEDDED_N_CTX)"
            )
        try:
            out, stats = self.decoder.generate(
                prompt, shared, grammar._grammar, grammar._root, max_tokens, draft_tokens
            )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"the embedded model could not answer: {exc}") from exc
        return self.llama.detokenize(out).decode("utf-8", errors="replace"), len(prompt), stats

    def warm(self, messages: list[Message]) -> bool:
        """Read and save the prefix a request with these messages would share (all but the
        last message); the caller holds ``lock``."""
        prompt, shared = self.tokens(messages)
        return self.decoder.warm(prompt[:shared])

    def tokens(self, messages: list[Message]) -> tuple[list[int], int]:
        """The prompt's tokens under the model's own chat template, and how many of them are
        the prefix before the last message (the part shared by every request to a field)."""
        if self._formatter is None:
            self._formatter = {g: _chat_formatter(self.llama, g) for g in (True, False)}
        full = self._render(messages, generation=True)
        head = self._render(messages[:-1], generation=False) if len(messages) > 1 else []
        shared = 0
        for a, b in zip(full, head, strict=False):
            if a != b:
                break
            shared += 1
        return full, shared

    def _render(self, messages: list[Message], generation: bool) -> list[int]:
        result = self._formatter[generation](messages=messages)
        tokens = self.llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        return list(tokens)


def _chat_formatter(llama: Any, add_generation_prompt: bool) -> Any:
    """The GGUF's own chat template (as llama-cpp-python builds it), ChatML without one."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template") or _CHATML
    eos, bos = llama.token_eos(), llama.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
        add_generation_prompt=add_generation_prompt,
    )


_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


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

    out: dict[str, Any] = walk(schema)
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
        raise ModelError(
            "llama.cpp rejected the grammar built from the answer schema "
            "(see the parse error above); the embedded model cannot answer this field"
        )
    llama_cpp.llama_sampler_free(sampler)


_models: dict[str, _LoadedModel] = {}
_models_lock = threading.Lock()
T = TypeVar("T")

# Every llama.cpp call of the process runs on this one thread. llama.cpp's OpenMP keeps a team
# of worker threads per calling thread, and with calls from several threads (asyncio's pool
# hands them out) the idle teams' workers compete for the cores: on 2 cores decoding took
# 54-60 ms a token instead of 44-47 (bench/README.md, embedded speed).
_llama_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-llama")


def _on_llama_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` on the llama thread and wait for it (directly when already there)."""
    if threading.current_thread().name.startswith("gateway-llama"):
        return fn(*args)
    return _llama_thread.submit(fn, *args).result()


@atexit.register
def _close_models() -> None:
    """Free models before interpreter shutdown, when llama.cpp's own finaliser would fail noisily."""
    with _models_lock:
        for loaded in _models.values():
            try:
                if loaded._decoder is not None:
                    loaded._decoder.close()
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


def _load_llama(path: str, n_ctx: int, n_threads: int) -> Any:
    """Open a GGUF with llama.cpp (a seam the tests replace to prove what gets loaded)."""
    from llama_cpp import Llama

    return Llama(
        model_path=path,
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        verbose=False,
    )


class EmbeddedProvider:
    """A local GGUF model behind the Provider interface.

    ``model`` None means the default model, a name from ``model_files.MODELS`` one of the
    packaged models, anything else a path to the user's GGUF. Cheap checks (llama-cpp-python
    and the model's parts or file present) happen here so a misconfigured gateway fails at
    start-up; the join, checksum and load happen on first use or on :meth:`load`.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        n_ctx: int | None = None,
        max_tokens: int | None = None,
        n_threads: int | None = None,
        draft_tokens: int | None = None,
        prefix_cache_mb: int | None = None,
        cache_dir: str | None = None,
    ) -> None:
        _require_llama_cpp()
        self.packaged: model_files.ModelFile | None = None
        self.path: str | None = None
        if model is None or model in model_files.MODELS:
            self.packaged = model_files.model_file(model)
            model_files.locate_parts(self.packaged)  # raises ModelUnavailable with the install command
            self.model_id = f"embedded:{self.packaged.model_id}"
        elif Path(model).expanduser().is_file():
            self.path = model
            self.model_id = f"embedded:{Path(model).stem}"
        elif model.endswith(".gguf") or "/" in model or os.sep in model:
            raise ModelUnavailable(f"embedded model file not found: {model}")
        else:
            raise ModelUnavailable(
                f"unknown embedded model {model!r}: use embedded (the default, "
                f"{model_files.DEFAULT_MODEL}), "
                + ", ".join(f"embedded:{n}" for n in model_files.MODELS)
                + " or embedded:/path/to/model.gguf"
            )
        self.name = self.model_id
        self.n_ctx = n_ctx or DEFAULT_N_CTX
        self.max_tokens = max_tokens or DEFAULT_MAX_TOKENS
        self.n_threads = n_threads or default_threads()
        self.draft_tokens = DEFAULT_DRAFT_TOKENS if draft_tokens is None else draft_tokens
        mb = DEFAULT_PREFIX_CACHE_MB if prefix_cache_mb is None else prefix_cache_mb
        self.prefix_cache_bytes = mb * 1024 * 1024
        self.cache_dir = cache_dir  # None: the user cache folder

    def _resolve_path(self) -> str:
        """The file to load: a verified packaged model (joined on first use) or the user's GGUF."""
        if self.packaged is not None:
            return str(model_files.ensure_model(self.packaged, self.cache_dir))
        assert self.path is not None
        return str(Path(self.path).expanduser().resolve())

    def load(self) -> _LoadedModel:
        """Load the model once per process (thread-safe); later calls return the same one."""
        return _on_llama_thread(self._load_sync)

    def _load_sync(self) -> _LoadedModel:
        with _models_lock:
            path = self._resolve_path()  # verification happens before anything is loaded
            loaded = _models.get(path)
            if loaded is None:
                try:
                    llama = _load_llama(path, self.n_ctx, self.n_threads)
                except ModelError:
                    raise
                except Exception as exc:  # llama.cpp says ValueError for an unreadable GGUF
                    raise ModelUnavailable(f"llama.cpp could not load {path}: {exc}") from exc
                loaded = _models[path] = _LoadedModel(llama, self.model_id, self.prefix_cache_bytes)
            return loaded

    def _complete_sync(self, messages: list[Message], json_schema: dict[str, Any]) -> Completion:
        loaded = self.load()
        with loaded.lock:
            start = time.perf_counter()
            text, prompt_tokens, stats = loaded.answer(
                messages, json_schema, self.max_tokens, self.draft_tokens, self.n_ctx
            )
            latency_ms = (time.perf_counter() - start) * 1000.0
        self.last_stats = stats  # for bench/embedded_bench.py
        return Completion(
            text,
            Usage(
                model=self.model_id,
                prompt_tokens=prompt_tokens,
                completion_tokens=stats.completion_tokens,
                latency_ms=latency_ms,
            ),
        )

    def warm(self, messages: list[Message]) -> bool:
        """Read the prompt prefix of ``messages`` (everything before the last message) into a
        saved state now, so the first request of that field reads only its own tokens. Called
        at start-up for every field; False when the prefix cache is full."""
        return _on_llama_thread(self._warm_sync, messages)

    def _warm_sync(self, messages: list[Message]) -> bool:
        loaded = self.load()
        with loaded.lock:
            return loaded.warm(messages)

    def forget_prefixes(self) -> None:
        """Drop every saved prompt prefix (a process that turns to another schema: the eval,
        which runs four schemas on one model while a server serves one)."""
        _on_llama_thread(lambda: self.load().decoder.prefixes.clear())

    async def complete(self, messages: list[Message], json_schema: dict[str, Any]) -> Completion:
        """Answer under the schema's grammar, greedily; ``latency_ms`` is the model's own time
        (not the wait for the lock or the one-off load).

        The work runs on the llama thread; if the caller times out, that thread still finishes
        its decode (at most ``max_tokens``) before the next call can start.
        """
        return await asyncio.wrap_future(_llama_thread.submit(self._complete_sync, messages, json_schema))
