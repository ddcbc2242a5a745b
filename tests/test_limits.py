"""The bounds on a turn (docs/limits.md), each hit through a real loopback server.

Every test checks the outcome, the message, whether the request was retried (the
server's request count) and how long it took against the bound it rules out. Time
bounds are loose on purpose: each sits far below the time the turn would take
without the limit (a 30 s stall, 15 minutes of retries), and far above the limit.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from ipyllm._engine.limits import DEFAULT_LIMITS, Limits
from ipyllm._wire.lines import EventTooLarge
from ipyllm._wire.ndjson import NDJSONDecoder
from ipyllm._wire.sse import SSEDecoder
from ipyllm.testing import FakeLLMServer, Reply

# configure() changes process-wide settings: undone after each test.
pytestmark = pytest.mark.usefixtures("restore_provider_settings")

KiB = 1024
MiB = 1024 * KiB
SSE_HEADERS = {"content-type": "text/event-stream"}


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    """A keyless OpenAI-compatible endpoint on the fake server; its ``provider:model``."""
    name = f"lim{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
    return f"{name}:m"


def provider_of(model: str) -> str:
    return model.partition(":")[0]


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte: no status, no headers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self._listener.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``fn(*args, **kwargs)`` (or the exception it raised) and the seconds it took."""
    started = time.monotonic()
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:
        result = exc
    return result, time.monotonic() - started


def notes(err: BaseException) -> str:
    return " ".join(getattr(err, "__notes__", []))


# ---- the defaults, in one place -----------------------------------------------------


def test_defaults() -> None:
    assert (
        Limits(
            timeout=300.0,
            connect_timeout=15.0,
            deadline=600.0,
            max_answer_chars=8 * MiB,
            max_event_bytes=8 * MiB,
        )
        == DEFAULT_LIMITS
    )
    assert SSEDecoder()._buffer.limit == NDJSONDecoder()._buffer.limit == 8 * MiB


# ---- the decoders: one event or line, bounded -------------------------------------------


def _feed_until_refused(decoder: SSEDecoder | NDJSONDecoder, chunk: bytes, limit: int) -> int:
    """Feed ``chunk`` again and again; the bytes fed when the decoder refused. Checks that
    it never held more than the limit plus one chunk."""
    fed = 0
    refused: EventTooLarge | None = None
    while refused is None and fed < 100 * limit:
        fed += len(chunk)
        try:
            decoder.feed(chunk)
        except EventTooLarge as exc:
            refused = exc
        assert decoder.buffered <= limit + len(chunk)
    assert refused is not None, "never refused"
    assert f"{limit:,}-byte limit" in str(refused)
    assert decoder.buffered == 0  # what it held is dropped
    return fed


@pytest.mark.parametrize("cls", [SSEDecoder, NDJSONDecoder])
@pytest.mark.parametrize("chunk_size", [7, 4 * KiB, 64 * KiB])
def test_a_line_without_end_is_refused_once_past_the_limit(
    cls: type[SSEDecoder | NDJSONDecoder], chunk_size: int
) -> None:
    limit = 64 * KiB
    decoder = cls(limit)
    decoder.feed(b"data: " if cls is SSEDecoder else b'{"x": "')
    fed = _feed_until_refused(decoder, b"x" * chunk_size, limit)
    assert fed <= limit + chunk_size  # stopped reading at the limit, not at the end


def test_many_short_data_lines_cannot_add_up_past_the_limit() -> None:
    # No line is long, but the event never ends: its data must not grow without bound.
    limit = 64 * KiB
    decoder = SSEDecoder(limit)
    line = b"data: " + b"y" * 1000 + b"\n"
    fed = _feed_until_refused(decoder, line, limit)
    assert fed <= limit + 2 * len(line)


