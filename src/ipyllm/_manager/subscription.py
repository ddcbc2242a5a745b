"""Delivering a tab's events to one subscriber on its own thread.

The stream only appends to the subscriber's queue; a delivery thread calls the
callback. A slow subscriber therefore gets fewer, larger deltas (contiguous
ones are merged) and a failing one is logged, and neither stalls the stream.
A subscriber that throttles itself (the panel's coalescer) may take the deltas
directly on the stream's thread instead, with a callback that never blocks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .._worker import ChunkBridge
from .events import TabDelta

log = logging.getLogger("ipyllm")


def merge_deltas(events: list[Any]) -> list[Any]:
    """Join consecutive deltas of the same tab, turn and channel whose offsets are contiguous."""
    out: list[Any] = []
    for event in events:
        last = out[-1] if out else None
        if (
            isinstance(event, TabDelta)
            and isinstance(last, TabDelta)
            and last.tab_id == event.tab_id
            and last.turn == event.turn
            and last.channel == event.channel
            and last.offset + len(last.text) == event.offset
        ):
            out[-1] = TabDelta(
                last.tab_id, last.turn, last.offset, last.text + event.text, last.channel
            )
        else:
            out.append(event)
    return out


class Subscription:
    """A live feed of events (one tab's, or every tab's) to ``callback``; :meth:`close` ends it.

    Events come from :class:`~.events` (``TabDelta``, ``TabStatus``,
    ``TabsChanged``); :meth:`put` also takes any other object, which the owner
    of the subscription may use to run work on the delivery thread.
    """

    def __init__(
        self,
        callback: Callable[[Any], object],
        name: str,
        direct: Callable[[TabDelta], object] | None = None,
    ) -> None:
        self.callback = callback
        self.direct = direct
        self._bridge: ChunkBridge[Any] = ChunkBridge()
        self._failures = 0
        # Events put on the delivery thread's queue, and those it has delivered: while
        # they differ, a delta must queue behind them to keep the order.
        self._queued = 0
        self._delivered = 0
        self._put_lock = threading.Lock()
        self._thread = threading.Thread(target=self._deliver, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        """Whether the subscription has ended."""
        return self._bridge.closed

    def put(self, event: object) -> None:
        """Queue an event (any thread; never blocks).

        With a ``direct`` callback, a :class:`TabDelta` goes to it at once on the
        putting thread (the stream's), unless earlier events still wait for the
        delivery thread: then it queues behind them. ``direct`` must be quick and
        never block (a panel's coalescer only stores the piece).
        """
        direct = self.direct
        if direct is not None and type(event) is TabDelta and self._queued == self._delivered:
            if self._bridge.closed:
                return
            try:
                direct(event)
            except Exception:
                self._failed()
            return
        with self._put_lock:
            self._queued += 1
            self._bridge.push(event)

    def close(self) -> None:
        """Stop delivering; events already queued are still delivered."""
        self._bridge.close()

    def join(self, timeout: float | None = None) -> None:
        """Wait until everything queued before :meth:`close` was delivered.

        Called from the callback itself, it returns at once.
        """
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _deliver(self) -> None:
        bridge = self._bridge
        while True:
            closed = bridge.closed
            taken = bridge.take(0.5)
            for event in merge_deltas(taken):
                try:
                    self.callback(event)
                except Exception:
                    self._failed()
            self._delivered += len(taken)  # this thread alone writes it
            if closed:
                return

    def _failed(self) -> None:
        self._failures += 1
        if self._failures == 1:  # once: a broken view must not flood the log
            log.warning("a tab subscriber failed; it keeps receiving", exc_info=True)
