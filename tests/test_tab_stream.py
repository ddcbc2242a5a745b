"""Live views of a tab: subscribe, snapshot, then deltas by offset; slow and broken views."""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ipyllm
import waiting
from ipyllm._manager.events import TabDelta, TabEvent, TabStatus
from ipyllm._manager.handle import TurnHandle
from ipyllm._manager.tab import Tab
from ipyllm.testing import FakeLLMServer, Reply

KEY = "test-key-tabstream-0123456789"
WAIT = 10.0
SETTLED = ("done", "stopped", "error")
# Multi-byte pieces: accents, CJK, emoji (one with a skin-tone modifier: two code points).
PIECES = ["Ça ", "va ", "très ", "bien", "，", "漢字", "と", "かな ", "🙂", "👍🏽 ", "naïve ", "ß"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_tab() -> Tab:
    return ipyllm.manager().new_tab(unique("view"), "openai:m")


def send(tab: Tab, fake: FakeLLMServer, prompt: str = "go") -> TurnHandle:
    return tab.send(prompt, api_key=KEY, base_url=fake.base_url("openai"))


class View:
    """What the chat panel does: subscribe, then snapshot, then apply deltas by offset.

    Events that arrive before the snapshot is in are held and applied after it.
    A delta's overlap with what the view has is dropped; a gap is an error.
    """

    def __init__(self, tab: Tab, *, delay_s: float = 0.0, snapshot_after: float = 0.0) -> None:
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.pending: list[TabEvent] | None = []
        self.turn = -1
        self.text = ""
        self.reasoning = ""
        self.log: list[TabEvent] = []  # every event applied, in order
        self.errors: list[str] = []
        self.calls = 0
        self.overlaps = 0  # deltas that repeated text the view already had
        self.settled_turns: set[int] = set()
        self.changed = threading.Condition(self.lock)
        self.sub = tab.subscribe(self.on_event)
        # A view that is slow to mount: deltas queued meanwhile overlap the snapshot.
        time.sleep(snapshot_after)
        snap = tab.snapshot()
        with self.lock:
            self.turn, self.text, self.reasoning = snap.turn, snap.text, snap.reasoning
            if snap.status in SETTLED:
                self.settled_turns.add(snap.turn)
            held, self.pending = self.pending or [], None
            for event in held:
                self._apply(event)
            self.changed.notify_all()

    def on_event(self, event: TabEvent) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            self.calls += 1
            if self.pending is not None:
                self.pending.append(event)
            else:
                self._apply(event)
            self.changed.notify_all()

    def wait_settled(self, turn: int, timeout: float = WAIT) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: turn in self.settled_turns, timeout)

    def _apply(self, event: TabEvent) -> None:
        self.log.append(event)
        if event.turn < self.turn:
            return  # an older turn than the one shown
        if event.turn > self.turn:  # a new turn starts empty
            self.turn, self.text, self.reasoning = event.turn, "", ""
        if isinstance(event, TabStatus):
            if event.status in SETTLED:
                self.settled_turns.add(event.turn)
            return
        have = self.text if event.channel == "text" else self.reasoning
        if event.offset > len(have):
            self.errors.append(f"gap: have {len(have)}, delta at {event.offset}")
            return
        if event.offset < len(have):
            self.overlaps += 1
        new = event.text[len(have) - event.offset :]
        if event.channel == "text":
            self.text += new
        else:
            self.reasoning += new


def wait_until(predicate: Callable[[], object], timeout: float = WAIT) -> bool:
    return waiting.wait_until(predicate, timeout, interval=0.001)  # fine-grained: stream timing


def test_snapshot_of_an_idle_tab() -> None:
    tab = new_tab()
    snap = tab.snapshot()
    assert (snap.tab_id, snap.turn, snap.status, snap.text, snap.reasoning) == (
        tab.id,
        -1,
        "idle",
        "",
        "",
    )
    tab.close()


