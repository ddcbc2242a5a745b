"""Events/s of ipyllm's SSEDecoder against httpx-sse's decoding path on an OpenAI-style stream.

Run: ``.venv/bin/python bench/bench_sse_decoder.py`` (needs the ``bench`` extra: httpx-sse).

httpx-sse 0.4.x decodes like this (``httpx_sse._api._iter_sse_lines`` + ``iter_sse``):
``response.iter_text()`` (httpx's incremental UTF-8 ``TextDecoder`` + ``TextChunker``) ->
``httpx_sse._decoders.SSELineDecoder`` -> ``line.rstrip("\\n")`` -> ``SSEDecoder.decode``.
The "decoder" rows replay exactly that on the same byte reads ours gets, with no HTTP in
between; the "httpx.Response" rows run both through a real ``httpx.Response`` body
(``EventSource.iter_sse`` versus our decoder on ``iter_bytes``), httpx's own cost included.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from httpx._decoders import TextChunker, TextDecoder
from httpx_sse import EventSource
from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
from httpx_sse._decoders import SSELineDecoder

# src/ on the path so the bench runs whether or not ipyllm is installed in the venv.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ipyllm._wire.sse import SSEDecoder

N_EVENTS = 20_000
RUNS = 5
WORDS = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", " café"]


def build_body() -> bytes:
    """20,000 ``chat.completion.chunk`` events of ~200 bytes each, then ``data: [DONE]``."""
    parts = []
    for i in range(N_EVENTS):
        chunk = {
            "id": "chatcmpl-ABfw031mOJeYCSHe4yI2ZjOA6kMJL",
            "object": "chat.completion.chunk",
            "created": 1727346168,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {"index": 0, "delta": {"content": WORDS[i % len(WORDS)]}, "finish_reason": None}
            ],
        }
        parts.append(f"data: {json.dumps(chunk, separators=(',', ':'), ensure_ascii=False)}\n\n")
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def split(body: bytes, size: int) -> list[bytes]:
    """The body as a socket would deliver it: reads of ``size`` bytes."""
    return [body[i : i + size] for i in range(0, len(body), size)]


# ---- the two decoders, fed the same list of byte reads -----------------------


def ours(reads: list[bytes]) -> list[str]:
    """Our decoder: bytes straight in, events out."""
    decoder = SSEDecoder()
    out = []
    for chunk in reads:
        for event in decoder.feed(chunk):
            out.append(event.data)
    for event in decoder.flush():
        out.append(event.data)
    return out


def _httpx_iter_text(reads: list[bytes]) -> Iterator[str]:
    """``httpx.Response.iter_text()`` minus the HTTP: the same decoder and chunker."""
    decoder = TextDecoder(encoding="utf-8")
    chunker = TextChunker(chunk_size=None)
    for chunk in reads:
        yield from chunker.decode(decoder.decode(chunk))
    yield from chunker.decode(decoder.flush())
    yield from chunker.flush()


def _httpx_sse_lines(reads: list[bytes]) -> Iterator[str]:
    """``httpx_sse._api._iter_sse_lines`` with the response replaced by its text reads."""
    decoder = SSELineDecoder()
    for text in _httpx_iter_text(reads):
        yield from decoder.decode(text)
    yield from decoder.flush()


def httpx_sse(reads: list[bytes]) -> list[str]:
    """``EventSource.iter_sse`` body, verbatim apart from where the lines come from."""
    decoder = HttpxSSEDecoder()
    out = []
    for line in _httpx_sse_lines(reads):
        line = line.rstrip("\n")
        sse = decoder.decode(line)
        if sse is not None:
            out.append(sse.data)
    return out


# ---- the same, through a real httpx.Response body ------------------------------


class _Reads(httpx.SyncByteStream):
    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._reads)


def _response(reads: list[bytes]) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream; charset=utf-8"}, stream=_Reads(reads)
    )


def ours_response(reads: list[bytes]) -> list[str]:
    """Our decoder on ``response.iter_bytes()``, as an adapter would use it."""
    decoder = SSEDecoder()
    out = []
    for chunk in _response(reads).iter_bytes():
        for event in decoder.feed(chunk):
            out.append(event.data)
    for event in decoder.flush():
        out.append(event.data)
    return out


def httpx_sse_response(reads: list[bytes]) -> list[str]:
    """httpx-sse's public API, ``EventSource(response).iter_sse()``."""
    return [sse.data for sse in EventSource(_response(reads)).iter_sse()]


# ---- timing --------------------------------------------------------------------


def best_of(fn: Callable[[list[bytes]], list[str]], reads: list[bytes]) -> tuple[float, int]:
    """Fastest of RUNS runs, in seconds, and the number of events decoded."""
    best = float("inf")
    n = 0
    for _ in range(RUNS):
        t0 = time.perf_counter()
        n = len(fn(reads))
        best = min(best, time.perf_counter() - t0)
    return best, n


def main() -> None:
    body = build_body()
    expected = N_EVENTS + 1
    print(
        f"Python {sys.version.split()[0]}, {expected:,} events, {len(body):,} bytes "
        f"(~{len(body) // expected} B/event), best of {RUNS}\n"
    )
    cases = [
        ("decoder", "64 KiB", split(body, 64 * 1024), ours, httpx_sse),
        ("decoder", "7 B", split(body, 7), ours, httpx_sse),
        ("httpx.Response", "64 KiB", split(body, 64 * 1024), ours_response, httpx_sse_response),
    ]
    header = ("path", "reads", "ours ev/s", "httpx-sse ev/s", "ours/httpx-sse")
    print("{:<15} {:>7} {:>12} {:>15} {:>15}".format(*header))
    for path, label, reads, fn_ours, fn_theirs in cases:
        # Same events from both, or the timing means nothing.
        assert fn_ours(reads) == fn_theirs(reads), (path, label)
        t_ours, n_ours = best_of(fn_ours, reads)
        t_theirs, n_theirs = best_of(fn_theirs, reads)
        assert n_ours == n_theirs == expected, (n_ours, n_theirs)
        print(
            f"{path:<15} {label:>7} {n_ours / t_ours:>12,.0f} {n_theirs / t_theirs:>15,.0f} "
            f"{t_theirs / t_ours:>14.2f}x"
        )


if __name__ == "__main__":
    main()
