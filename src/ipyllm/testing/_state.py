"""State the request handlers share with the front door, behind one lock."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ._reply import Reply

__all__ = ["RecordedRequest", "ServerState"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake server received it."""

    method: str
    path: str
    """The path without the query string, as sent (not percent-decoded)."""
    query: dict[str, str]
    """Query parameters; the last value wins when a name repeats."""
    headers: dict[str, str]
    """Header names in lower case; the last value wins when a name repeats."""
    json: Any
    """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
    body: bytes

    @property
    def messages(self) -> list[Any]:
        """The conversation the body carried, in its own wire shape: ``messages`` (OpenAI,
        Anthropic, Ollama) or Gemini's ``contents``; ``[]`` when it has neither."""
        return self._list("messages") or self._list("contents")

    @property
    def tools(self) -> list[Any]:
        """The tool declarations the body carried (``tools``), as sent; ``[]`` if none."""
        return self._list("tools")

    def _list(self, key: str) -> list[Any]:
        value = self.json.get(key) if isinstance(self.json, dict) else None
        return value if isinstance(value, list) else []


class ServerState:
    """Scripted replies, recordings, counters and open connections of one fake server."""

    def __init__(self, default_reply: Reply, models: list[str], api_key: str | None) -> None:
        self.default_reply = default_reply
        self._initial_reply = default_reply
        self.models = models
        self.api_key = api_key
        self.closing = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._replies: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._active = 0
        self._last_activity = time.monotonic()
        self._connections: set[socket.socket] = set()

    # ---- scripted replies and recordings ----

    def add_reply(self, reply: Reply) -> None:
        with self._lock:
            self._replies.append(reply)

    def next_reply(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else self.default_reply

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self.default_reply = self._initial_reply
            self._replies.clear()
            self._requests.clear()
            self._disconnects = 0

    # ---- disconnects ----

    def note_disconnect(self) -> None:
        with self._changed:
            if not self.closing:
                self._disconnects += 1
                self._changed.notify_all()

    @property
    def disconnects(self) -> int:
        with self._lock:
            return self._disconnects

    def wait_for_disconnect(self, timeout: float | None, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._disconnects >= count, timeout)

    # ---- activity, for the idle timeout ----

    def begin(self) -> None:
        with self._lock:
            self._active += 1
            self._last_activity = time.monotonic()

    def end(self) -> None:
        with self._lock:
            self._active -= 1
            self._last_activity = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last request started or ended; 0 while one is in flight."""
        with self._lock:
            return 0.0 if self._active else time.monotonic() - self._last_activity

    # ---- open connections, cut on close ----

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def cut_connections(self) -> None:
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