@pytest.mark.parametrize("cls", [SSEDecoder, NDJSONDecoder])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_a_line_of_exactly_the_limit_passes_and_one_more_byte_does_not(
    cls: type[SSEDecoder | NDJSONDecoder], ending: bytes
) -> None:
    limit = 4 * KiB
    if cls is NDJSONDecoder and ending == b"\r\n":
        ending = b"\n"  # NDJSON lines end at LF: a CR before it is part of the line

    def line(size: int) -> bytes:
        if cls is SSEDecoder:
            return b"data: " + b"z" * (size - 6) + ending + ending
        return b'"' + b"z" * (size - 2) + b'"' + ending

    # Fed whole (one block over the limit) and byte-range split (the tail buffered).
    for split in (None, limit // 2):
        body = line(limit)
        pieces = [body] if split is None else [body[:split], body[split:]]
        decoder = cls(limit)
        out = [item for piece in pieces for item in decoder.feed(piece)] + decoder.flush()
        assert len(out) == 1
        decoder = cls(limit)
        body = line(limit + 1)
        pieces = [body] if split is None else [body[:split], body[split:]]
        for piece in pieces[:-1]:
            decoder.feed(piece)
        with pytest.raises(EventTooLarge):
            decoder.feed(pieces[-1])


def test_a_huge_read_holding_an_oversized_line_is_refused() -> None:
    # One read far larger than the limit: refused by measuring its lines, not buffered on.
    decoder = SSEDecoder(64 * KiB)
    ok = b'data: {"a": 1}\n\n'
    with pytest.raises(EventTooLarge):
        decoder.feed(ok * 100 + b"data: " + b"x" * (1 * MiB) + b"\n\n" + ok)


def test_ordinary_streams_are_unchanged_by_the_limit() -> None:
    body = b"".join(b'data: {"i": %d}\n\n' % i for i in range(5000))
    for size in (1, 7, 4096, len(body)):
        decoder = SSEDecoder(64)  # each event is below 64 bytes
        events = []
        for i in range(0, len(body), size):
            events += decoder.feed(body[i : i + size])
        events += decoder.flush()
        assert [json.loads(e.data)["i"] for e in events] == list(range(5000))


# ---- the deadline ---------------------------------------------------------------------


def test_deadline_ends_a_stalled_stream_with_the_partial(fake: FakeLLMServer, model: str) -> None:
    fake.add_reply(Reply(["Half ", "an ", "answer"], stall_after=2, stall_s=30))
    s = ipyllm.Session(model, deadline=2)
    err, took = timed(s.ask, "hi")
    assert isinstance(err, ipyllm.TimeoutError), err
    assert 1.8 < took < 10  # at the deadline, not after the 30 s stall
    assert "2 s deadline" in str(err)
    assert "deadline=" in str(err)
    assert "--deadline" in str(err)
    assert err.partial == "Half an "
    assert s.tab.text == "Half an "
    assert s.tab.status == "error"
    assert len(fake.requests) == 1


def test_deadline_ends_a_stream_kept_alive_by_comments(fake: FakeLLMServer, model: str) -> None:
    # Before: an SSE comment every second kept a stream with timeout=2 alive forever.
    # Here one every 0.5 s, for 30 s, after two pieces of text.
    size = 128

    def frame(line: str) -> bytes:
        raw = line.encode()
        return raw + b" " * (size - 2 - len(raw)) + b"\n\n"  # one HTTP chunk per frame

    def text(piece: str) -> bytes:
        delta = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        return frame("data: " + json.dumps(delta))

    body = text("still ") + text("thinking") + frame(": keep-alive") * 60
    fake.add_reply(Reply(body=body, headers=SSE_HEADERS, chunk_size=size, delay_s=0.5))
    s = ipyllm.Session(model, timeout=2, deadline=3)
    err, took = timed(s.ask, "hi")
    assert isinstance(err, ipyllm.TimeoutError), err
    assert "3 s deadline" in str(err)  # the deadline, not the 2 s idle timeout
    assert 2.8 < took < 12
    assert err.partial == s.tab.text == "still thinking"
    assert len(fake.requests) == 1
    assert fake.wait_for_disconnect(5)  # the connection was closed, not left streaming


def test_a_server_that_never_answers_ends_at_the_deadline(silent: SilentServer) -> None:
    # Before: 300 s idle timeout x 3 attempts, about 15 minutes, before ask() raised.
    name = f"silent{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, f"http://127.0.0.1:{silent.port}/v1", models=["m"])
    s = ipyllm.Session(f"{name}:m", deadline=1.5)  # default timeout and retries
    err, took = timed(s.ask, "hi")
    assert isinstance(err, ipyllm.TimeoutError), err
    assert "1.5 s deadline" in str(err)
    assert "1 attempt" in str(err)
    assert 1.4 < took < 8
    assert len(silent.accepted) == 1  # the first attempt was still waiting: no retry


def test_retries_stop_at_the_deadline(fake: FakeLLMServer, model: str) -> None:
    # Each attempt times out after 0.5 s of silence and is retried; without the deadline,
    # 6 attempts and 5 backoffs (0.5, 1, 2, 4, 8 s) would take about 18 s.
    fake.default_reply = Reply("never sent", stall_after=0, stall_s=30)
    try:
        s = ipyllm.Session(model, timeout=0.5, deadline=1.5, max_retries=5)
        err, took = timed(s.ask, "hi")
    finally:
        fake.default_reply = Reply()
    assert isinstance(err, ipyllm.TimeoutError), err
    # Either the deadline cut the second attempt, or that attempt timed out just before
    # it and its retry was not started because the backoff would pass the deadline.
    assert "deadline" in str(err) + notes(err)
    assert took < 5
    assert 2 <= len(fake.requests) <= 3  # only the attempts that fit in 1.5 s


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(
    fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply(status=429, headers={"retry-after": "30"})
    fake.add_reply("too late")
    err, took = timed(ipyllm.Session(model, deadline=5).ask, "hi")
    assert isinstance(err, ipyllm.RateLimitError), err
    assert err.retry_after == 30
    assert "5 s deadline would pass" in notes(err)
    assert took < 4  # raised at once, not after sleeping to the deadline
    assert len(fake.requests) == 1


def test_one_deadline_covers_the_fallback_models(fake: FakeLLMServer, model: str) -> None:
    other = f"lim{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(other, fake.base_url("openai"), models=["m"])
    fake.add_reply(Reply("stalls", stall_after=0, stall_s=30))
    fake.add_reply("the fallback")
    err, took = timed(ipyllm.Session([model, f"{other}:m"], deadline=1.5).ask, "hi")
    assert isinstance(err, ipyllm.TimeoutError), err
    assert took < 6
    assert len(fake.requests) == 1  # no time was left for the second model


def test_deadline_from_configure_and_a_session_value_wins(fake: FakeLLMServer, model: str) -> None:
    ipyllm.configure(provider_of(model), deadline=1)
    fake.add_reply(Reply("slow", stall_after=0, stall_s=30))
    err, took = timed(ipyllm.Session(model).ask, "hi")
    assert isinstance(err, ipyllm.TimeoutError), err
    assert "1 s deadline" in str(err)
    assert took < 6
    fake.add_reply(Reply(["a ", "b ", "c"], delay_s=0.6))  # 1.8 s: past 1 s, within 10 s
    assert ipyllm.Session(model, deadline=10).ask("hi").text == "a b c"


# ---- the other timeouts -------------------------------------------------------------------


def test_idle_timeout_from_configure(fake: FakeLLMServer, model: str) -> None:
    ipyllm.configure(provider_of(model), timeout=0.5)
    fake.add_reply(Reply(["a ", "b"], stall_after=1, stall_s=30))
    err, took = timed(ipyllm.Session(model, max_retries=0).ask, "hi")
    assert isinstance(err, ipyllm.TimeoutError), err
    assert "sent nothing for 0.5 s" in str(err)
    assert took < 6
    assert err.partial == "a "


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listen queue is full: a new connection hangs (Linux drops the SYN)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    held = []
    for _ in range(8):
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", port))
        except OSError:
            probe.close()
            break
        held.append(probe)
    else:
        listener.close()
        pytest.skip("this system never leaves a connection hanging on a full backlog")
    yield port
    for probe in held:
        probe.close()
    listener.close()


def test_connect_timeout_from_configure(full_backlog: int) -> None:
    name = f"full{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, f"http://127.0.0.1:{full_backlog}/v1", models=["m"])
    ipyllm.configure(name, connect_timeout=0.5)
    err, took = timed(ipyllm.Session(f"{name}:m", max_retries=0).ask, "hi")
    assert isinstance(err, ipyllm.TimeoutError), err
    assert "ConnectTimeout" in str(err)
    assert took < 6  # not the 15 s default


# ---- the answer size ----------------------------------------------------------------------


def test_an_endless_answer_stops_at_max_answer_chars(fake: FakeLLMServer, model: str) -> None:
    # 1.6 MB of text the server would go on sending; the answer stops at 64 Ki characters.
    limit = 64 * KiB
    fake.add_reply(Reply(["abcdefgh"] * 200_000))
    s = ipyllm.Session(model, max_answer_chars=limit)
    r, took = timed(s.ask, "hi")
    assert isinstance(r, ipyllm.Response), r
    assert r.finish_reason == "answer_limit"
    assert limit - 8 < len(r.text) <= limit  # whole pieces, up to the limit
    assert s.tab.text == r.text
    assert s.tab.status == "done"
    assert s.tab.last is not None
    assert s.tab.last.finish_reason == "answer_limit"
    assert fake.wait_for_disconnect(5)  # closed mid-body: the rest was never read
    assert len(fake.requests) == 1
    assert took < 10


def test_reasoning_counts_toward_the_answer_size(fake: FakeLLMServer, model: str) -> None:
    fake.add_reply(Reply(["text "] * 100, reasoning=["think "] * 100))
    r = ipyllm.Session(model, max_answer_chars=1000).ask("hi")
    assert r.finish_reason == "answer_limit"
    assert r.reasoning == "think " * 100  # 600 characters
    assert len(r.text) + len(r.reasoning) <= 1000 < len(r.text) + len(r.reasoning) + 5


def test_answer_size_from_configure_and_a_session_value_wins(
    fake: FakeLLMServer, model: str
) -> None:
    ipyllm.configure(provider_of(model), max_answer_chars=100)
    fake.add_reply(Reply(["0123456789"] * 50))
    assert len(ipyllm.Session(model).ask("hi").text) == 100
    fake.add_reply(Reply(["0123456789"] * 50))
    assert len(ipyllm.Session(model, max_answer_chars=200).ask("hi").text) == 200
    fake.add_reply(Reply(["0123456789"] * 5))
    r = ipyllm.Session(model).ask("hi")
    assert (r.text, r.finish_reason) == ("0123456789" * 5, "stop")  # under it: untouched


# ---- one event or line --------------------------------------------------------------------


@pytest.mark.parametrize("family", ["openai", "ollama"])
def test_an_oversized_event_fails_fast_and_is_not_retried(fake: FakeLLMServer, family: str) -> None:
    if family == "openai":
        name = f"lim{uuid.uuid4().hex[:6]}"
        ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
        body, headers = b"data: " + b"x" * (4 * MiB), SSE_HEADERS
    else:
        name = "ollama"
        ipyllm.configure(name, base_url=fake.base_url("ollama"))
        body, headers = (
            b'{"message": {"content": "' + b"x" * (4 * MiB),
            {"content-type": "application/x-ndjson"},
        )
    ipyllm.configure(name, max_event_bytes=64 * KiB)
    fake.add_reply(Reply(body=body, headers=headers, chunk_size=16 * KiB))
    fake.add_reply("a retry would get this")
    err, took = timed(ipyllm.Session(f"{name}:m").ask, "hi")
    assert isinstance(err, ipyllm.StreamError), err
    assert "sent an event larger than the 64 KiB limit" in str(err)
    assert "max_event_bytes" in str(err)
    assert len(fake.requests) == 1  # not retried
    assert fake.wait_for_disconnect(5)  # stopped reading; the 4 MiB were not all taken
    assert took < 5


def test_the_default_event_limit_holds_end_to_end(fake: FakeLLMServer, model: str) -> None:
    fake.add_reply(Reply(body=b"data: " + b"x" * (9 * MiB) + b"\n\n", headers=SSE_HEADERS))
    err, took = timed(ipyllm.Session(model).ask, "hi")
    assert isinstance(err, ipyllm.StreamError), err
    assert "larger than the 8 MiB limit" in str(err)
    assert len(fake.requests) == 1
    assert took < 10


# ---- refused before anything is sent ---------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"deadline": 0},
        {"deadline": -1},
        {"timeout": "10"},
        {"connect_timeout": float("nan")},
        {"max_answer_chars": 0},
        {"max_answer_chars": 1.5},
        {"deadline": True},
    ],
)
def test_bad_limits_are_refused_before_any_request(
    fake: FakeLLMServer, model: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ipyllm.InvalidOptionError, match=next(iter(kwargs))):
        ipyllm.Session(model, **kwargs)
    with pytest.raises(ipyllm.InvalidOptionError):
        ipyllm.configure(provider_of(model), **kwargs)
    tab = ipyllm.manager().new_tab(model=model)
    try:
        with pytest.raises(ipyllm.InvalidOptionError):
            tab.send("hi", **kwargs)
        assert tab.turns == []
    finally:
        tab.close()
    with pytest.raises(ipyllm.InvalidOptionError):
        ipyllm.configure(provider_of(model), max_event_bytes=0)
    assert fake.requests == []


