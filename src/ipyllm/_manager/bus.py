"""The manager's event bus: every tab event goes through :meth:`EventBus.publish`.

A subscriber follows every tab (the full chat panel), or one tab (a one-tab
panel, ``tab.subscribe``): that tab's deltas and statuses, and with
``changes=True`` its :class:`~.events.TabsChanged` too. The stream's path
reads immutable tuples without taking the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .events import TabDelta, TabsChanged
from .subscription import Subscription

_Subs = tuple[Subscription, ...]


class EventBus:
    """Routes tab events to subscribers; each subscriber has its own delivery thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._everything: _Subs = ()
        self._tab_events: dict[str, _Subs] = {}  # tab id -> deltas and statuses
        self._tab_changes: dict[str, _Subs] = {}  # tab id -> its TabsChanged
        self._ended: set[str] = set()  # closed tabs: nothing more will come

    def subscribe(
        self,
        callback: Callable[[Any], object],
        *,
        tab: str | None = None,
        changes: bool = False,
        name: str = "ipyllm-watch",
        direct: Callable[[TabDelta], object] | None = None,
    ) -> Subscription:
        """Deliver every tab's events (``tab=None``), or tab ``tab``'s, to ``callback``.

        A one-tab subscription gets the tab's deltas and statuses, and with
        ``changes`` its ``TabsChanged`` too; to a closed tab it is closed at once.
        ``direct`` takes the deltas on the stream's own thread, skipping the delivery
        thread (:meth:`Subscription.put`): a view that throttles itself, like the panel.
        """
        sub = Subscription(callback, name=name, direct=direct)
        with self._lock:
            if tab is None:
                self._everything = (*self._everything, sub)
            elif tab in self._ended:
                sub.close()  # its thread ends at once
            else:
                self._tab_events[tab] = (*self._tab_events.get(tab, ()), sub)
                if changes:
                    self._tab_changes[tab] = (*self._tab_changes.get(tab, ()), sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub`` and close it."""
        with self._lock:
            self._everything = tuple(s for s in self._everything if s is not sub)
            for table in (self._tab_events, self._tab_changes):
                for tab, subs in list(table.items()):
                    if sub in subs:
                        kept = tuple(s for s in subs if s is not sub)
                        if kept:
                            table[tab] = kept
                        else:
                            del table[tab]
        sub.close()

    def listening(self, tab: str) -> bool:
        """Whether any subscriber would receive a delta of tab ``tab`` (no lock)."""
        return bool(self._everything) or tab in self._tab_events

    def publish(self, event: Any) -> None:
        """Queue ``event`` (a ``TabDelta``, ``TabStatus`` or ``TabsChanged``) for everyone
        following its tab. Any thread; never blocks."""
        table = self._tab_changes if isinstance(event, TabsChanged) else self._tab_events
        for sub in self._everything + table.get(event.tab_id, ()):
            sub.put(event)

    def end(self, tab: str) -> None:
        """Close every subscription to tab ``tab`` (it was closed); later ones close at once."""
        with self._lock:
            self._ended.add(tab)
            subs = self._tab_events.pop(tab, ())
            self._tab_changes.pop(tab, None)
        for sub in subs:
            sub.close()
