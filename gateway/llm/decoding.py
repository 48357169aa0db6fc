"""Greedy decoding under a grammar on a llama.cpp context, with the shortcuts the bench kept.

llama-cpp-python's own loop runs the grammar over the whole vocabulary (152k tokens for Qwen)
at every step and evaluates draft tokens only with ``logits_all`` on (a logits row for every
prompt token). This loop does the same greedy decode with less work:

- **Grammar check on the model's own choice first.** The greedy token is checked against the
  grammar alone; only when the grammar rejects it is the whole vocabulary filtered (what
  llama.cpp's own ``common_sampler`` does). The answer is the same as filtering first.
- **Drafts by prompt lookup (off by default).** A JSON plan repeats the prompt's names and the
  examples' shape, so the tokens that followed the last occurrence of the current n-gram are
  proposed and checked in one batch; each accepted draft token saves a forward pass. On two
  idle CPU cores a batch of 3 tokens costs 2.3 forward passes and about half the drafts are
  rejected, so drafts made decoding slower at every size tried (bench/README.md); they pay
  where a batch costs little more than one token.
- **No pass after the last token.** An answer is one JSON object: once the grammar would accept
  the end of generation, only whitespace could follow, so the loop stops there instead of
  evaluating the closing brace to be told so (one forward pass saved per answer).
- **Saved prefixes.** The KV cache of each distinct prompt prefix (everything before the last
  user message: instructions, SDL, worked examples of one field) is kept, so switching back to
  a field restores its prefix instead of prefilling it again. States are only the KV cells of
  that prefix (tens of MB), bounded in total.
"""

from __future__ import annotations

import ctypes
import math
from collections import OrderedDict
from collections.abc import Sequence, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np

DRAFT_NGRAM = 3  # longest n-gram looked up in the context


@dataclass
class DecodeStats:
    """Where a call's time went (token counts; the caller measures time)."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose KV was already there (live or restored)
    restored_tokens: int = 0  # of those, restored from a saved prefix state
    completion_tokens: int = 0
    forward_passes: int = 0  # decode calls after the prompt (one per step, drafts included)
    drafted: int = 0
    accepted: int = 0
    grammar_fallbacks: int = 0  # steps where the greedy token broke the grammar
    looped: bool = False  # stopped early: the answer had fallen into a repeating loop


class PrefixStates:
    """Saved KV states of prompt prefixes, least recently used dropped first past ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._states: OrderedDict[tuple[int, ...], Sized] = OrderedDict()
        self._bytes = 0

    def best(self, tokens: Sequence[int]) -> tuple[int, ...] | None:
        """The longest saved prefix of ``tokens``."""
        best: tuple[int, ...] | None = None
        for key in self._states:
            if len(key) <= len(tokens) and (best is None or len(key) > len(best)) and tuple(tokens[: len(key)]) == key:
                best = key
        return best

    def get(self, key: tuple[int, ...]) -> Any:
        self._states.move_to_end(key)
        return self._states[key]

    def put(self, key: tuple[int, ...], state: Sized) -> None:
        if len(state) > self.max_bytes or key in self._states:
            return
        self._states[key] = state
        self._bytes += len(state)
        while self._bytes > self.max_bytes:
            _, old = self._states.popitem(last=False)
            self._bytes -= len(old)

    def clear(self) -> None:
        self._states.clear()
        self._bytes = 0

    def room(self, n_bytes: int) -> bool:
        """Whether a state of ``n_bytes`` fits without dropping a saved one."""
        return self._bytes + n_bytes <= self.max_bytes

    def __contains__(self, key: tuple[int, ...]) -> bool:
        return key in self._states

    def __len__(self) -> int:
        return len(self._states)


