"""Settling a turn (pricing it, recording it in history) never stalls another tab's stream."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

import pytest

import ipyllm
from ipyllm._manager import cost
from ipyllm._types import ReasoningDelta, TextDelta
from ipyllm.testing import FakeLLMServer, Reply

KEY = "test-key-settle-0123456789"
WAIT = 10.0


def test_a_slow_price_does_not_stall_another_tabs_stream(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    priced: list[tuple[float, float]] = []  # (start, end) of each price lookup

    def slow_price(*args: object) -> float:
        start = time.monotonic()
        time.sleep(0.5)  # genai-prices' first import and lookup, exaggerated
        priced.append((start, time.monotonic()))
        return 0.25

    monkeypatch.setattr(cost, "cost_usd", slow_price)
    manager = ipyllm.manager()
    slow = manager.new_tab(f"long-{uuid.uuid4().hex[:8]}", "openai:m")
    quick = manager.new_tab(f"short-{uuid.uuid4().hex[:8]}", "openai:m")
    base_url = fake.base_url("openai")
    arrivals: list[float] = []  # when each of the long answer's deltas reached the loop
    first = threading.Event()

    def on_delta(delta: TextDelta | ReasoningDelta) -> None:
        arrivals.append(time.monotonic())
        first.set()

    fake.add_reply(Reply([f"w{i} " for i in range(30)], delay_s=0.04))
    long_handle = slow.send("long", api_key=KEY, base_url=base_url, sink=on_delta)
    assert first.wait(WAIT)
    fake.add_reply("short")
    quick_handle = quick.send("short", api_key=KEY, base_url=base_url)
    quick_handle.result(WAIT)
    # Settled only once priced and recorded.
    assert quick.last is not None
    assert quick.last.cost == 0.25
    assert quick.last.status == "done"
    long_handle.result(WAIT)
    assert slow.text == "".join(f"w{i} " for i in range(30))

    start, end = priced[0]  # the short answer's price
    during = [t for t in arrivals if start - 0.2 <= t <= end + 0.2]
    assert arrivals[0] < start
    assert arrivals[-1] > end
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert len(during) >= 8
    assert max(gaps) < 0.2, gaps


def test_settled_means_priced_and_recorded(fake: FakeLLMServer) -> None:
    manager = ipyllm.manager()
    tab = manager.new_tab(f"rec-{uuid.uuid4().hex[:8]}", "openai:m")
    fake.add_reply("recorded")
    tab.send("q", api_key=KEY, base_url=fake.base_url("openai")).result(WAIT)
    assert tab.last is not None
    assert tab.last.settled.is_set()
    assert tab.last.status == "done"
    assert tab.last.elapsed_s is not None
    manager.history.flush(WAIT)
    found = manager.history.conversation(tab.conversation_id)
    assert [r.text for r in found] == ["recorded"]
