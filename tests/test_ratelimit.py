"""RateLimiter: request and token buckets, Retry-After blocks, fairness, cancellation.

Almost every test runs on a fake clock: ``FakeTime.sleep`` either moves the
clock forward at once (``auto=True``) or parks until the test calls
``advance``; only the last tests use real time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from ipyllm._manager.ratelimit import RateLimiter


class FakeTime:
    """A clock and sleep for one limiter; sleeps advance it at once or wait for ``advance``."""

    def __init__(self, *, auto: bool = True) -> None:
        self.now = 0.0
        self.auto = auto
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.auto:
            self.now += seconds
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._timers.append((self.now + seconds, fut))
        await fut

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for timer in list(self._timers):
            deadline, fut = timer
            if deadline <= self.now + 1e-9:
                self._timers.remove(timer)
                if not fut.done():
                    fut.set_result(None)
        await settle()

    def limiter(self, rpm: float | None = None, tpm: float | None = None) -> RateLimiter:
        return RateLimiter(rpm, tpm, clock=self.clock, sleep=self.sleep)


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(20):
        await asyncio.sleep(0)


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro())


def test_no_limits_returns_at_once() -> None:
    t = FakeTime()
    limiter = t.limiter()

    async def main() -> None:
        for _ in range(1000):
            await limiter.acquire(50_000)

    run(main)
    assert t.sleeps == []
    assert t.now == 0.0
    assert limiter.stats()["waiting"] == 0.0


def test_rpm_allows_a_burst_then_one_per_interval() -> None:
    t = FakeTime()
    limiter = t.limiter(rpm=60)
    done_at: list[float] = []

    async def main() -> None:
        for _ in range(63):
            await limiter.acquire()
            done_at.append(t.now)

    run(main)
    assert done_at[:60] == [0.0] * 60  # the full bucket's burst
    assert done_at[60:] == pytest.approx([1.0, 2.0, 3.0])  # then one a second
    assert t.sleeps == pytest.approx([1.0, 1.0, 1.0])


def test_rpm_refills_with_time() -> None:
    t = FakeTime()
    limiter = t.limiter(rpm=60)

    async def main() -> None:
        for _ in range(60):
            await limiter.acquire()
        t.now += 30.0  # half a minute idle: 30 slots back
        for _ in range(30):
            await limiter.acquire()

    run(main)
    assert t.sleeps == []


def test_rpm_below_one_still_lets_requests_through() -> None:
    t = FakeTime()
    limiter = t.limiter(rpm=0.5)

    async def main() -> None:
        await limiter.acquire()
        await limiter.acquire()

    run(main)
    assert t.now == pytest.approx(120.0)


def test_waiters_are_served_in_arrival_order() -> None:
    t = FakeTime(auto=False)
    limiter = t.limiter(rpm=60)
    order: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        await limiter.acquire()
        order.append((i, t.now))

    async def main() -> None:
        for _ in range(60):
            await limiter.acquire()
        tasks = [asyncio.create_task(one(i)) for i in range(5)]
        await settle()
        assert limiter.stats()["waiting"] == 5.0
        for served in range(1, 6):
            await t.advance(1.0)
            assert len(order) == served  # one a second, never two at once
        await asyncio.gather(*tasks)

    run(main)
    assert [i for i, _ in order] == [0, 1, 2, 3, 4]
    assert [at for _, at in order] == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0])
    assert limiter.stats()["waiting"] == 0.0


def test_tpm_budget_refills_at_tpm_per_60_seconds() -> None:
    t = FakeTime()
    limiter = t.limiter(tpm=6000)  # 100 tokens a second

    async def main() -> None:
        await limiter.acquire(5000)
        assert t.now == 0.0
        await limiter.acquire(2000)  # 1000 left, needs 1000 more: 10 s

    run(main)
    assert t.now == pytest.approx(10.0)


def test_request_bigger_than_the_budget_waits_for_a_full_bucket_only() -> None:
    t = FakeTime()
    limiter = t.limiter(tpm=6000)

    async def main() -> None:
        await limiter.acquire(3000)
        await limiter.acquire(20_000)  # more than a minute's worth: waits until full
        assert t.now == pytest.approx(30.0)
        await limiter.acquire(100)  # the overdraft is paid back first

    run(main)
    # 20 000 taken from 6 000 leaves -14 000; 100 more needs 14 100 tokens: 141 s.
    assert t.now == pytest.approx(30.0 + 141.0)


def test_record_tokens_gives_back_an_overestimate() -> None:
    t = FakeTime()
    limiter = t.limiter(tpm=6000)

    async def main() -> None:
        await limiter.acquire(6000)
        limiter.record_tokens(6000, 2500)  # the answer used less than estimated
        await limiter.acquire(3500)

    run(main)
    assert t.sleeps == []


def test_record_tokens_charges_an_underestimate() -> None:
    t = FakeTime()
    limiter = t.limiter(tpm=6000)

    async def main() -> None:
        await limiter.acquire(1000)
        limiter.record_tokens(1000, 8000)  # 7000 more than estimated: budget -2000
        await limiter.acquire(1000)

    run(main)
    assert t.now == pytest.approx(30.0)  # 3000 tokens at 100/s


def test_record_tokens_wakes_a_waiter() -> None:
    t = FakeTime(auto=False)
    limiter = t.limiter(tpm=6000)

    async def main() -> None:
        await limiter.acquire(6000)
        waiter = asyncio.create_task(limiter.acquire(3000))
        await settle()
        assert not waiter.done()
        limiter.record_tokens(6000, 1000)  # 5000 back
        await settle()
        assert waiter.done()

    run(main)
    assert t.now == 0.0


def test_rpm_and_tpm_together_wait_for_the_longer() -> None:
    t = FakeTime()
    limiter = t.limiter(rpm=60, tpm=600)  # a request a second, 10 tokens a second

    async def main() -> None:
        await limiter.acquire(600)
        await limiter.acquire(50)  # the request slot is free, the tokens take 5 s

    run(main)
    assert t.now == pytest.approx(5.0)


def test_block_for_delays_every_waiter() -> None:
    t = FakeTime()
    limiter = t.limiter()
    done_at: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        done_at.append(t.now)

    async def main() -> None:
        limiter.block_for(5.0)
        assert limiter.blocked_until == 5.0
        await asyncio.gather(*(one() for _ in range(3)))

    run(main)
    assert done_at == [5.0, 5.0, 5.0]
    assert limiter.blocked_until is None
    assert limiter.stats()["blocked_until"] is None


def test_block_for_extends_and_never_shortens() -> None:
    t = FakeTime()
    limiter = t.limiter()
    limiter.block_for(5.0)
    t.now = 3.0
    limiter.block_for(1.0)  # would end at 4: ignored
    assert limiter.blocked_until == 5.0
    limiter.block_for(4.0)  # ends at 7: extends
    assert limiter.blocked_until == 7.0
    limiter.block_for(0.0)
    limiter.block_for(-3.0)
    assert limiter.blocked_until == 7.0
    stats = limiter.stats()
    assert stats["blocked_until"] == 7.0
    assert stats["blocked_for"] == pytest.approx(4.0)

    async def main() -> None:
        await limiter.acquire()

    run(main)
    assert t.now == pytest.approx(7.0)


def test_block_extended_while_waiting_is_honoured() -> None:
    t = FakeTime()
    limiter = t.limiter()
    extended = False

    async def sleep(seconds: float) -> None:
        nonlocal extended
        await t.sleep(seconds)
        if not extended:  # another stream gets a 429 meanwhile
            extended = True
            limiter.block_for(3.0)

    limiter._sleep = sleep
    limiter.block_for(5.0)

    async def main() -> None:
        await limiter.acquire()

    run(main)
    assert t.now == pytest.approx(8.0)


def test_cancelled_head_does_not_take_a_slot() -> None:
    t = FakeTime(auto=False)
    limiter = t.limiter(rpm=60)

    async def main() -> None:
        for _ in range(60):
            await limiter.acquire()
        head = asyncio.create_task(limiter.acquire())
        second = asyncio.create_task(limiter.acquire())
        await settle()
        head.cancel()
        await settle()
        assert head.cancelled()
        assert limiter.stats()["waiting"] == 1.0
        await t.advance(1.0)
        assert second.done()  # the slot the cancelled call waited for went to the next
        third = asyncio.create_task(limiter.acquire())
        await settle()
        assert not third.done()  # and only that one slot: the bucket is empty again
        await t.advance(1.0)
        assert third.done()
        assert limiter.stats()["waiting"] == 0.0

    run(main)


def test_cancelled_follower_leaves_the_queue() -> None:
    t = FakeTime(auto=False)
    limiter = t.limiter(tpm=600)

    async def main() -> None:
        await limiter.acquire(600)
        head = asyncio.create_task(limiter.acquire(100))
        follower = asyncio.create_task(limiter.acquire(500))
        await settle()
        follower.cancel()
        await settle()
        assert limiter.stats()["waiting"] == 1.0
        await t.advance(10.0)
        assert head.done()
        assert limiter.stats()["waiting"] == 0.0
        # The cancelled 500 were never taken: 500 tokens left after the head's 100.
        assert limiter.stats()["tokens_available"] == pytest.approx(0.0)
        await t.advance(50.0)
        await asyncio.wait_for(limiter.acquire(500), 1.0)
        assert t.sleeps == [10.0]

    run(main)


def test_configure_lifts_a_limit_for_waiters() -> None:
    t = FakeTime(auto=False)
    limiter = t.limiter(rpm=1)

    async def main() -> None:
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await settle()
        assert not waiter.done()
        assert t.sleeps == pytest.approx([60.0])
        limiter.configure(None, None)
        await settle()
        assert waiter.done()

    run(main)
    assert t.now == 0.0


def test_configure_changes_the_rate_live() -> None:
    t = FakeTime(auto=False)
    limiter = t.limiter(rpm=1)

    async def main() -> None:
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await settle()
        limiter.configure(requests_per_minute=60)  # the empty bucket now refills in 1 s
        await settle()
        assert t.sleeps == pytest.approx([60.0, 1.0])
        await t.advance(1.0)
        assert waiter.done()

    run(main)
    assert limiter.requests_per_minute == 60.0
    assert limiter.tokens_per_minute is None


def test_configure_enables_a_limit_with_a_full_bucket() -> None:
    t = FakeTime()
    limiter = t.limiter()
    limiter.configure(tokens_per_minute=1000)
    assert limiter.stats()["tokens_available"] == 1000.0
    assert limiter.stats()["requests_available"] is None
    limiter.configure(tokens_per_minute=500)  # a smaller bucket holds no more than it can
    assert limiter.stats()["tokens_available"] == 500.0


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_configure_rejects_non_positive_limits(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(requests_per_minute=bad)
    with pytest.raises(ValueError, match="positive"):
        RateLimiter().configure(tokens_per_minute=bad)


def test_infinite_limit_means_none() -> None:
    limiter = RateLimiter(float("inf"), float("inf"))
    assert limiter.requests_per_minute is None
    assert limiter.tokens_per_minute is None


def test_stats_for_display() -> None:
    t = FakeTime()
    limiter = t.limiter(rpm=30, tpm=9000)

    async def main() -> None:
        await limiter.acquire(1000)

    run(main)
    assert limiter.stats() == {
        "requests_per_minute": 30.0,
        "tokens_per_minute": 9000.0,
        "requests_available": 29.0,
        "tokens_available": 8000.0,
        "waiting": 0.0,
        "blocked_until": None,
        "blocked_for": None,
    }


def test_one_limiter_serves_successive_event_loops() -> None:
    t = FakeTime()
    limiter = t.limiter(rpm=60)  # built outside any loop

    async def some() -> None:
        for _ in range(40):
            await limiter.acquire()

    asyncio.run(some())
    asyncio.run(some())  # a new loop: the 20 slots left, then one a second
    assert t.now == pytest.approx(20.0)


# -- real time ------------------------------------------------------------------------


def test_real_clock_token_budget_and_block() -> None:
    limiter = RateLimiter(tokens_per_minute=600)  # 10 tokens a second

    async def main() -> float:
        start = time.monotonic()
        await limiter.acquire(600)
        await limiter.acquire(3)  # 0.3 s of refill
        after_tokens = time.monotonic() - start
        assert after_tokens >= 0.29
        limiter.block_for(0.3)
        await asyncio.gather(limiter.acquire(), limiter.acquire())
        return time.monotonic() - start

    assert asyncio.run(main()) >= 0.58


def test_real_clock_configure_from_another_thread_wakes_the_loop() -> None:
    limiter = RateLimiter(requests_per_minute=1)

    async def main() -> float:
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())  # would wait a minute
        await asyncio.sleep(0.05)
        start = time.monotonic()
        await asyncio.to_thread(limiter.configure, None, None)
        await asyncio.wait_for(waiter, 5.0)
        return time.monotonic() - start

    assert asyncio.run(main()) < 5.0


def test_sleep_may_be_any_awaitable_factory() -> None:
    calls: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> Awaitable[None]:
        calls.append(seconds)
        now[0] += seconds
        return asyncio.sleep(0)

    limiter = RateLimiter(60, clock=lambda: now[0], sleep=sleep)

    async def main() -> None:
        for _ in range(61):
            await limiter.acquire()

    run(main)
    assert calls == pytest.approx([1.0])


def test_waiters_stranded_by_a_closed_loop_do_not_block_the_next() -> None:
    t = FakeTime(auto=False)
    limiter = t.limiter(rpm=1)
    old_loop = asyncio.new_event_loop()
    stranded: list[asyncio.Task[None]] = []

    async def strand() -> None:
        await limiter.acquire()
        stranded.append(old_loop.create_task(limiter.acquire()))  # waits; never cancelled
        await settle()

    old_loop.run_until_complete(strand())
    old_loop.close()
    assert limiter.stats()["waiting"] == 1.0
    t.now += 60.0

    async def main() -> None:
        await asyncio.wait_for(limiter.acquire(), 1.0)

    run(main)
    assert limiter.stats()["waiting"] == 0.0
