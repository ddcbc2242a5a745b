"""NDJSONDecoder: line splitting, blank lines, read splits and UTF-8."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from ipyllm._wire.ndjson import NDJSONDecoder


def decode(chunks: Iterable[bytes]) -> list[str]:
    """Feed every chunk to one splitter, then flush; return all lines."""
    decoder = NDJSONDecoder()
    lines: list[str] = []
    for chunk in chunks:
        lines += decoder.feed(chunk)
    lines += decoder.flush()
    return lines


def cut(body: bytes, points: Iterable[int]) -> list[bytes]:
    """``body`` cut at the given offsets (any order, duplicates allowed)."""
    bounds = [0, *sorted(points), len(body)]
    return [body[a:b] for a, b in pairwise(bounds)]


def test_lf_and_crlf() -> None:
    assert decode([b'{"a":1}\n{"b":2}\n']) == ['{"a":1}', '{"b":2}']
    assert decode([b'{"a":1}\r\n{"b":2}\r\n']) == ['{"a":1}', '{"b":2}']


def test_feed_returns_lines_as_they_complete() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":') == []
    assert decoder.feed(b'1}\n{"b"') == ['{"a":1}']
    assert decoder.feed(b":2}\r") == []
    assert decoder.feed(b"\n") == ['{"b":2}']
    assert decoder.flush() == []


def test_only_a_trailing_cr_is_stripped() -> None:
    # A lone CR is not a line end in NDJSON, and only one CR goes with the LF.
    assert decode([b"a\rb\n"]) == ["a\rb"]
    assert decode([b"a\r\r\n"]) == ["a\r"]


def test_blank_and_whitespace_only_lines_are_skipped() -> None:
    assert decode([b"\n\n  \n\t\r\n\r\n1\n \n2\n\n"]) == ["1", "2"]


def test_other_whitespace_is_kept() -> None:
    assert decode([b'  {"a": 1}  \n']) == ['  {"a": 1}  ']


def test_flush_returns_last_line_without_newline() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b"1\n2") == ["1"]
    assert decoder.flush() == ["2"]
    assert decoder.flush() == []
    assert decode([b"1\r"]) == ["1"]
    assert decode([b"1\n  "]) == ["1"]


def test_flush_resets() -> None:
    decoder = NDJSONDecoder()
    decoder.feed(b"partial")
    assert decoder.flush() == ["partial"]
    assert decoder.feed(b"\xef\xbb\xbf1\n") == ["1"]


def test_empty_feed_and_empty_stream() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b"") == []
    assert decoder.flush() == []


def test_bom_at_start_is_stripped_once() -> None:
    body = b'\xef\xbb\xbf{"a":1}\n\xef\xbb\xbf{"b":2}\n'
    expected = ['{"a":1}', '\ufeff{"b":2}']
    assert decode([body]) == expected
    assert decode([body[i : i + 1] for i in range(len(body))]) == expected


def test_partial_bom_prefix_is_content() -> None:
    assert decode([b"\xef\xbb"]) == ["\ufffd"]
    assert decode([b"\xef", b"1\n"]) == ["\ufffd1"]


def test_emoji_split_at_every_byte_offset() -> None:
    body = '{"t":"a😊é日本"}\n'.encode()
    for i in range(len(body) + 1):
        for j in range(i, len(body) + 1):
            assert decode([body[:i], body[i:j], body[j:]]) == ['{"t":"a😊é日本"}'], (i, j)


def test_invalid_utf8_is_replaced_not_raised() -> None:
    body = b"a\xffb\n\xf0\x9f\x98\n"
    assert decode([body]) == ["a\ufffdb", "\ufffd"]
    assert decode([body[i : i + 1] for i in range(len(body))]) == ["a\ufffdb", "\ufffd"]


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(alphabet=st.sampled_from('aé😊日本 \n\r"\\'), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="ké😊", max_size=4), inner)
    ),
    max_leaves=6,
)


@settings(max_examples=300)
@given(
    records=st.lists(st.tuples(_values, st.sampled_from(["", "\n", " \n", "\r\n"])), max_size=8),
    eol=st.sampled_from(["\n", "\r\n"]),
    data=st.data(),
)
def test_any_split_decodes_like_the_whole(
    records: list[tuple[object, str]], eol: str, data: st.DataObject
) -> None:
    # json.dumps escapes "\n" and "\r" inside strings, so each record is one line.
    lines = [json.dumps(v, ensure_ascii=False) for v, _ in records]
    body = "".join(line + eol + blank for line, (_, blank) in zip(lines, records, strict=True))
    raw = body.encode()
    whole = decode([raw])
    assert whole == lines
    assert [json.loads(line) for line in whole] == [v for v, _ in records]
    points = data.draw(st.lists(st.integers(0, len(raw)), max_size=12), label="cut points")
    assert decode(cut(raw, points)) == whole


@settings(max_examples=300)
@given(body=st.binary(max_size=200), data=st.data())
def test_arbitrary_bytes_never_raise_and_split_like_the_whole(
    body: bytes, data: st.DataObject
) -> None:
    whole = decode([body])
    points = data.draw(st.lists(st.integers(0, len(body)), max_size=12), label="cut points")
    assert decode(cut(body, points)) == whole
