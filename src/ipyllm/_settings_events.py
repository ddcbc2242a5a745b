"""A signal for "what the providers look like changed": ``configure``,
``register_endpoint``, an alias, a key stored or deleted. Open chat panels watch it to
redraw their model picker and key statuses at once, not when the next panel opens.

Callbacks run on the thread that made the change and must be quick (a panel only
queues a refresh for its own thread); one that raises is logged and skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("ipyllm")

_lock = threading.Lock()
_watchers: dict[int, Callable[[], object]] = {}
_next_id = 0


def watch(callback: Callable[[], object]) -> Callable[[], None]:
    """Call ``callback`` after each change; returns the function that stops it."""
    global _next_id
    with _lock:
        _next_id += 1
        token = _next_id
        _watchers[token] = callback

    def unwatch() -> None:
        with _lock:
            _watchers.pop(token, None)

    return unwatch


def changed() -> None:
    """Tell every watcher that provider settings, aliases or keys changed."""
    with _lock:
        callbacks = list(_watchers.values())
    for callback in callbacks:
        try:
            callback()
        except Exception:  # one broken watcher must not break configure() for the rest
            log.exception("a settings watcher failed")