piece = st.text(alphabet="aé ü漢字かな🙂👍🏽ß\n", min_size=1, max_size=4)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=st.lists(piece, min_size=1, max_size=25),
    reasoning=st.one_of(st.none(), st.lists(piece, min_size=1, max_size=8)),
    attach_after=st.integers(min_value=0, max_value=30),
    extra_sleep=st.floats(min_value=0.0, max_value=0.01),
    snapshot_after=st.sampled_from([0.0, 0.0, 0.01, 0.03]),
)
def test_a_view_attached_mid_stream_ends_with_exactly_the_text(
    fake: FakeLLMServer,
    text: list[str],
    reasoning: list[str] | None,
    attach_after: int,
    extra_sleep: float,
    snapshot_after: float,
) -> None:
    fake.reset()
    fake.add_reply(Reply(text, reasoning=reasoning, delay_s=0.004))
    tab = new_tab()
    handle = send(tab, fake)
    turn = tab.last
    assert turn is not None
    # Attach after about `attach_after` pieces (reasoning streams first), or at the end.
    pieces = [*(reasoning or []), *text]
    target = sum(len(p) for p in pieces[:attach_after])
    assert wait_until(lambda: turn.text_length + turn.reasoning_length >= target or handle.done())
    time.sleep(extra_sleep)
    view = View(tab, snapshot_after=snapshot_after)
    assert view.wait_settled(0), "the view never saw the turn settle"
    assert handle.wait(WAIT)
    assert view.errors == []
    assert view.text == tab.text == "".join(text)
    assert view.reasoning == tab.reasoning == "".join(reasoning or [])
    # Attached after the send, the view gets deltas and then, last, the settling
    # status (or nothing at all if it attached after the end: its snapshot says done).
    # A settled turn's status is already queued: drain the subscription to see it.
    tab.unsubscribe(view.sub)
    view.sub.join(5)
    if view.log:
        assert view.log[-1] == TabStatus(tab.id, 0, "done")
        assert all(isinstance(e, TabDelta) for e in view.log[:-1])
    tab.close()


def test_deltas_overlapping_the_snapshot_are_not_doubled(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(PIECES * 4, reasoning=["思", "考"] * 10, delay_s=0.005))
    tab = new_tab()
    handle = send(tab, fake)
    assert wait_until(lambda: len(tab.reasoning) > 4)
    # Deltas delivered between subscribing and the snapshot are also in the snapshot.
    view = View(tab, snapshot_after=0.08)
    assert handle.wait(WAIT)
    assert view.wait_settled(0)
    assert view.overlaps >= 1
    assert view.errors == []
    assert (view.text, view.reasoning) == ("".join(PIECES * 4), "思考" * 10)
    tab.close()


def test_status_events_frame_each_turns_deltas_in_order(fake: FakeLLMServer) -> None:
    tab = new_tab()
    view = View(tab)
    fake.add_reply(Reply(PIECES, reasoning=["思考", "中…"], delay_s=0.005))
    fake.add_reply(Reply(list(reversed(PIECES)), delay_s=0.005))
    for index in (0, 1):
        handle = send(tab, fake, f"turn {index}")
        assert handle.wait(WAIT)
        assert view.wait_settled(index)
    assert view.errors == []
    assert view.text == tab.text == "".join(reversed(PIECES))
    for index in (0, 1):
        events = [e for e in view.log if e.turn == index]
        assert events[0] == TabStatus(tab.id, index, "streaming")
        assert events[-1] == TabStatus(tab.id, index, "done")
        deltas = events[1:-1]
        assert deltas
        assert all(isinstance(e, TabDelta) for e in deltas)
        # Per channel, offsets are contiguous from 0: nothing dropped or doubled.
        for channel in ("text", "reasoning"):
            offset = 0
            for d in (d for d in deltas if isinstance(d, TabDelta) and d.channel == channel):
                assert d.offset == offset
                offset += len(d.text)
            expected = tab.turns[index].text if channel == "text" else tab.turns[index].reasoning
            assert offset == len(expected)
    # Turn 1 starts after turn 0 settled.
    first_of_1 = next(i for i, e in enumerate(view.log) if e.turn == 1)
    assert view.log[first_of_1 - 1] == TabStatus(tab.id, 0, "done")
    tab.close()