def test_infinity_turns_a_bound_off(fake: FakeLLMServer, model: str) -> None:
    fake.add_reply(Reply(["a ", "b"], delay_s=0.05))
    s = ipyllm.Session(model, deadline=float("inf"), timeout=float("inf"))
    assert s.ask("hi").text == "a b"


def test_tab_send_and_batch_take_the_limits(fake: FakeLLMServer, model: str) -> None:
    tab = ipyllm.manager().new_tab(model=model)
    try:
        fake.add_reply(Reply(["0123456789"] * 50))
        r = tab.send("hi", max_answer_chars=30).result()
        assert (r.text, r.finish_reason) == ("0123456789" * 3, "answer_limit")
    finally:
        tab.close()
    fake.add_reply(Reply("stalls", stall_after=0, stall_s=30))
    results, took = timed(ipyllm.batch, ["one"], model, deadline=1.5, progress=False)
    assert isinstance(results[0], ipyllm.TimeoutError)
    assert "1.5 s deadline" in str(results[0])
    assert took < 6


# ---- %%llm --timeout, --connect-timeout, --deadline, --max-answer-chars ---------------------


def cell(ip: InteractiveShell, line: str, body: str = "hi") -> tuple[Any, float]:
    started = time.monotonic()
    result = ip.run_cell(f"%%llm {line}\n{body}")
    return result, time.monotonic() - started


