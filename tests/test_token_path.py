"""The token path in the kernel: one network read is one hand-off to the turn, a turn's
text is stored once (the engine's Response reads it from the turn), and a panel takes
deltas straight from the stream's thread."""

from __future__ import annotations

import asyncio
import threading
import uuid
from types import TracebackType
from typing import Any

import pytest

import ipyllm
from ipyllm._errors import LLMError
from ipyllm._manager.events import TabDelta, TabStatus
from ipyllm._manager.manager import SessionManager
from ipyllm._manager.runner import ReadBatch
from ipyllm._manager.subscription import Subscription
from ipyllm._manager.tab import Tab, TurnWriter
from ipyllm._manager.turn import Turn
from ipyllm._panel.coalescer import DeltaCoalescer
from ipyllm._panel.controller import PanelController
from ipyllm._types import ReasoningDelta, TextDelta
from ipyllm.testing import FakeLLMServer, Reply
from waiting import wait_until

KEY = "test-key-tokenpath-0123456789"
WAIT = 10.0


class CountingLock:
    """The tab's lock, counting how often it is taken."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.taken = 0

    def __enter__(self) -> None:
        self.taken += 1
        self.lock.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.lock.__exit__(kind, exc, tb)


def new_tab() -> Tab:
    return ipyllm.manager().new_tab(f"path-{uuid.uuid4().hex[:10]}", "openai:m")


def test_append_many_takes_the_lock_once_and_publishes_one_delta_per_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tab = new_tab()
    sub = tab.subscribe(lambda event: None)  # someone listens: deltas are published
    published: list[Any] = []
    monkeypatch.setattr(tab.manager.bus, "publish", published.append)
    turn = Turn(0, "q", None, "openai:m")
    tab.turns.append(turn)
    writer = TurnWriter(tab, turn)
    lock = CountingLock(writer._lock)
    writer._lock = lock  # type: ignore[assignment]
    deltas: list[TextDelta | ReasoningDelta] = [
        *(ReasoningDelta(p) for p in ["思", "考"]),
        *(TextDelta(f"w{i} ") for i in range(50)),
        ReasoningDelta("again"),
        TextDelta("end"),
    ]
    writer.append_many(deltas)
    assert lock.taken == 1
    text = "".join(f"w{i} " for i in range(50))
    assert published == [
        TabDelta(tab.id, 0, 0, "思考", "reasoning"),
        TabDelta(tab.id, 0, 0, text, "text"),
        TabDelta(tab.id, 0, 2, "again", "reasoning"),
        TabDelta(tab.id, 0, len(text), "end", "text"),
    ]
    assert (turn.text, turn.reasoning) == (text + "end", "思考again")
    sub.close()
    tab.close()


def test_one_read_of_many_chunks_is_one_hand_off_and_the_sink_gets_each_in_order() -> None:
    calls: list[list[TextDelta | ReasoningDelta]] = []
    seen: list[str] = []

    class Writer:
        def append_many(self, deltas: list[TextDelta | ReasoningDelta]) -> None:
            calls.append(list(deltas))

    async def one_read() -> None:
        batch = ReadBatch(Writer(), lambda d: seen.append(d.text))  # type: ignore[arg-type]
        for i in range(100):  # what the reader does with one network read's deltas
            batch.on_chunk(TextDelta(f"{i} "))
        assert calls == []  # nothing handed over mid-read
        assert seen == []
        await asyncio.sleep(0)  # the read's step ends
        batch.on_chunk(TextDelta("next"))  # the next read
        await asyncio.sleep(0)

    asyncio.run(one_read())
    assert [len(c) for c in calls] == [100, 1]
    assert seen == [f"{i} " for i in range(100)] + ["next"]


def test_a_streamed_turn_takes_one_lock_per_read_not_per_chunk(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces = [f" w{i}" for i in range(2000)]
    fake.add_reply(Reply(pieces))  # no delay: many pieces per network read
    counts: list[int] = []
    real = TurnWriter.append_many

    def counting(self: TurnWriter, deltas: Any) -> None:
        counts.append(len(deltas))
        real(self, deltas)

    monkeypatch.setattr(TurnWriter, "append_many", counting)
    tab = new_tab()
    seen: list[str] = []
    handle = tab.send(
        "go",
        api_key=KEY,
        base_url=fake.base_url("openai"),
        sink=lambda d: seen.append(d.text),
    )
    response = handle.result(WAIT)
    assert sum(counts) == len(pieces) == len(seen)
    assert len(counts) < len(pieces) // 4, counts[:20]
    assert "".join(seen) == response.text == tab.text == "".join(pieces)
    tab.close()


def test_a_turns_text_is_stored_once(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply([f" w{i}" for i in range(500)], reasoning=["think", "ing"]))
    tab = new_tab()
    handle = tab.send("go", api_key=KEY, base_url=fake.base_url("openai"))
    response = handle.result(WAIT)
    turn = handle.turn
    assert turn.settled.wait(WAIT)
    # The Response's text is the turn's one string, not a copy of it.
    assert response.text is turn.text is tab.text
    assert response.reasoning is turn.reasoning
    assert response.text == "".join(f" w{i}" for i in range(500))
    assert response.reasoning == "thinking"
    tab.close()


def test_a_broken_streams_partial_is_the_turns_text(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(["a ", "b ", "c "], error_after=2, status=500))
    tab = new_tab()
    handle = tab.send("go", api_key=KEY, base_url=fake.base_url("openai"), max_retries=0)
    with pytest.raises(LLMError) as info:
        handle.result(WAIT)
    assert handle.turn.settled.wait(WAIT)
    assert info.value.partial == "a b " == tab.text
    assert info.value.partial is handle.turn.text
    tab.close()


def test_a_direct_subscriber_gets_deltas_on_the_streams_thread_and_in_order() -> None:
    delivered: list[tuple[str, object]] = []
    release = threading.Event()

    def slow(event: object) -> None:  # the delivery thread, held up by a status
        release.wait(WAIT)
        delivered.append(("thread", event))

    sub = Subscription(slow, "test-direct", direct=lambda d: delivered.append(("direct", d)))
    first = TabDelta("t", 0, 0, "a", "text")
    sub.put(first)  # nothing queued: straight to `direct`, on this thread
    assert delivered == [("direct", first)]
    status = TabStatus("t", 0, "done")
    sub.put(status)
    late = TabDelta("t", 1, 0, "b", "text")
    sub.put(late)  # a status still waits for the thread: the delta queues behind it
    assert delivered == [("direct", first)]
    release.set()
    sub.close()
    sub.join(WAIT)
    assert delivered == [("direct", first), ("thread", status), ("thread", late)]
    after = TabDelta("t", 1, 1, "c", "text")
    sub.put(after)  # closed: dropped
    assert len(delivered) == 3


def test_coalescer_put_never_sends_on_the_callers_thread() -> None:
    senders: list[str] = []
    coalescer = DeltaCoalescer(lambda m: senders.append(threading.current_thread().name))
    try:
        coalescer.put(TabDelta("t", 0, 0, "first", "text"))  # idle: goes out at once...
        assert wait_until(lambda: senders)
        assert senders == ["ipyllm-panel-flusher"]  # ...but from the flusher thread
    finally:
        coalescer.close()


def test_a_panel_takes_deltas_straight_from_the_worker_loop(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[str] = set()
    real = DeltaCoalescer.put

    def spying(self: DeltaCoalescer, delta: TabDelta) -> None:
        threads.add(threading.current_thread().name)
        real(self, delta)

    monkeypatch.setattr(DeltaCoalescer, "put", spying)
    name = f"fake{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
    manager = SessionManager()
    model = Recorder()
    controller = PanelController(model, manager)  # type: ignore[arg-type]
    tab = manager.new_tab("one", f"{name}:m")
    try:
        fake.add_reply(Reply([f"w{i} " for i in range(200)]))
        tab.send("go").result(WAIT)
        text = "".join(f"w{i} " for i in range(200))
        assert wait_until(lambda: model.text(tab.id) == text)
        assert threads == {"ipyllm-worker"}  # one hand-off: no delivery thread between
        # The statuses come through the delivery thread: "done" may follow the result.
        assert wait_until(lambda: any(m.get("status") == "done" for m in list(model.sent)))
        statuses = [m["status"] for m in model.sent if m["type"] == "status"]
        assert statuses == ["streaming", "done"]
        # Every delta message of the turn went out before its "done".
        done_at = next(i for i, m in enumerate(model.sent) if m.get("status") == "done")
        assert all(i < done_at for i, m in enumerate(model.sent) if m["type"] == "deltas")
    finally:
        controller.close()
        tab.close()


class Recorder:
    """Plays the widget: traits, and every message sent to the front end."""

    def __init__(self) -> None:
        self.tabs: list[Any] = []
        self.providers: list[Any] = []
        self.default_model = ""
        self.sent: list[dict[str, Any]] = []

    def send(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.sent.append(content)

    def text(self, tab: str) -> str:
        out = ""
        for message in list(self.sent):
            for item in message.get("items", ()):
                if item["tab"] == tab and item["channel"] == "text":
                    assert item["offset"] == len(out)
                    out += item["text"]
        return out
