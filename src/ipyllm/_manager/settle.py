"""Settling a finished turn (pricing it, recording it in history) off the worker loop.

Pricing imports genai-prices the first time (about 0.3 s) and looks the model
up; done on the worker loop, that would stall every other tab's stream. One
daemon thread does it instead, turns in the order they finished, while the
finished turn's task waits without blocking the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("ipyllm")

_Job = tuple[Callable[[], object], "concurrent.futures.Future[None]"]

_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_start_lock = threading.Lock()


def submit(settle: Callable[[], object]) -> concurrent.futures.Future[None]:
    """Run ``settle()`` on the settle thread; the future completes when it has run.

    An exception in ``settle`` is logged, never raised: settling must not turn a
    finished answer into a failure.
    """
    global _thread
    future: concurrent.futures.Future[None] = concurrent.futures.Future()
    _jobs.put((settle, future))
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="ipyllm-settle", daemon=True)
            _thread.start()
    return future


async def settle_off_loop(settle: Callable[[], object]) -> None:
    """Await ``settle()`` run on the settle thread; the loop keeps streaming meanwhile.

    Shielded: a second cancel of the waiting task does not cancel the settling.
    """
    await asyncio.shield(asyncio.wrap_future(submit(settle)))


def _run() -> None:
    while True:
        settle, future = _jobs.get()
        try:
            settle()
        except Exception:
            log.warning("settling a turn failed", exc_info=True)
        future.set_result(None)