def test_magic_deadline(ip: InteractiveShell, fake: FakeLLMServer, model: str) -> None:
    fake.add_reply(Reply(["Partly ", "here"], stall_after=1, stall_s=30))
    result, took = cell(ip, f"{model} -t lim --deadline 1.5")
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    assert "1.5 s deadline" in str(result.error_in_exec)
    assert "partial answer is kept" in str(result.error_in_exec)
    assert ipyllm.manager().tab("lim").text == "Partly "
    assert took < 8


def test_magic_timeout(ip: InteractiveShell, fake: FakeLLMServer, model: str) -> None:
    fake.add_reply(Reply(["Partly ", "here"], stall_after=1, stall_s=30))
    result, took = cell(ip, f"{model} --timeout 0.5")
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    assert "sent nothing for 0.5 s" in str(result.error_in_exec)
    assert took < 8


def test_magic_connect_timeout(ip: InteractiveShell, full_backlog: int) -> None:
    name = f"full{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, f"http://127.0.0.1:{full_backlog}/v1", models=["m"])
    result, took = cell(ip, f"{name}:m --connect-timeout 0.5 --deadline 30")
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    assert "ConnectTimeout" in str(result.error_in_exec)
    assert took < 8  # three attempts of 0.5 s and two backoffs, not 15 s each


