"""The panel's delta coalescer: first token at once, then one message per interval, nothing lost."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from typing import Any

import pytest

import ipyllm
from ipyllm._manager.events import Channel, TabDelta, TabStatus
from ipyllm._panel.coalescer import DeltaCoalescer
from ipyllm._panel.pacer import Pacer

WAIT = 10.0
Key = tuple[str, int, str]


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A thread-safe ``send`` that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.changed = threading.Condition()

    def __call__(self, message: dict[str, Any]) -> None:
        with self.changed:
            self.messages.append(message)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.messages) >= count, timeout)

    @property
    def deltas(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "deltas"]


def reassemble(messages: list[dict[str, Any]]) -> dict[Key, str]:
    """Text per tab, turn and channel; every item must start exactly where the last ended."""
    texts: dict[Key, str] = {}
    for message in messages:
        if message["type"] != "deltas":
            continue
        assert message["items"], "a deltas message is never empty"
        for item in message["items"]:
            key = (item["tab"], item["turn"], item["channel"])
            have = texts.get(key, "")
            assert item["offset"] == len(have), f"gap or overlap in {key}"
            texts[key] = have + item["text"]
    return texts


def deltas(tab: str, pieces: list[str], turn: int = 0, channel: Channel = "text") -> list[TabDelta]:
    out, offset = [], 0
    for piece in pieces:
        out.append(TabDelta(tab, turn, offset, piece, channel))
        offset += len(piece)
    return out


def test_first_delta_is_sent_at_once_and_later_ones_wait_for_the_interval() -> None:
    clock, sent = Clock(), Recorder()
    c = DeltaCoalescer(sent, interval=0.05, clock=clock, thread=False)
    a, b, d = deltas("t1", ["Hel", "lo", " you"])
    c.push(a)
    assert sent.messages == [
        {
            "type": "deltas",
            "items": [{"tab": "t1", "turn": 0, "channel": "text", "offset": 0, "text": "Hel"}],
        }
    ]
    c.push(b)
    clock.now += 0.03
    c.push(d)
    assert not c.flush_due()
    assert len(sent.messages) == 1
    clock.now += 0.021
    assert c.flush_due()
    assert sent.messages[1]["items"] == [
        {"tab": "t1", "turn": 0, "channel": "text", "offset": 3, "text": "lo you"}
    ]
    assert not c.flush_due()  # nothing pending
    # After an idle interval, the next delta goes out at once again.
    clock.now += 0.051
    c.push(TabDelta("t1", 0, 9, "!"))
    assert len(sent.messages) == 3
    assert reassemble(sent.messages) == {("t1", 0, "text"): "Hello you!"}


def test_4000_pieces_in_one_second_make_about_twenty_messages_and_every_byte_once() -> None:
    clock, sent = Clock(), Recorder()
    c = DeltaCoalescer(sent, interval=0.05, clock=clock, thread=False)
    rng = random.Random(7)
    alphabet = "abcdé漢🙂 "
    pieces = ["".join(rng.choice(alphabet) for _ in range(5)) for _ in range(4000)]
    for event in deltas("t1", pieces):
        c.push(event)
        clock.now += 1.0 / 4000  # 4,000 pieces over one second
        c.flush_due()  # what the flusher thread does
    c.close()
    assert len(sent.messages) <= 1.0 / 0.05 + 2
    text = "".join(pieces)
    assert reassemble(sent.messages) == {("t1", 0, "text"): text}
    sent_bytes = sum(len(i["text"].encode()) for m in sent.deltas for i in m["items"])
    assert sent_bytes == len(text.encode())


def test_the_flusher_thread_throttles_real_traffic_and_sends_the_tail_unprompted() -> None:
    sent = Recorder()
    c = DeltaCoalescer(sent, interval=0.05)
    pieces = [f"{i:04d}," for i in range(4000)]
    start = time.monotonic()
    for i, event in enumerate(deltas("t1", pieces)):
        c.push(event)
        if i % 200 == 199:
            time.sleep(0.02)
    elapsed = time.monotonic() - start
    # The tail is flushed within an interval or so, with no further event and no close().
    deadline = time.monotonic() + WAIT
    while reassemble(sent.messages).get(("t1", 0, "text")) != "".join(pieces):
        assert time.monotonic() < deadline, "pending text never flushed"
        time.sleep(0.005)
    assert len(sent.messages) <= elapsed / 0.05 + 3
    c.close()
    assert c._thread is not None
    assert not c._thread.is_alive()


def test_interleaved_tabs_and_channels_keep_order_and_contiguous_offsets() -> None:
    clock, sent = Clock(), Recorder()
    c = DeltaCoalescer(sent, interval=0.05, clock=clock, thread=False)
    rng = random.Random(3)
    streams = {
        ("a", 0, "text"): deltas("a", [f"a{i};" for i in range(300)]),
        ("a", 0, "reasoning"): deltas("a", [f"r{i};" for i in range(200)], channel="reasoning"),
        ("b", 2, "text"): deltas("b", [f"b{i};" for i in range(300)], turn=2),
        ("c", 0, "text"): deltas("c", [f"c{i};" for i in range(100)]),
    }
    queues = {k: list(v) for k, v in streams.items()}
    while any(queues.values()):
        key = rng.choice([k for k, q in queues.items() if q])
        c.push(queues[key].pop(0))  # each stream in order, streams interleaved at random
        clock.now += 0.001
        c.flush_due()
    c.close()
    expected = {k: "".join(e.text for e in v) for k, v in streams.items()}
    assert reassemble(sent.messages) == expected
    assert len(sent.messages) <= 900 * 0.001 / 0.05 + 2
    # One item per tab, turn and channel in a message: contiguous pieces merge.
    for message in sent.deltas:
        keys = [(i["tab"], i["turn"], i["channel"]) for i in message["items"]]
        assert len(keys) == len(set(keys))


def test_a_new_turn_or_a_gap_starts_a_separate_item() -> None:
    clock, sent = Clock(), Recorder()
    c = DeltaCoalescer(sent, interval=0.05, clock=clock, thread=False)
    c.push(TabDelta("t", 0, 0, "x"))  # sent at once
    for event in (TabDelta("t", 0, 1, "ab"), TabDelta("t", 1, 0, "cd"), TabDelta("t", 0, 9, "z")):
        c.push(event)
    c.flush()
    assert [(i["turn"], i["offset"], i["text"]) for i in sent.messages[1]["items"]] == [
        (0, 1, "ab"),
        (1, 0, "cd"),
        (0, 9, "z"),
    ]


def test_a_status_is_sent_at_once_after_the_pending_deltas() -> None:
    clock, sent = Clock(), Recorder()
    c = DeltaCoalescer(sent, interval=0.05, clock=clock, thread=False)
    c.push(TabStatus("t", 0, "streaming"))
    assert sent.messages == [{"type": "status", "tab": "t", "turn": 0, "status": "streaming"}]
    for event in deltas("t", ["one ", "two ", "three"]):
        c.push(event)
    c.push(TabDelta("u", 0, 0, "other"))
    c.push(TabStatus("t", 0, "done"))  # no clock movement: the status does not wait
    assert [m["type"] for m in sent.messages] == ["status", "deltas", "deltas", "status"]
    assert sent.messages[-1] == {"type": "status", "tab": "t", "turn": 0, "status": "done"}
    assert reassemble(sent.messages) == {
        ("t", 0, "text"): "one two three",
        ("u", 0, "text"): "other",
    }
    assert not c.flush_due()


def test_close_flushes_what_is_pending_and_later_events_are_dropped() -> None:
    sent = Recorder()
    c = DeltaCoalescer(sent, interval=60.0)  # the flusher would wait a minute
    for event in deltas("t", ["a", "b", "c"]):
        c.push(event)
    assert len(sent.messages) == 1
    c.close()
    assert c._thread is not None
    assert not c._thread.is_alive()
    assert reassemble(sent.messages) == {("t", 0, "text"): "abc"}
    c.push(TabDelta("t", 0, 3, "d"))
    c.push(TabStatus("t", 0, "done"))
    c.close()  # twice is harmless
    assert len(sent.messages) == 2


def test_a_failing_send_on_the_flusher_thread_is_logged_once_and_flushing_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = Recorder()
    calls = 0

    def flaky(message: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls in (2, 3):
            raise RuntimeError("comm closed")
        sent(message)

    # A long interval: each piece is pushed just after a send, so it waits for the thread.
    c = DeltaCoalescer(flaky, interval=0.1)
    with caplog.at_level(logging.WARNING, logger="ipyllm"):
        c.push(TabDelta("t", 0, 0, "a"))  # call 1, on this thread
        for offset, piece in enumerate("bcd", start=1):
            c.push(TabDelta("t", 0, offset, piece))
            deadline = time.monotonic() + WAIT
            while calls < offset + 1:  # calls 2 and 3 fail on the flusher thread
                assert time.monotonic() < deadline
                time.sleep(0.002)
    c.close()
    assert calls == 4
    assert [m["items"][0]["text"] for m in sent.messages] == ["a", "d"]
    assert len([r for r in caplog.records if "send failed" in r.getMessage()]) == 1


def test_a_demo_tab_streams_through_the_coalescer_in_few_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.005")
    tab = ipyllm.manager().new_tab(title=f"coalesce-{uuid.uuid4().hex[:10]}", model="demo")
    sent = Recorder()
    c = DeltaCoalescer(sent, interval=0.05)
    sub = tab.subscribe(c.push)
    try:
        tab.send("What is a pelican?").result(WAIT)
        with sent.changed:
            assert sent.changed.wait_for(
                lambda: any(m.get("status") == "done" for m in sent.messages), WAIT
            )
    finally:
        tab.unsubscribe(sub)
        sub.join(WAIT)
        c.close()
        tab.close()
    assert tab.text
    assert reassemble(sent.messages) == {(tab.id, 0, "text"): tab.text}
    statuses = [m["status"] for m in sent.messages if m["type"] == "status"]
    assert statuses == ["streaming", "done"]
    assert sent.messages[-1]["type"] == "status"  # every delta before "done"
    pieces = tab.tokens_out  # the demo reports one token per streamed piece
    assert pieces > 40
    assert len(sent.deltas) <= pieces // 4


def test_the_pacer_stretches_intervals_only_while_many_panels_stream() -> None:
    clock = Clock()
    pacer = Pacer(full_rate_panels=5, window=1.0, clock=clock)
    panels = [object() for _ in range(20)]
    for p in panels[:5]:
        pacer.sent(p)
    assert pacer.interval(0.05) == pytest.approx(0.05)  # five at full rate
    for p in panels:
        pacer.sent(p)
    assert pacer.interval(0.05) == pytest.approx(0.2)  # twenty share 100 messages a second
    clock.now += 0.5
    for p in panels[:10]:
        pacer.sent(p)
    clock.now += 0.6  # the other ten have been quiet for over a second
    assert pacer.interval(0.05) == pytest.approx(0.1)
    for p in panels[:10]:
        pacer.forget(p)
    assert pacer.interval(0.05) == pytest.approx(0.05)


def test_a_paced_coalescer_holds_deltas_for_the_stretched_interval() -> None:
    clock, sent = Clock(), Recorder()
    pacer = Pacer(full_rate_panels=5, clock=clock)
    for other in [object() for _ in range(9)]:
        pacer.sent(other)  # nine other panels are streaming
    c = DeltaCoalescer(sent, interval=0.05, clock=clock, thread=False, pacer=pacer)
    a, b = deltas("t", ["one", " two"])
    c.push(a)  # the first piece still goes at once
    assert len(sent.messages) == 1
    assert c.interval == pytest.approx(0.1)
    c.push(b)
    clock.now += 0.06
    assert not c.flush_due()
    clock.now += 0.05
    assert c.flush_due()
    assert reassemble(sent.messages) == {("t", 0, "text"): "one two"}
