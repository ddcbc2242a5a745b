"""ChunkBridge: every item arrives once and in order, and a waiting consumer is woken."""

from __future__ import annotations

import asyncio
import threading
import time

from ipyllm import _worker


def test_items_pushed_on_the_worker_loop_all_arrive_in_order() -> None:
    bridge: _worker.ChunkBridge[int] = _worker.ChunkBridge()
    n = 20_000

    async def produce() -> None:
        for i in range(n):
            bridge.push(i)
            if i % 97 == 0:
                await asyncio.sleep(0)  # a "network read" ends: the wake-up goes out
        bridge.close()

    future = _worker.submit(produce())
    got: list[int] = []
    while not bridge.closed:
        got += bridge.take(0.25)
    got += bridge.take(0)
    future.result(5)
    assert got == list(range(n))


def test_a_waiting_consumer_is_woken_by_a_push_off_any_loop() -> None:
    bridge: _worker.ChunkBridge[str] = _worker.ChunkBridge()
    timer = threading.Timer(0.05, bridge.push, ("x",))
    timer.start()
    started = time.perf_counter()
    assert bridge.take(5) == ["x"]
    assert time.perf_counter() - started < 2
    timer.join()


def test_a_push_on_the_worker_loop_wakes_the_consumer_without_close() -> None:
    bridge: _worker.ChunkBridge[str] = _worker.ChunkBridge()

    async def produce() -> None:
        await asyncio.sleep(0.05)
        bridge.push("y")

    _worker.submit(produce())
    started = time.perf_counter()
    assert bridge.take(5) == ["y"]
    assert time.perf_counter() - started < 2
