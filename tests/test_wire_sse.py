"""SSEDecoder: WHATWG line and field rules, read splits, UTF-8, and real provider transcripts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipyllm._wire.sse import SSEDecoder, SSEEvent

FIXTURES = Path(__file__).parent / "fixtures" / "wire"
SSE_FIXTURES = sorted(FIXTURES.glob("*.sse"))


def decode(chunks: Iterable[bytes]) -> list[SSEEvent]:
    """Feed every chunk to one decoder, then flush; return all events."""
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.flush()
    return events


def reads(body: bytes, size: int) -> list[bytes]:
    """``body`` cut into reads of ``size`` bytes, like a socket would hand them over."""
    return [body[i : i + size] for i in range(0, len(body), size)]


def cut(body: bytes, points: Iterable[int]) -> list[bytes]:
    """``body`` cut at the given offsets (any order, duplicates allowed)."""
    bounds = [0, *sorted(points), len(body)]
    return [body[a:b] for a, b in pairwise(bounds)]


def ev(
    data: str, event: str = "message", id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return SSEEvent(event, data, id, retry)


# ---- line ends ---------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_line_ends(eol: bytes) -> None:
    body = eol.join([b"event: a", b"data: 1", b"data: 2", b"", b"data: 3", b"", b""])
    assert decode([body]) == [ev("1\n2", "a"), ev("3")]
    assert decode(reads(body, 1)) == [ev("1\n2", "a"), ev("3")]


def test_mixed_line_ends_in_one_stream() -> None:
    assert decode([b"data: a\r\ndata: b\rdata: c\n\r\n"]) == [ev("a\nb\nc")]


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    decoder = SSEDecoder()
    # If the "\n" were read as a blank line, "b" would be a second event.
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [ev("a\nb")]
    assert decoder.feed(b"\n") == []
    assert decoder.flush() == []


def test_crlf_split_with_an_empty_read_between() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [ev("a\nb")]


def test_cr_then_cr_is_a_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # The line is complete at its "\r": no waiting for the next read to dispatch.
    assert decoder.feed(b"\r") == [ev("a")]


def test_line_terminated_by_cr_is_processed_without_waiting() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [ev("a")]


# ---- fields ------------------------------------------------------------------


def test_comments_are_ignored_including_mid_stream_and_mid_event() -> None:
    body = (
        b": OPENROUTER PROCESSING\n\n"
        b"data: a\n: OPENROUTER PROCESSING\ndata: b\n\n"
        b": OPENROUTER PROCESSING\n\n"
        b":\n"
        b"data: c\n\n"
    )
    assert decode([body]) == [ev("a\nb"), ev("c")]


def test_event_field_names_the_event_and_resets_after_dispatch() -> None:
    body = b"event: delta\ndata: x\n\ndata: y\n\nevent:\ndata: z\n\n"
    assert decode([body]) == [ev("x", "delta"), ev("y"), ev("z")]


def test_multiline_data_joined_with_newline() -> None:
    assert decode([b"data: a\ndata:\ndata: c\n\n"]) == [ev("a\n\nc")]


def test_only_one_leading_space_is_stripped() -> None:
    body = b"data:a\n\ndata:  b \n\nevent:  e\ndata:\n\n"
    assert decode([body]) == [ev("a"), ev(" b "), ev("", " e")]


def test_line_without_colon_is_field_with_empty_value() -> None:
    assert decode([b"data\ndata\n\n"]) == [ev("\n")]
    assert decode([b"event\ndata: x\n\n"]) == [ev("x")]


def test_colon_in_value_is_kept() -> None:
    assert decode([b'data: {"a": "b:c"}\n\n']) == [ev('{"a": "b:c"}')]


def test_unknown_fields_are_ignored() -> None:
    assert decode([b"foo: bar\nData: no\ndata: yes\nbaz\n\n"]) == [ev("yes")]


def test_id_persists_across_events_and_ignores_nul() -> None:
    body = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\0x\ndata: c\n\nid\ndata: d\n\n"
    assert decode([body]) == [ev("a", id="1"), ev("b", id="1"), ev("c", id="1"), ev("d", id="")]


def test_retry_digits_only_and_per_event() -> None:
    body = (
        b"retry: 3000\ndata: a\n\n"
        b"data: b\n\n"
        b"retry: 12x\ndata: c\n\n"
        b"retry: -1\nretry:\nretry: \xc2\xb2\ndata: d\n\n"
    )
    assert decode([body]) == [ev("a", retry=3000), ev("b"), ev("c"), ev("d")]


def test_event_without_data_is_not_dispatched() -> None:
    body = b"event: ping\n\nid: 7\nretry: 5\n\ndata: x\n\n"
    # The id persists (spec), but the event type and retry of the undispatched block do not.
    assert decode([body]) == [ev("x", id="7")]


def test_blank_lines_alone_dispatch_nothing() -> None:
    assert decode([b"\n\n\r\n\r\r"]) == []


# ---- end of stream -----------------------------------------------------------


def test_flush_dispatches_event_without_trailing_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [ev("a")]
    assert decoder.flush() == [ev("b")]


def test_flush_dispatches_unterminated_last_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: e\ndata: a\ndata: b") == []
    assert decoder.flush() == [ev("a\nb", "e")]


def test_flush_on_nothing_pending() -> None:
    decoder = SSEDecoder()
    assert decoder.flush() == []
    assert decoder.feed(b"data: a\n\n") == [ev("a")]
    assert decoder.flush() == []
    assert decoder.flush() == []


def test_flush_resets_the_decoder() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\nevent: e\ndata: partial")
    assert decoder.flush() == [ev("partial", "e", id="1")]
    assert decoder.feed(b"\xef\xbb\xbfdata: fresh\n\n") == [ev("fresh")]


def test_flush_of_an_unterminated_comment_or_empty_event() -> None:
    assert decode([b": keep-alive"]) == []
    assert decode([b"event: e\n"]) == []


# ---- BOM and UTF-8 -----------------------------------------------------------


def test_bom_at_start_is_stripped() -> None:
    body = b"\xef\xbb\xbfdata: a\n\n"
    assert decode([body]) == [ev("a")]
    assert decode(reads(body, 1)) == [ev("a")]
    assert decode(reads(body, 2)) == [ev("a")]


def test_bom_only_stripped_once_and_only_at_start() -> None:
    # A second BOM makes the field name "\ufeffdata", an unknown field.
    assert decode([b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n"]) == []
    assert decode([b"data: a\n\n\xef\xbb\xbfdata: b\n\n"]) == [ev("a")]
    assert decode([b"data: \xef\xbb\xbfa\n\n"]) == [ev("\ufeffa")]


def test_partial_bom_prefix_is_content() -> None:
    # Bytes that start like a BOM but are not one still reach the parser (as U+FFFD).
    assert decode([b"\xef\xbb"]) == []
    assert decode([b"\xef", b"data: a\n\n"]) == []  # the field name is "\ufffddata"
    assert decode([b"\xef\xbbx\n"]) == []


def test_emoji_split_at_every_byte_offset() -> None:
    body = "event: é\ndata: a😊b日本\n\n".encode()
    expected = [ev("a😊b日本", "é")]
    assert decode([body]) == expected
    for i in range(len(body) + 1):
        for j in range(i, len(body) + 1):
            assert decode([body[:i], body[i:j], body[j:]]) == expected, (i, j)


def test_invalid_utf8_is_replaced_not_raised() -> None:
    body = b"data: a\xff\xfeb\ndata: \xf0\x9f\x98\n\n"  # junk, then a truncated emoji
    expected = [ev("a\ufffd\ufffdb\n\ufffd")]
    assert decode([body]) == expected
    assert decode(reads(body, 1)) == expected


# ---- property: any split decodes like the whole --------------------------------

_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("é😊日本 :"),
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
    ),
    max_size=12,
)
_event = st.tuples(
    st.one_of(st.none(), _text),  # event name; None means no event: line
    st.lists(_text, min_size=1, max_size=4),  # data lines
    st.lists(_text, max_size=2),  # comments interleaved before the data lines
    st.lists(_text, max_size=2),  # comment-only blocks after the event, like keep-alives
)
_eol = st.sampled_from(["\n", "\r", "\r\n"])


Event = tuple[str | None, list[str], list[str], list[str]]


def serialize(events: list[Event], eol: str) -> bytes:
    """Events as a server would send them; a leading space keeps each value's own spaces."""
    out: list[str] = []
    for name, data, comments, keepalives in events:
        if name is not None:
            out.append(f"event: {name}")
        out.extend(f":{c}" for c in comments)
        out.extend(f"data: {d}" for d in data)
        out.append("")
        for c in keepalives:
            out += [f":{c}", ""]
    return "".join(line + eol for line in out).encode()


