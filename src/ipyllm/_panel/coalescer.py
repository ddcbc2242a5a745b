"""Throttling a tab's deltas into few, small widget messages.

Two kinds of message go to ``send``::

    {"type": "deltas", "items": [{"tab": id, "turn": n, "channel": "text" | "reasoning",
                                  "offset": o, "text": merged}, ...]}
    {"type": "status", "tab": id, "turn": n, "status": "streaming" | "done" | ...}
    {"type": "tool_call", "tab": id, "turn": n, "call": {index, id, name, arguments,
                                                         status, result, error, elapsed_s}}

A ``deltas`` message batches every pending piece, one item per run of
contiguous text of one tab, turn and channel, in the order they first arrived.
A tool call whose arguments are still arriving is sent with the deltas, its
latest state only; any other change of a call goes at once, after the deltas.
Each character is sent once, so the bytes sent stay those of the answer, and
at most about one ``deltas`` message goes out per ``interval`` (jupyter_server
drops iopub traffic above 1,000 messages a second).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .._manager.events import TabDelta, TabEvent, TabToolCall
from .pacer import PACER, Pacer
from .state import tool_call_json

log = logging.getLogger("ipyllm")

Message = dict[str, Any]


class DeltaCoalescer:
    """Merges tab events pushed from any thread into throttled messages for ``send``.

    The first delta after ``interval`` without one is sent at once, so the
    first token shows immediately; later ones wait and go out together, at
    most once per ``interval``. A status is sent at once, right after every
    delta still pending, so a tab's text always precedes its status.

    ``send`` is called by whichever thread triggers the message: the caller of
    :meth:`push` (a first delta, a status; never the caller of :meth:`put`,
    which only stores the delta), the background flusher thread
    (merged deltas), or the caller of :meth:`flush_due`, :meth:`flush` or
    :meth:`close`. Calls never overlap and come in event order; ``send`` must
    not call back into the coalescer. With ``thread=False`` no flusher thread
    runs and the owner calls :meth:`flush_due` (deterministic tests with a
    fake ``clock``). ``pacer`` (the kernel-wide one unless a ``clock`` is
    given) stretches ``interval`` while many panels stream at once.
    """

    def __init__(
        self,
        send: Callable[[Message], object],
        interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        *,
        thread: bool = True,
        pacer: Pacer | None = None,
    ) -> None:
        self.send = send
        self.base_interval = interval
        self.clock = clock
        self.pacer = pacer if pacer is not None else (PACER if clock is time.monotonic else None)
        self.closed = False
        self._send_lock = threading.Lock()  # outer: one send at a time, in order
        self._lock = threading.Lock()  # inner: the pending state
        self._wake = threading.Condition(self._lock)
        self._pending: list[Message] = []
        # Tool calls whose arguments are arriving, latest state only, by (tab, turn, index).
        self._calls: dict[tuple[str, int, int], Message] = {}
        self._last_sent = float("-inf")  # when the last deltas message went out
        self._failures = 0
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(
                target=self._run, name="ipyllm-panel-flusher", daemon=True
            )
            self._thread.start()

    @property
    def interval(self) -> float:
        """The time kept between delta messages now (longer while many panels stream)."""
        if self.pacer is None:
            return self.base_interval
        return self.pacer.interval(self.base_interval)

    def push(self, event: TabEvent) -> None:
        """Take one tab event (any thread); events pushed after :meth:`close` are dropped."""
        with self._lock:
            if self.closed:
                return
            if isinstance(event, TabDelta):
                idle = not self._pending and self.clock() - self._last_sent >= self.interval
                self._add(event)
                if not idle:
                    self._wake.notify()
                    return
        if isinstance(event, TabDelta):
            self.flush()
            return
        if isinstance(event, TabToolCall):
            message = _call_message(event)
            key = (event.tab_id, event.turn, event.index)
            if event.status == "requested":  # its arguments grow: throttled like text
                with self._lock:
                    self._calls[key] = message
                    self._wake.notify()
                return
            with self._lock:
                self._calls.pop(key, None)
            self._flush(message)
            return
        self._flush(
            {"type": "status", "tab": event.tab_id, "turn": event.turn, "status": event.status}
        )

    def put(self, delta: TabDelta) -> None:
        """Store one delta and leave its sending to the flusher thread (any thread; never
        blocks on a send): the stream's own thread hands deltas over this way. The
        flusher sends at once after ``interval`` without a send, else when it is due."""
        with self._lock:
            if self.closed:
                return
            self._add(delta)
            self._wake.notify()

    def flush_due(self) -> bool:
        """Send the pending deltas if ``interval`` has passed since the last send; True if sent."""
        with self._lock:
            due = bool(self._pending) and self.clock() - self._last_sent >= self.interval
        return due and self.flush()

    def flush(self) -> bool:
        """Send every pending delta now; True if there were any."""
        return self._flush(None)

    def close(self) -> None:
        """Stop the flusher thread and send what is pending."""
        with self._lock:
            self.closed = True
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        if self.pacer is not None:
            self.pacer.forget(self)

    def _add(self, event: TabDelta) -> None:
        # Called with _lock held. Only the last item of the same tab, turn and channel
        # can continue contiguously; anything else starts an item of its own.
        for item in reversed(self._pending):
            if (item["tab"], item["turn"], item["channel"]) == (
                event.tab_id,
                event.turn,
                event.channel,
            ):
                if item["offset"] + len(item["text"]) == event.offset:
                    item["text"] += event.text
                    return
                break
        self._pending.append(
            {
                "tab": event.tab_id,
                "turn": event.turn,
                "channel": event.channel,
                "offset": event.offset,
                "text": event.text,
            }
        )

    def _flush(self, then: Message | None) -> bool:
        """Send the pending deltas (if any), then ``then`` (if given)."""
        with self._send_lock:
            with self._lock:
                items, self._pending = self._pending, []
                calls, self._calls = list(self._calls.values()), {}
                if items or calls:
                    self._last_sent = self.clock()
            if items:
                self.send({"type": "deltas", "items": items})
                if self.pacer is not None:
                    self.pacer.sent(self)
            for call in calls:
                self.send(call)
            if then is not None:
                self.send(then)
        return bool(items or calls)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self.closed:
                    waiting = bool(self._pending or self._calls)
                    wait = self._last_sent + self.interval - self.clock()
                    if waiting and wait <= 0:
                        break
                    self._wake.wait(wait if waiting else None)
                if self.closed:
                    return
            try:
                self.flush()
            except Exception:
                self._failures += 1
                if self._failures == 1:  # once: a broken view must not flood the log
                    log.warning("the panel's send failed; it keeps sending", exc_info=True)


def _call_message(event: TabToolCall) -> Message:
    call = tool_call_json(
        event.index,
        event.id,
        event.name,
        event.arguments,
        event.status,
        event.result,
        event.error,
        event.elapsed_s,
    )
    return {"type": "tool_call", "tab": event.tab_id, "turn": event.turn, "call": call}
