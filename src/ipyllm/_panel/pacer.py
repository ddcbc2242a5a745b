"""One budget of live messages per second for every panel of the kernel.

A panel sends at most one delta message per 50 ms. Twenty ``%%llm`` cells
streaming at once would then send 400 a second, close to the 1,000 IOPub
messages a second above which jupyter_server silently drops output. Once more
than ``full_rate_panels`` panels stream at once, each one's interval grows so
that all of them together stay near ``full_rate_panels / interval`` messages a
second (100 by default): more text per message, never more messages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """Tracks which panels sent live text recently and stretches their interval to share."""

    def __init__(
        self,
        full_rate_panels: int = 5,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.full_rate_panels = full_rate_panels
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._last_sent: dict[int, float] = {}

    def sent(self, who: object) -> None:
        """``who`` (a panel's coalescer) just sent a delta message."""
        with self._lock:
            self._last_sent[id(who)] = self.clock()

    def forget(self, who: object) -> None:
        """``who`` is closed."""
        with self._lock:
            self._last_sent.pop(id(who), None)

    def interval(self, base: float) -> float:
        """The interval each panel should keep now, given its own ``base``."""
        now = self.clock()
        with self._lock:
            stale = [k for k, t in self._last_sent.items() if now - t > self.window]
            for k in stale:
                del self._last_sent[k]
            active = len(self._last_sent)
        return base * max(1.0, active / self.full_rate_panels)


PACER = Pacer()
"""The kernel-wide pacer every panel shares."""