def test_a_stopped_turn_ends_with_a_stopped_status(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply([f"{p}" for p in PIECES * 30], delay_s=0.01))
    tab = new_tab()
    view = View(tab)
    handle = send(tab, fake)
    assert wait_until(lambda: len(tab.text) > 5)
    tab.stop()
    assert handle.wait(WAIT)
    assert view.wait_settled(0)
    assert view.log[-1] == TabStatus(tab.id, 0, "stopped")
    assert view.text == tab.text
    assert 0 < len(tab.text) < len("".join(PIECES * 30))
    assert fake.wait_for_disconnect(5)
    tab.close()


def _timed_turn(tab: Tab, fake: FakeLLMServer, reply: Reply) -> float:
    fake.add_reply(reply)
    started = time.monotonic()
    handle = send(tab, fake)
    assert handle.wait(WAIT)
    return time.monotonic() - started


def test_a_slow_view_does_not_slow_the_stream(fake: FakeLLMServer) -> None:
    reply = Reply(PIECES * 3, delay_s=0.02)  # 36 pieces, about 0.75 s
    plain = _timed_turn(new_tab(), fake, reply)

    tab = new_tab()
    slow = View(tab, delay_s=0.2)  # 36 calls of 0.2 s would be 7 s
    observed = _timed_turn(tab, fake, reply)
    assert observed < plain + 1.0, (plain, observed)  # blocking on it would add 7 s
    assert slow.wait_settled(0)
    assert slow.errors == []
    assert slow.text == tab.text == "".join(PIECES * 3)
    # Deltas that waited were merged: far fewer calls than pieces.
    assert slow.calls < len(PIECES * 3) / 2
    tab.close()


def test_a_failing_view_breaks_neither_the_stream_nor_other_views(
    fake: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    tab = new_tab()
    calls: list[TabEvent] = []

    def broken(event: TabEvent) -> None:
        calls.append(event)
        raise RuntimeError("view exploded")

    before = View(tab)
    tab.subscribe(broken)
    after = View(tab)
    with caplog.at_level(logging.WARNING, logger="ipyllm"):
        fake.add_reply(Reply(PIECES, delay_s=0.01))
        handle = send(tab, fake)
        assert handle.wait(WAIT)
        assert before.wait_settled(0)
        assert after.wait_settled(0)
        assert wait_until(lambda: bool(calls) and calls[-1] == TabStatus(tab.id, 0, "done"))
    assert tab.status == "done"
    assert before.text == after.text == tab.text == "".join(PIECES)
    assert len(calls) > 1  # it keeps receiving after failing
    warnings = [r for r in caplog.records if "subscriber failed" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not once per event
    tab.close()


def test_unsubscribe_and_close_end_delivery(fake: FakeLLMServer) -> None:
    tab = new_tab()
    kept, dropped = View(tab), View(tab)
    tab.unsubscribe(dropped.sub)
    assert dropped.sub.closed
    fake.add_reply(Reply(PIECES))
    assert send(tab, fake).wait(WAIT)
    assert kept.wait_settled(0)
    assert dropped.log == []
    assert dropped.calls == 0
    tab.close()
    assert kept.sub.closed
    kept.sub.join(5)
    assert not kept.sub._thread.is_alive()  # its delivery thread ended


def test_a_turn_settles_only_after_its_status_went_out(
    fake: FakeLLMServer, request: pytest.FixtureRequest
) -> None:
    # The next prompt may go the instant a turn settles; its "streaming" must not
    # overtake the previous turn's "done" on the way to the views.
    tab = new_tab()
    events: list[TabEvent] = []
    tab.subscribe(lambda e: events.append(e) if isinstance(e, TabStatus) else None)
    # Switch threads as often as possible, so a waiter woken by the settle runs at once.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    request.addfinalizer(lambda: sys.setswitchinterval(interval))
    for _ in range(8):
        tab.subscribe(lambda e: None)  # more views: publishing takes a little longer
    turns = 80
    for _ in range(turns):
        fake.add_reply(Reply("ok"))
    for _ in range(turns):
        assert send(tab, fake).wait(WAIT)
    assert wait_until(lambda: len(events) == 2 * turns)
    expected = [TabStatus(tab.id, i, s) for i in range(turns) for s in ("streaming", "done")]
    assert events == expected
    tab.close()