@settings(max_examples=300)
@given(events=st.lists(_event, max_size=8), eol=_eol, data=st.data())
def test_any_split_decodes_like_the_whole(
    events: list[Event], eol: str, data: st.DataObject
) -> None:
    body = serialize(events, eol)
    whole = decode([body])
    assert whole == [ev("\n".join(d), n or "message") for n, d, _, _ in events]
    points = data.draw(st.lists(st.integers(0, len(body)), max_size=12), label="cut points")
    assert decode(cut(body, points)) == whole


@settings(max_examples=300)
@given(
    body=st.binary(max_size=200).map(lambda b: b.replace(b"X", b"\ndata: ")),
    data=st.data(),
)
def test_arbitrary_bytes_never_raise_and_split_like_the_whole(
    body: bytes, data: st.DataObject
) -> None:
    whole = decode([body])
    points = data.draw(st.lists(st.integers(0, len(body)), max_size=12), label="cut points")
    assert decode(cut(body, points)) == whole


# ---- real provider transcripts -----------------------------------------------


def reference(text: str) -> list[tuple[str, str]]:
    """A deliberately naive decoder for LF text: blocks between blank lines -> (event, data)."""
    out = []
    for block in text.split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value or "message"
        if data:
            out.append((name, "\n".join(data)))
    return out


def test_fixtures_exist() -> None:
    assert len(SSE_FIXTURES) >= 20
    manifest = json.loads((FIXTURES / "MANIFEST.json").read_text())
    assert {e["file"] for e in manifest if e["wire_format"] == "sse"} >= {
        p.name for p in SSE_FIXTURES
    }


@pytest.mark.parametrize("path", SSE_FIXTURES, ids=lambda p: p.name)
def test_real_transcript(path: Path) -> None:
    raw = path.read_bytes()
    lf = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    expected = reference(lf.decode())
    assert expected, "every transcript carries at least one data block"
    for body in (raw, lf, lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r")):
        whole = decode([body])
        assert [(e.event, e.data) for e in whole] == expected
        assert decode(reads(body, 1)) == whole
        assert decode(reads(body, 7)) == whole
    for e in whole:
        if e.data != "[DONE]":
            json.loads(e.data)  # every payload survived whole, so it still parses
