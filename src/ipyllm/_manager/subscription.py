"""Delivering a tab's events to one subscriber on its own thread.

The stream only appends to the subscriber's queue; a delivery thread calls the
callback. A slow subscriber therefore gets fewer, larger deltas (contiguous
ones are merged) and a failing one is logged, and neither stalls the stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .._runner import ChunkBridge
from .events import TabDelta, TabEvent

log = logging.getLogger("ipyllm")


def merge_deltas(events: list[TabEvent]) -> list[TabEvent]:
    """Join consecutive deltas of the same turn and channel whose offsets are contiguous."""
    out: list[TabEvent] = []
    for event in events:
        last = out[-1] if out else None
        if (
            isinstance(event, TabDelta)
            and isinstance(last, TabDelta)
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
    """A live feed of one tab's events to ``callback``; :meth:`close` ends it."""

    def __init__(self, callback: Callable[[TabEvent], object], name: str) -> None:
        self.callback = callback
        self._bridge: ChunkBridge[TabEvent] = ChunkBridge()
        self._failures = 0
        self._thread = threading.Thread(target=self._deliver, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        """Whether the subscription has ended."""
        return self._bridge.closed

    def put(self, event: TabEvent) -> None:
        """Queue an event (called on the streaming thread; never blocks)."""
        self._bridge.push(event)

    def close(self) -> None:
        """Stop delivering; events already queued are still delivered."""
        self._bridge.close()

    def join(self, timeout: float | None = None) -> None:
        """Wait until everything queued before :meth:`close` was delivered."""
        self._thread.join(timeout)

    def _deliver(self) -> None:
        bridge = self._bridge
        while True:
            closed = bridge.closed
            for event in merge_deltas(bridge.take(0.5)):
                try:
                    self.callback(event)
                except Exception:
                    self._failures += 1
                    if self._failures == 1:  # once: a broken view must not flood the log
                        log.warning("a tab subscriber failed; it keeps receiving", exc_info=True)
            if closed:
                return
