"""Optional client-side request and token limits, and the Retry-After gate, shared by tabs.

Every request waits at one :class:`RateLimiter`, its *gate*: one per (provider,
base URL, key fingerprint), so a 429 from one server or one key holds back only
the requests that go the same way. :class:`ProviderGates` holds the gates of one
provider and the limits set for it, which every one of its gates applies with
buckets of its own: a limit is per account (a key at a base URL), as providers
count it.

Both limits are token buckets, the scheme Anthropic documents for its own
limits and the one OpenAI's "replenished continuously" limits behave like:

* requests: capacity ``requests_per_minute``, refilled at ``rpm / 60`` per
  second. A full bucket allows a burst of ``rpm`` requests, then one every
  ``60 / rpm`` seconds.
* tokens: capacity ``tokens_per_minute``, refilled at ``tpm / 60`` per second.
  A request takes its estimated tokens; :meth:`RateLimiter.record_tokens`
  corrects the estimate once the real usage is known. A request larger than
  the whole budget goes through once the bucket is full, rather than never.

Waiters queue in arrival order and only the head of the queue sleeps, so a
burst of tabs is served first come, first served. Nothing is taken from a
bucket until the moment ``acquire`` returns, so cancelling a waiting
``acquire`` costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["ProviderGates", "RateLimiter"]

# Waits shorter than this count as none: float rounding must not turn
# "exactly refilled" into an endless series of 1e-16 s sleeps.
_EPSILON_S = 1e-6


class _Waiter:
    """One pending ``acquire``: its loop and the future that wakes it."""

    __slots__ = ("loop", "wake")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.wake: asyncio.Future[None] | None = None

    def notify(self) -> None:
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)


def _limit(value: float | None, what: str) -> float | None:
    # None and infinity both mean "no limit"; zero or less would block forever.
    if value is None or value == math.inf:
        return None
    if not value > 0:  # also rejects NaN
        raise ValueError(f"{what} must be a positive number or None (no limit), not {value!r}")
    return float(value)


class RateLimiter:
    """Client-side request and token limits and a Retry-After block: one gate, shared by
    every stream that goes through it.

    ``acquire`` is called from one asyncio event loop (the manager's worker
    loop); ``configure``, ``block_for``, ``record_tokens`` and ``stats`` may be
    called from any thread. No asyncio object is created until ``acquire``
    needs to wait, so the limiter is not tied to a loop when built.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rpm: float | None = None
        self._tpm: float | None = None
        self._requests = 0.0  # request bucket level
        self._tokens = 0.0  # token bucket level; negative after an underestimate
        self._last: float | None = None  # clock() at the last refill
        self._blocked_until: float | None = None
        self._waiters: deque[_Waiter] = deque()
        self.configure(requests_per_minute, tokens_per_minute)

    def configure(
        self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None
    ) -> None:
        """Set both limits now (``None`` means no limit of that kind); waiters re-check at once.

        A newly enabled limit starts with a full bucket; a changed one keeps its
        current level, capped at the new capacity.
        """
        rpm = _limit(requests_per_minute, "requests_per_minute")
        tpm = _limit(tokens_per_minute, "tokens_per_minute")
        with self._lock:
            self._refill(self._clock())  # settle the old rates up to now
            if rpm is not None:
                full = self._rpm_capacity(rpm)
                self._requests = full if self._rpm is None else min(self._requests, full)
            if tpm is not None:
                self._tokens = tpm if self._tpm is None else min(self._tokens, tpm)
            self._rpm, self._tpm = rpm, tpm
        self._notify_head()

    @property
    def requests_per_minute(self) -> float | None:
        """The request limit, or ``None`` for none."""
        return self._rpm

    @property
    def tokens_per_minute(self) -> float | None:
        """The token limit, or ``None`` for none."""
        return self._tpm

    @property
    def blocked_until(self) -> float | None:
        """The ``clock()`` time before which no request starts, or ``None`` if not blocked."""
        until = self._blocked_until
        if until is None or until <= self._clock():
            return None
        return until

    def block_for(self, seconds: float) -> None:
        """Hold every ``acquire`` for ``seconds`` from now (after a 429 with Retry-After).

        An existing block is extended, never shortened.
        """
        if not seconds > 0:  # zero, negative or NaN: nothing to wait for
            return
        with self._lock:
            until = self._clock() + seconds
            if self._blocked_until is None or until > self._blocked_until:
                self._blocked_until = until

    def record_tokens(self, estimated: int, actual: int) -> None:
        """Correct the token budget by ``actual - estimated`` once the real usage is known."""
        with self._lock:
            if self._tpm is None:
                return
            self._refill(self._clock())
            self._tokens = min(self._tpm, self._tokens - (actual - estimated))
        if actual < estimated:
            self._notify_head()  # tokens came back: the head may go now

    def stats(self) -> dict[str, float | None]:
        """The limits, the number waiting and any Retry-After block, for display.

        Keys: ``requests_per_minute``, ``tokens_per_minute`` (``None``: no
        limit), ``requests_available``, ``tokens_available`` (bucket levels, or
        ``None``), ``waiting``, ``blocked_until`` (a ``clock()`` time, or
        ``None``) and ``blocked_for`` (seconds left, or ``None``).
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            until = self._blocked_until
            if until is not None and until <= now:
                until = None
            return {
                "requests_per_minute": self._rpm,
                "tokens_per_minute": self._tpm,
                "requests_available": None if self._rpm is None else self._requests,
                "tokens_available": None if self._tpm is None else self._tokens,
                "waiting": float(len(self._waiters)),
                "blocked_until": until,
                "blocked_for": None if until is None else until - now,
            }

    async def acquire(self, estimated_tokens: int = 0) -> None:
        """Wait for any Retry-After block, a request slot and ``estimated_tokens`` of budget.

        Waiters are served in arrival order. Cancelling a waiting call takes
        nothing from either bucket.
        """
        tokens = max(0, int(estimated_tokens))
        with self._lock:
            if not self._waiters and self._take_if_free(tokens) <= 0:
                return
            waiter = _Waiter(asyncio.get_running_loop())
            if any(w.loop.is_closed() for w in self._waiters):
                # Left by a loop that was closed without cancelling its tasks: they
                # would never move, and everyone behind them would wait forever.
                self._waiters = deque(w for w in self._waiters if not w.loop.is_closed())
            self._waiters.append(waiter)
        try:
            while True:
                with self._lock:
                    delay = self._take_if_free(tokens) if self._waiters[0] is waiter else None
                    if delay is not None and delay <= 0:
                        return
                    waiter.wake = waiter.loop.create_future()
                if delay is None:
                    await waiter.wake  # woken when we reach the head of the queue
                else:
                    await self._sleep_or_wake(delay, waiter.wake)
        finally:
            with self._lock:
                was_head = bool(self._waiters) and self._waiters[0] is waiter
                if waiter in self._waiters:  # not if purged as a closed loop's
                    self._waiters.remove(waiter)
            if was_head:
                self._notify_head()  # the next in line takes over

    # -- internals (callers hold self._lock unless noted) --------------------------------

    @staticmethod
    def _rpm_capacity(rpm: float | None) -> float:
        # Under 1 rpm the bucket must still be able to hold one whole request.
        return 0.0 if rpm is None else max(rpm, 1.0)

    def _refill(self, now: float) -> None:
        if self._last is not None and now > self._last:
            elapsed = now - self._last
            if self._rpm is not None:
                cap = self._rpm_capacity(self._rpm)
                self._requests = min(cap, self._requests + elapsed * self._rpm / 60.0)
            if self._tpm is not None:
                self._tokens = min(self._tpm, self._tokens + elapsed * self._tpm / 60.0)
        if self._last is None or now > self._last:
            self._last = now

    def _take_if_free(self, tokens: int) -> float:
        """Take a request slot and ``tokens`` if all limits allow now (returns 0), else the wait."""
        now = self._clock()
        self._refill(now)
        delay = 0.0
        if self._blocked_until is not None:
            if self._blocked_until > now:
                delay = self._blocked_until - now
            else:
                self._blocked_until = None
        if self._rpm is not None and self._requests < 1.0:
            delay = max(delay, (1.0 - self._requests) * 60.0 / self._rpm)
        if self._tpm is not None:
            # A request bigger than the whole budget waits for a full bucket, not forever.
            need = min(float(tokens), self._tpm)
            if self._tokens < need:
                delay = max(delay, (need - self._tokens) * 60.0 / self._tpm)
        if delay > _EPSILON_S:
            return delay
        if self._rpm is not None:
            self._requests = max(0.0, self._requests - 1.0)
        if self._tpm is not None:
            self._tokens -= tokens
        return 0.0

    def _notify_head(self) -> None:
        """Make the head of the queue re-check the limits (any thread; takes the lock)."""
        with self._lock:
            head = self._waiters[0] if self._waiters else None
        if head is None:
            return
        try:
            same_loop = asyncio.get_running_loop() is head.loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            head.notify()
        else:
            # RuntimeError: that loop is closed; its waiters are purged on next use.
            with contextlib.suppress(RuntimeError):
                head.loop.call_soon_threadsafe(self._notify_head)

    async def _sleep_or_wake(self, delay: float, wake: asyncio.Future[None]) -> None:
        # Sleep through the injected sleep, but let configure() and friends cut it short.
        sleeper = asyncio.ensure_future(self._sleep(delay))
        try:
            await asyncio.wait((sleeper, wake), return_when=asyncio.FIRST_COMPLETED)
        finally:
            # A closed loop (its task being garbage-collected) cannot cancel anything.
            if not sleeper.done() and not sleeper.get_loop().is_closed():
                sleeper.cancel()


class ProviderGates:
    """The gates of one provider, one :class:`RateLimiter` per (base URL, key fingerprint),
    and the limits set for the provider, which each gate applies with buckets of its own.

    A gate is named by a fingerprint of its key (:func:`ipyllm._keys.fingerprint`),
    never the key, so printing or logging this table shows no secret. Thread-safe.
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._lock = threading.Lock()
        self._rpm: float | None = None
        self._tpm: float | None = None
        self._gates: dict[tuple[str, str], RateLimiter] = {}

    def __repr__(self) -> str:
        return (
            f"<ProviderGates {self.provider} gates={len(self._gates)} "
            f"requests_per_minute={self._rpm} tokens_per_minute={self._tpm}>"
        )

    @property
    def requests_per_minute(self) -> float | None:
        """The request limit each gate applies, or ``None`` for none."""
        return self._rpm

    @property
    def tokens_per_minute(self) -> float | None:
        """The token limit each gate applies, or ``None`` for none."""
        return self._tpm

    def gate(self, base_url: str, key_fingerprint: str) -> RateLimiter:
        """The gate for requests to ``base_url`` with the key of that fingerprint; a new one
        starts with the provider's limits and full buckets."""
        with self._lock:
            limiter = self._gates.get((base_url, key_fingerprint))
            if limiter is None:
                limiter = RateLimiter(self._rpm, self._tpm)
                self._gates[(base_url, key_fingerprint)] = limiter
            return limiter

    def gates(self) -> list[RateLimiter]:
        """Every gate opened so far, oldest first."""
        with self._lock:
            return list(self._gates.values())

    def configure(
        self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None
    ) -> None:
        """Set both limits for every gate of the provider, now and to come (``None``: none).

        Each gate keeps its own buckets (see :meth:`RateLimiter.configure`); a Retry-After
        block stays where it is.
        """
        rpm = _limit(requests_per_minute, "requests_per_minute")
        tpm = _limit(tokens_per_minute, "tokens_per_minute")
        with self._lock:  # under the lock, so two calls cannot leave gates disagreeing
            self._rpm, self._tpm = rpm, tpm
            for limiter in self._gates.values():
                limiter.configure(rpm, tpm)