def looping(out: Sequence[int], repeats: int = 5, span: int = 32, max_period: int = 64) -> bool:
    """Whether the answer ends in one span of tokens repeated in a row: at least ``repeats``
    times, and over at least ``span`` tokens (a one-token period must repeat 32 times).

    Greedy decoding under a grammar can fall into a cycle (``{"fn": "add", "args": [{"fn":
    "mul", ...`` nested, or one character inside a string, until the token limit; seen in the
    eval): the answer is lost either way, so stop at once instead of spending the whole budget.
    """
    n = len(out)
    for period in range(1, max_period + 1):
        times = max(repeats, -(-span // period))
        if period * times > n:
            break
        tail = list(out[n - period :])
        if all(list(out[n - (k + 1) * period : n - k * period]) == tail for k in range(1, times)):
            return True
    return False


def lookup_draft(context: np.ndarray, n_draft: int, ngram: int = DRAFT_NGRAM) -> list[int]:
    """Tokens that followed the latest earlier occurrence of the context's last n-gram
    (longest n first), up to ``n_draft``; empty when nothing matches."""
    size = len(context)
    for n in range(min(ngram, size - 1), 0, -1):
        tail = context[size - n :]
        windows = np.lib.stride_tricks.sliding_window_view(context[: size - 1], n)
        hits = np.nonzero(np.all(windows == tail, axis=1))[0]
        if len(hits):
            start = int(hits[-1]) + n
            return [int(t) for t in context[start : min(start + n_draft, size)]]
    return []


class GrammarDecoder:
    """Greedy, grammar-constrained decoding on one ``llama_cpp.Llama`` (not thread-safe:
    the provider serialises calls)."""

    def __init__(self, llama: Any, prefix_cache_bytes: int) -> None:
        import llama_cpp

        self.llama = llama
        self.lib = llama_cpp
        self.vocab = llama._model.vocab
        self.n_vocab = llama.n_vocab()
        self.prefixes = PrefixStates(prefix_cache_bytes)
        # Any: llama-cpp-python types the struct's fields as ctypes classes (id: c_int32), but ctypes
        # reads and writes them as plain Python numbers
        self._one: Any = (llama_cpp.llama_token_data * 1)()
        self._one_arr = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        self._ids = np.arange(self.n_vocab, dtype=np.intc)
        self._all = (llama_cpp.llama_token_data * self.n_vocab)()
        self._all_np = np.ctypeslib.as_array(self._all).view(
            np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
        )
        self._batch = llama_cpp.llama_batch_init(max(llama.n_batch, 64), 0, 1)
        eos = llama_cpp.llama_vocab_eos(self.vocab)
        self._end = eos if eos >= 0 else llama_cpp.llama_vocab_eot(self.vocab)

    def close(self) -> None:
        if self._batch is not None:
            self.lib.llama_batch_free(self._batch)
            self._batch = None

    # -- the KV cache -------------------------------------------------------------------

    def _keep(self, n: int) -> None:
        """Drop every KV cell from position ``n`` on."""
        self.llama._ctx.kv_cache_seq_rm(-1, n, -1)
        self.llama.n_tokens = n

    def _decode(self, tokens: Sequence[int], all_logits: bool) -> None:
        """Evaluate tokens after the current ones (in n_batch chunks); logits for the last,
        or for every token when ``all_logits``."""
        llama, b = self.llama, self._batch
        for i in range(0, len(tokens), llama.n_batch):
            chunk = tokens[i : i + llama.n_batch]
            n_past = llama.n_tokens
            b.n_tokens = len(chunk)
            for j, t in enumerate(chunk):
                b.token[j] = t
                b.pos[j] = n_past + j
                b.n_seq_id[j] = 1
                b.seq_id[j][0] = 0
                b.logits[j] = all_logits
            b.logits[len(chunk) - 1] = True
            rc = self.lib.llama_decode(llama._ctx.ctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
            llama.input_ids[n_past : n_past + len(chunk)] = chunk
            llama.n_tokens = n_past + len(chunk)

    def _logits(self, i: int) -> np.ndarray:
        ptr = self.lib.llama_get_logits_ith(self.llama._ctx.ctx, i)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def _save_state(self) -> Sized:
        """The KV state of the live context, in the ctypes buffer llama.cpp wrote it to: restoring
        hands that buffer back as it is (a copy of tens of MB per restore saved)."""
        ctx = self.llama._ctx.ctx
        size = self.lib.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        n: int = self.lib.llama_state_seq_get_data(ctx, buf, size, 0)
        return buf if n == size else (ctypes.c_uint8 * n).from_buffer_copy(buf)

    def _restore_state(self, key: tuple[int, ...]) -> bool:
        state = self.prefixes.get(key)
        self._keep(0)
        if self.lib.llama_state_seq_set_data(self.llama._ctx.ctx, state, len(state), 0) == 0:
            self._keep(0)
            return False
        self.llama.input_ids[: len(key)] = key
        self.llama.n_tokens = len(key)
        return True

    def _reuse(self, tokens: list[int], stats: DecodeStats) -> int:
        """Keep the longest start of ``tokens`` the KV cache holds or a saved prefix restores
        (never all of them: the last is evaluated for its logits); returns its length."""
        llama = self.llama
        have = llama.input_ids[: llama.n_tokens]
        common = 0
        for a, b in zip(have, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)
        saved = self.prefixes.best(tokens[: len(tokens) - 1]) if len(self.prefixes) else None
        if saved is not None and len(saved) > common and self._restore_state(saved):
            common = len(saved)
            stats.restored_tokens = common
        self._keep(common)
        stats.reused_tokens = common
        return common

    def warm(self, prefix: list[int]) -> bool:
        """Read a prompt prefix now and save its state, so the first request that starts with
        it reads only its own tokens; False when the prefix cache has no room left for it."""
        key = tuple(prefix)
        if len(prefix) < 2 or key in self.prefixes:
            return key in self.prefixes
        if not self.prefixes.room(len(prefix) * self._bytes_per_token()):
            return False
        common = self._reuse([*prefix, 0], DecodeStats())
        self._decode(prefix[common:], all_logits=False)
        self.prefixes.put(key, self._save_state())
        return key in self.prefixes

    def _bytes_per_token(self) -> int:
        """The KV bytes a token takes in a saved state (measured on the live context)."""
        n: int = self.llama.n_tokens
        if n == 0:
            return 0
        size: int = self.lib.llama_state_seq_get_size(self.llama._ctx.ctx, 0)
        return size // n

    def _prefill(self, prompt: list[int], prefix_len: int, stats: DecodeStats) -> None:
        """Make the KV cache hold ``prompt``, reusing what it holds, or a saved prefix."""
        common = self._reuse(prompt, stats)
        key = tuple(prompt[:prefix_len])
        if self.prefixes.max_bytes > 0 and common < prefix_len < len(prompt) and key not in self.prefixes:
            self._decode(prompt[common:prefix_len], all_logits=False)
            self.prefixes.put(key, self._save_state())
            common = prefix_len
        self._decode(prompt[common:], all_logits=False)

    # -- sampling -------------------------------------------------------------------------

    def _pick(self, grammar: Any, logits: np.ndarray, stats: DecodeStats) -> int:
        """The greedy token the grammar allows, checking the unconstrained choice first."""
        tok = int(np.argmax(logits))
        if grammar is None or self._allows(grammar, tok):
            return tok
        stats.grammar_fallbacks += 1
        self._all_np["id"] = self._ids
        self._all_np["logit"] = logits
        self._all_np["p"] = 0.0
        arr = self.lib.llama_token_data_array(data=self._all, size=self.n_vocab, selected=-1, sorted=False)
        self.lib.llama_sampler_apply(grammar, ctypes.byref(arr))
        best = int(np.argmax(self._all_np["logit"][: arr.size]))
        return int(self._all_np["id"][best])

    def _allows(self, grammar: Any, tok: int) -> bool:
        """Whether the grammar, in its current state, accepts ``tok`` next (one candidate checked)."""
        self._one[0].id = tok
        self._one[0].logit = 0.0
        self._one[0].p = 0.0
        self._one_arr.size = 1
        self._one_arr.selected = -1
        self._one_arr.sorted = False
        self.lib.llama_sampler_apply(grammar, ctypes.byref(self._one_arr))
        return not math.isinf(self._one[0].logit)

    def generate(
        self,
        prompt: list[int],
        prefix_len: int,
        grammar_text: str | None,
        grammar_root: str,
        max_tokens: int,
        n_draft: int,
    ) -> tuple[list[int], DecodeStats]:
        """Greedy completion of ``prompt`` under the grammar (None: free, for the bench), with
        drafts of up to ``n_draft`` tokens."""
        stats = DecodeStats(prompt_tokens=len(prompt))
        grammar = None
        if grammar_text is not None:
            grammar = self.lib.llama_sampler_init_grammar(
                self.vocab, grammar_text.encode("utf-8"), grammar_root.encode("utf-8")
            )
            if not grammar:
                raise ValueError("llama.cpp rejected the grammar")
        try:
            self._prefill(prompt, prefix_len, stats)
            out: list[int] = []
            nxt = self._pick(grammar, self._logits(-1), stats)
            while True:
                self._accept(grammar, nxt)
                if self.lib.llama_vocab_is_eog(self.vocab, nxt) or len(out) >= max_tokens:
                    break
                out.append(nxt)
                if len(out) >= max_tokens:
                    break
                if grammar is not None and self._allows(grammar, self._end):
                    break  # the object is closed: the end is all that can follow (or whitespace)
                if looping(out):
                    stats.looped = True
                    break
                draft: list[int] = []
                if n_draft > 0:
                    context = np.concatenate([np.asarray(prompt, dtype=np.intc), np.asarray(out, dtype=np.intc)])
                    draft = lookup_draft(context, min(n_draft, max_tokens - len(out)))
                batch = [nxt, *draft]
                n_past = self.llama.n_tokens
                self._decode(batch, all_logits=bool(draft))
                stats.forward_passes += 1
                stats.drafted += len(draft)
                for i in range(len(batch)):
                    tok = self._pick(grammar, self._logits(i if draft else -1), stats)
                    if (
                        i + 1 < len(batch)
                        and tok == batch[i + 1]
                        and not self.lib.llama_vocab_is_eog(self.vocab, tok)
                        and len(out) < max_tokens
                    ):
                        self._accept(grammar, tok)
                        out.append(tok)
                        stats.accepted += 1
                        continue
                    self._keep(n_past + i + 1)  # drop the KV of rejected drafts
                    nxt = tok
                    break
            stats.completion_tokens = len(out)
            return out, stats
        finally:
            if grammar is not None:
                self.lib.llama_sampler_free(grammar)

    def _accept(self, grammar: Any, token: int) -> None:
        if grammar is not None:
            self.lib.llama_sampler_accept(grammar, token)
