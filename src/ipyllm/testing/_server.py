"""`FakeLLMServer`: start, script, inspect and stop the loopback fake."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import selectors
import socket
import threading
import weakref
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from ._handler import FakeHTTPServer
from ._reply import Reply
from ._state import RecordedRequest, ServerState

__all__ = ["DEFAULT_MODELS", "FakeLLMServer"]

DEFAULT_MODELS = (
    "fake-model",
    "gpt-4o-mini",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
    "llama3.2",
)
"""Model ids the list routes report unless ``models=`` says otherwise."""

# Base-URL path per provider family; every other name is OpenAI-compatible at /v1.
_BASE_PATHS = {"anthropic": "", "gemini": "", "google": "", "ollama": "", "zai": "/api/paas/v4"}

_live: weakref.WeakSet[FakeLLMServer] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for server in list(_live):
        server.close()


class FakeLLMServer:
    """A fake LLM API on ``127.0.0.1``, speaking the OpenAI, Anthropic, Gemini and Ollama wire
    formats on one random port. It starts listening when constructed.

    Completion requests take scripted replies from :meth:`add_reply` first in, first out,
    then ``default_reply``. Model-list requests report ``models``: Gemini's under ``/v1/``
    (google-genai's default) and ``/v1beta/``, Ollama's ``/api/tags`` and ``/api/show``.
    Ollama's JSON is escaped as Go writes it (``<``, ``>``, ``&``, U+2028, U+2029 as
    ``\\u`` escapes), so clients that split lines like ``str.splitlines()`` read it as they
    read real Ollama. With ``api_key`` set, requests must carry it the way each provider
    expects or get that provider's auth error.
    The server stops on :meth:`close`, at the end of a ``with`` block, at interpreter exit,
    or after ``idle_timeout`` seconds without a request (``None``: never).
    """

    def __init__(
        self,
        replies: Iterable[Reply | str | list[str]] = (),
        *,
        default_reply: Reply | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        api_key: str | None = None,
        idle_timeout: float | None = 600.0,
    ) -> None:
        self._state = ServerState(default_reply or Reply(), list(models), api_key)
        for reply in replies:
            self.add_reply(reply)
        self.idle_timeout = idle_timeout
        self._httpd = FakeHTTPServer(self._state)
        self._httpd.socket.setblocking(False)
        self.port: int = self._httpd.server_port
        """The TCP port the server listens on."""
        self._close_lock = threading.Lock()
        self._closed = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(
            target=self._serve, name=f"FakeLLMServer:{self.port}", daemon=True
        )
        self._thread.start()
        _live.add(self)

    # ---- addresses ----

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, provider: str = "openai") -> str:
        """The ``base_url`` a client for ``provider`` should use.

        ``anthropic``, ``gemini`` (or ``google``) and ``ollama`` get :attr:`url`; ``zai``
        gets ``{url}/api/paas/v4``; any other name is OpenAI-compatible: ``{url}/v1``.
        """
        return self.url + _BASE_PATHS.get(provider.lower(), "/v1")

    # ---- scripting ----

    @property
    def default_reply(self) -> Reply:
        """The reply used when no scripted reply is queued."""
        return self._state.default_reply

    @default_reply.setter
    def default_reply(self, reply: Reply) -> None:
        self._state.default_reply = reply

    @property
    def models(self) -> list[str]:
        """Model ids the list routes report (mutable)."""
        return self._state.models

    @models.setter
    def models(self, models: Sequence[str]) -> None:
        self._state.models = list(models)

    @property
    def api_key(self) -> str | None:
        """The key every request must carry, or ``None`` to accept any request."""
        return self._state.api_key

    @api_key.setter
    def api_key(self, key: str | None) -> None:
        self._state.api_key = key

    def add_reply(self, reply: Reply | str | list[str] | None = None, /, **fields: Any) -> Reply:
        """Queue a reply for the next completion request, whatever its format.

        ``reply`` is a :class:`Reply` or its text (a ``str``, or a list of pieces); keyword
        arguments are :class:`Reply` fields and override it: ``add_reply("hi", delay_s=0.1)``,
        ``add_reply(status=429)``. Returns the queued reply.
        """
        if reply is None:
            reply = Reply(**fields)
        elif not isinstance(reply, Reply):
            reply = Reply(reply, **fields)
        elif fields:
            reply = dataclasses.replace(reply, **fields)
        self._state.add_reply(reply)
        return reply

    @property
    def pending_replies(self) -> int:
        """How many scripted replies no request has taken yet."""
        return self._state.pending

    # ---- what clients did ----

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        return self._state.requests

    @property
    def disconnects(self) -> int:
        """How many responses the client hung up on before they were complete."""
        return self._state.disconnects

    def wait_for_disconnect(self, timeout: float | None = 5.0, *, count: int = 1) -> bool:
        """Wait until :attr:`disconnects` reaches ``count``; ``False`` if ``timeout`` ran out."""
        return self._state.wait_for_disconnect(timeout, count)

    def reset(self) -> None:
        """Forget queued replies, recorded requests and the disconnect count; the default
        reply is the one the server started with again."""
        self._state.reset()

    # ---- lifetime ----

    @property
    def closed(self) -> bool:
        """Whether the server has stopped listening."""
        return self._closed

    def close(self) -> None:
        """Stop listening and cut every open connection. Safe to call more than once."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._state.closing = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        self._httpd.server_close()
        self._state.cut_connections()
        self._wake_r.close()
        self._wake_w.close()
        _live.discard(self)

    def __enter__(self) -> FakeLLMServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<FakeLLMServer {self.url} {state}>"

    def _serve(self) -> None:
        """Accept connections until closed or idle; each one gets a daemon handler thread."""
        listener = self._httpd.socket
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._closed:
                timeout = None
                if self.idle_timeout is not None:
                    timeout = max(0.0, self.idle_timeout - self._state.idle_for())
                events = selector.select(timeout)
                if self._closed:
                    return
                if not events:
                    if self._state.idle_for() >= (self.idle_timeout or 0.0):
                        self.close()
                        return
                    continue
                for key, _ in events:
                    if key.fileobj is listener:
                        self._accept()

    def _accept(self) -> None:
        try:
            conn, address = self._httpd.socket.accept()
        except OSError:  # the client gave up before we got to it
            return
        try:
            conn.setblocking(True)  # BSDs hand out the listener's non-blocking flag
            self._httpd.process_request(conn, address)
        except Exception:
            self._httpd.shutdown_request(conn)
