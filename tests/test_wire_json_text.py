"""json_text: ``loads`` is ``json.loads``; a ``StringSlot`` reads only what a full parse
would give, and declines everything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipyllm._providers.anthropic import AnthropicAdapter
from ipyllm._providers.openai_chat import OpenAIChatAdapter
from ipyllm._types import StreamEvent
from ipyllm._wire.json_text import StringSlot, loads
from ipyllm._wire.sse import SSEEvent


def outcome(fn: Any, text: str) -> Any:
    try:
        return ("ok", fn(text))
    except ValueError as exc:
        return ("error", type(exc), str(exc))


@pytest.mark.parametrize(
    "text",
    ['{"a":1}', ' {"a":1}', '{"a":1}\n', '{"a":1}x', '{"a":1}{"b":2}', "", "  ", "x", "[1,2]",
     '"s"', "1e5", "\ufeff{}", '{"a":', '{"a":"\x01"}', '{"a":"\\q"}', "null"],
)  # fmt: skip
def test_loads_is_json_loads(text: str) -> None:
    assert outcome(loads, text) == outcome(json.loads, text)


@given(st.text(max_size=30))
def test_loads_is_json_loads_on_any_text(text: str) -> None:
    assert outcome(loads, text) == outcome(json.loads, text)


def content(obj: Any) -> Any:
    return obj["choices"][0]["delta"]["content"]


CHUNK = '{"id":"c1","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}'


def test_slot_reads_the_same_document_with_other_text() -> None:
    slot = StringSlot.learn(CHUNK, "content", content)
    assert slot is not None
    for text in ["", " w1", 'a "quoted" \\ back', "é\u2028\n\t", "\U0001f600"]:
        doc = CHUNK.replace('"hi"', json.dumps(text))
        assert slot.read(doc) == text == content(json.loads(doc))
        doc = CHUNK.replace('"hi"', json.dumps(text, ensure_ascii=False))
        assert slot.read(doc) == text


@pytest.mark.parametrize(
    "doc",
    [
        CHUNK.replace('"c1"', '"c2"'),  # another field changed
        CHUNK.replace('"hi"', '"a","x":"b"'),  # more than one token in the slot
        CHUNK.replace('"hi"', '"a" '),
        CHUNK.replace('"hi"', "null"),
        CHUNK.replace('"hi"', "12"),
        CHUNK.replace('"hi"', '"bad \\q escape"'),
        CHUNK.replace('"hi"', '"control \x01"'),
        CHUNK.replace('"hi"', '"'),
        CHUNK.replace('"hi"', ""),
        CHUNK[:-1],
        "",
    ],
)
def test_slot_declines_anything_else(doc: str) -> None:
    slot = StringSlot.learn(CHUNK, "content", content)
    assert slot is not None
    assert slot.read(doc) is None


@pytest.mark.parametrize(
    "doc",
    [
        # The last "content": is another key's (in logprobs), not the delta's.
        '{"choices":[{"index":0,"delta":{"content":"hi"},"logprobs":{"content":"hi"}}]}',
        # Duplicate keys: json.loads keeps the last.
        '{"choices":[{"index":0,"delta":{"content":"hi","content":"hi"}}]}',
        '{"choices":[{"index":0,"delta":{"content":"x","content":"hi"}}]}',
        # Whitespace before the value, and a key that only ends in "content".
        '{"choices":[{"index":0,"delta":{"content":  "hi"},"a\\"content":"hi"}]}',
        '{"choices":[{"index":0,"delta":{"content":12}}]}',
        "not json",
    ],
)
def test_learn_refuses_a_slot_it_cannot_prove(doc: str) -> None:
    slot = StringSlot.learn(doc, "content", content)
    if slot is not None:  # if learnt at all, it must read the delta's content
        other = json.loads(doc)
        assert slot.read(doc) == content(other)
    if "logprobs" in doc or "content\\" in doc:
        assert slot is None


def decode_all(adapter: Any, datas: list[str], event: str = "message") -> list[StreamEvent]:
    state = adapter.new_state()
    out: list[StreamEvent] = []
    for data in datas:
        out += adapter.decode(SSEEvent(event, data, None, None), state)
    return out


def decode_each_fresh(adapter: Any, datas: list[str], event: str = "message") -> list[Any]:
    """The same events, with no slot ever learnt (a fresh state per event, except the
    OpenAI texts, which only the whole-message frame reads)."""
    out: list[StreamEvent] = []
    for data in datas:
        state = adapter.new_state()
        state.learns = 10**9
        out += adapter.decode(SSEEvent(event, data, None, None), state)
    return out


piece = st.text(max_size=6)
ids = st.sampled_from(["a", "b"])


@settings(max_examples=300)
@given(st.lists(st.tuples(ids, piece, st.sampled_from([None, "stop"])), max_size=12))
def test_openai_decode_is_the_same_with_slots(chunks: list[tuple[str, str, str | None]]) -> None:
    datas = [
        json.dumps(
            {"id": i, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": f}]},
            separators=(",", ":"),
            ensure_ascii=len(t) % 2 == 0,
        )
        for i, t, f in chunks
    ]
    adapter = OpenAIChatAdapter()
    assert decode_all(adapter, datas) == decode_each_fresh(adapter, datas)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 1), piece, st.booleans()), max_size=12))
def test_anthropic_decode_is_the_same_with_slots(chunks: list[tuple[int, str, bool]]) -> None:
    datas = [
        json.dumps(
            {
                "type": "content_block_delta",
                "index": i,
                "delta": {"type": "text_delta" if text else "thinking_delta", "text": t,
                          "thinking": t},
            },
            separators=(",", ":"),
        )
        for i, t, text in chunks
    ]  # fmt: skip
    adapter = AnthropicAdapter()
    assert decode_all(adapter, datas, "content_block_delta") == decode_each_fresh(
        adapter, datas, "content_block_delta"
    )


def test_a_slot_is_not_used_under_another_event_name() -> None:
    adapter = OpenAIChatAdapter()
    state = adapter.new_state()
    adapter.decode(SSEEvent("message", CHUNK, None, None), state)
    assert state.slot is not None
    events = adapter.decode(SSEEvent("error", CHUNK, None, None), state)
    assert [type(e).__name__ for e in events] == ["ErrorEvent"]
