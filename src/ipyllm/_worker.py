"""A worker thread running its own asyncio loop, where synchronous callers' streams run.

Streams must not run on the kernel's own loop: it freezes whenever a cell
blocks (``time.sleep``), and ``asyncio.run`` cannot nest inside it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def worker_loop() -> asyncio.AbstractEventLoop:
    """The process's worker loop, started on first use on a daemon thread."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="ipyllm-worker", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


def call_when_idle(callback: Callable[[], object]) -> None:
    """Call ``callback`` once the running loop finishes its current step (at once if no
    loop runs in this thread).

    A producer on the worker loop wakes a consumer this way: a network read's pieces are
    all handed over by then, so the consumer wakes once per read, not once per piece, and
    does not compete for the GIL while the read is still being decoded.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
    else:
        loop.call_soon(callback)


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run ``coro`` on the worker loop; cancelling the future cancels the task."""
    return asyncio.run_coroutine_threadsafe(coro, worker_loop())


class ChunkBridge(Generic[T]):
    """Hands items from the worker thread to one consuming thread.

    The producer only appends; it wakes the consumer only when the consumer is
    actually waiting, and then once the network read being decoded is handed over
    (:func:`call_when_idle`), so a fast stream costs a list append per item, not a
    lock and a notify, and the consumer wakes once per read.
    """

    __slots__ = ("_closed", "_items", "_waiting", "_wake")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._wake = threading.Event()
        self._waiting = False
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether the producer has finished (items may still be queued)."""
        return self._closed

    def push(self, item: T) -> None:
        """Called on the producer thread."""
        self._items.append(item)
        if self._waiting:
            self._waiting = False  # one wake-up per wait, not one per item
            call_when_idle(self._wake.set)

    def close(self) -> None:
        """The producer is done; wakes the consumer."""
        self._closed = True
        self._wake.set()

    def take(self, timeout: float) -> list[T]:
        """Everything queued, waiting up to ``timeout`` seconds if there is nothing.

        Returns at once, possibly empty, once the bridge is closed.
        """
        items = self._items
        if not items and not self._closed:
            self._wake.clear()
            self._waiting = True
            # Check again after announcing we wait: an item pushed or a close in
            # between is seen here, so no wake-up is lost.
            if not items and not self._closed:
                self._wake.wait(timeout)
            self._waiting = False
        # A list, not a deque: the producer only appends, so taking the first n items
        # and deleting them leaves whatever it appended meanwhile.
        n = len(items)
        out = items[:n]
        del items[:n]
        return out