def test_magic_max_answer_chars(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add_reply(Reply(["0123456789"] * 50))
    result, _ = cell(ip, f"{model} -t big -f text --max-answer-chars 25 -o r")
    assert result.success, result.error_in_exec
    assert ip.user_ns["r"].text == "0123456789" * 2
    assert ip.user_ns["r"].finish_reason == "answer_limit"
    assert "cut at max_answer_chars" in capsys.readouterr().out


def test_magic_refuses_a_bad_limit(ip: InteractiveShell, fake: FakeLLMServer, model: str) -> None:
    result, _ = cell(ip, f"{model} --deadline -1")
    assert isinstance(result.error_in_exec, UsageError)
    assert "deadline must be a number of seconds above 0" in str(result.error_in_exec)
    result, _ = cell(ip, f"{model} --max-answer-chars lots")
    assert isinstance(result.error_in_exec, UsageError)
    assert "invalid int value" in str(result.error_in_exec)
    assert fake.requests == []


# ---- the page ------------------------------------------------------------------------------


def test_the_limits_page_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.001")
    page = (Path(__file__).parent.parent / "docs" / "limits.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert len(blocks) == 3
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/limits.md", "exec"), namespace)
    for name in ("timeout", "connect_timeout", "deadline", "max_answer_chars", "max_event_bytes"):
        assert f"`{name}`" in page
    assert "(limits.md)" in (Path(__file__).parent.parent / "docs" / "sessions.md").read_text()
