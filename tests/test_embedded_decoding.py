"""The embedded decoder: prompt-lookup drafts, saved prefix states, and both on a real model.

The draft lookup and the prefix store are plain Python and run everywhere; the real-model tests
run where llama-cpp-python and the small model's parts are installed (the faster model keeps
CI short; the decoder is the same for every GGUF).
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from test_embedded import _real_model_skip_reason

from gateway.llm import embedded  # internal: the embedded provider is what this covers
from gateway.llm.decoding import PrefixStates, lookup_draft  # internal: units of the decoder

SMALL = "qwen2.5-coder-0.5b"


def test_draft_is_what_followed_the_latest_match_of_the_last_ngram() -> None:
    context = np.array([1, 2, 3, 9, 9, 1, 2, 3, 4, 5, 6, 7, 2, 3], dtype=np.intc)
    assert lookup_draft(context, 3) == [4, 5, 6]  # (2, 3) last seen before ... 4 5 6, not 9 9
    assert lookup_draft(context, 10) == [4, 5, 6, 7, 2, 3]  # stops at the end of the context
    assert lookup_draft(np.array([5, 6, 7], dtype=np.intc), 4) == []  # nothing repeats


def test_prefix_states_return_the_longest_saved_prefix_and_drop_the_oldest() -> None:
    states = PrefixStates(max_bytes=10)
    states.put((1, 2), b"aaaa")
    states.put((1, 2, 3, 4), b"bbbb")
    assert states.best([1, 2, 3, 4, 5]) == (1, 2, 3, 4)
    assert states.best([1, 2, 3, 9]) == (1, 2)
    assert states.best([2, 2]) is None
    states.get((1, 2))  # now the most recently used
    states.put((7,), b"cccc")  # 12 bytes > 10: the least recently used goes
    assert (1, 2, 3, 4) not in states and (1, 2) in states and (7,) in states
    states.put((8,), b"x" * 11)  # larger than the whole budget: not kept
    assert (8,) not in states
    states.clear()  # another schema's turn: all the room again
    assert len(states) == 0 and states.room(10)


def _skip_without_small_model() -> None:
    reason = _real_model_skip_reason(SMALL)
    if reason is not None:
        pytest.skip(reason)


def _field_messages(field: str, request: str) -> list[dict[str, str]]:
    """The gateway's prompt shape: shared instructions, a field's worked example, the request."""
    return [
        {"role": "system", "content": "Answer with JSON: the name of the field and the words of the request."},
        {"role": "user", "content": f"Field: {field}\nRequest: an example"},
        {"role": "assistant", "content": json.dumps({"field": field, "words": ["an", "example"]})},
        {"role": "user", "content": f"Field: {field}\nRequest: {request}"},
    ]


SCHEMA = {
    "type": "object",
    "properties": {"field": {"type": "string"}, "words": {"type": "array", "items": {"type": "string"}}},
    "required": ["field", "words"],
    "additionalProperties": False,
}


def test_real_model_switching_back_to_a_field_restores_its_prefix() -> None:
    _skip_without_small_model()
    provider = embedded.EmbeddedProvider(SMALL, max_tokens=48)
    first = asyncio.run(provider.complete(_field_messages("tasks", "buy oat milk"), SCHEMA))
    asyncio.run(provider.complete(_field_messages("people", "who is Ada"), SCHEMA))
    again = asyncio.run(provider.complete(_field_messages("tasks", "buy oat milk"), SCHEMA))
    stats = provider.last_stats
    assert stats.restored_tokens > 0  # the "tasks" prefix came back from its saved state
    assert stats.prompt_tokens - stats.reused_tokens < stats.restored_tokens  # only the request was read
    assert again.text == first.text
    assert json.loads(again.text)["field"] == "tasks"


def test_real_model_accepts_drafts_when_the_answer_repeats_the_prompt() -> None:
    _skip_without_small_model()
    provider = embedded.EmbeddedProvider(SMALL, max_tokens=64, draft_tokens=8)
    wanted = {"field": "projects", "words": ["alpha", "beta", "gamma", "delta", "epsilon"]}
    messages = [
        {"role": "system", "content": "Repeat the user's JSON exactly."},
        {"role": "user", "content": json.dumps(wanted)},
    ]
    completion = asyncio.run(provider.complete(messages, SCHEMA))
    assert json.loads(completion.text) == wanted
    assert provider.last_stats.accepted > 0
    assert provider.last_stats.forward_passes < provider.last_stats.completion_tokens


def test_real_model_stops_when_the_object_closes_without_a_pass_for_the_last_token() -> None:
    _skip_without_small_model()
    provider = embedded.EmbeddedProvider(SMALL, max_tokens=64)
    completion = asyncio.run(provider.complete(_field_messages("tasks", "buy oat milk"), SCHEMA))
    stats = provider.last_stats
    assert json.loads(completion.text)["field"] == "tasks"  # whole, not cut
    assert completion.text.rstrip().endswith("}")
    # every token but the closing one was evaluated for the next; the closing one needs no pass
    assert stats.forward_passes == stats.completion_tokens - 1


def test_real_model_a_warmed_field_reads_only_its_request() -> None:
    _skip_without_small_model()
    provider = embedded.EmbeddedProvider(SMALL, max_tokens=48)
    assert provider.warm(_field_messages("projects", "anything"))  # what serve does at start-up
    assert provider.warm(_field_messages("tags", "anything"))  # the live context moves on
    answer = asyncio.run(provider.complete(_field_messages("projects", "archive Apollo"), SCHEMA))
    stats = provider.last_stats
    assert stats.restored_tokens > 0  # the warmed prefix came back from its saved state
    assert stats.prompt_tokens - stats.reused_tokens < 20  # only the request's own tokens were read
    assert json.loads(answer.text)["field"] == "projects"


def test_an_answer_caught_in_a_loop_is_stopped() -> None:
    from gateway.llm.decoding import looping  # internal: a unit of the decoder

    cycle = [11, 12, 13, 14, 15, 16, 17]
    assert looping([1, 2, 3, *cycle * 5])  # the same seven tokens five times in a row
    assert not looping([1, 2, 3, *cycle * 4])
    assert not looping(list(range(400)))  # long, but nothing repeats
    assert looping([1, 2, *[9] * 32]) and not looping([1, 2, *[9] * 31])  # one token, inside a string
    records = [[20, 21, 22, 30 + i, 23, 24] for i in range(8)]  # rows alike but for one value
    assert not looping([t for r in records for t in r])
