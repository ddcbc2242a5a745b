"""A worker thread running its own asyncio loop, where synchronous callers' streams run.

Streams must not run on the kernel's own loop: it freezes whenever a cell
blocks (``time.sleep``), and ``asyncio.run`` cannot nest inside it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
from collections.abc import Coroutine
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


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run ``coro`` on the worker loop; cancelling the future cancels the task."""
    return asyncio.run_coroutine_threadsafe(coro, worker_loop())


class ChunkBridge(Generic[T]):
    """Hands items from the worker thread to one consuming thread.

    The producer only appends; it wakes the consumer only when the consumer is
    actually waiting, so a fast stream costs a deque append per item, not a
    lock and a notify.
    """

    __slots__ = ("_closed", "_items", "_waiting", "_wake")

    def __init__(self) -> None:
        self._items: collections.deque[T] = collections.deque()
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
            self._wake.set()

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
        out = []
        while items:
            out.append(items.popleft())
        return out
