"""The HTTP side: parse a request, record it, pick a plan, and put it on the socket.

Bodies are written straight to the socket. Without pacing, a whole stream goes out in
64 KiB writes; with ``delay_s`` each piece is its own HTTP chunk and socket write.
While it sleeps (delays, stalls) the handler peeks at the socket, so a client that hangs
up is noticed at once rather than on the next write.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ._plan import Plan, json_plan
from ._render import Call, render
from ._reply import Reply
from ._routes import Route, key_rejection, models_plan, route_for
from ._state import RecordedRequest, ServerState

__all__ = ["FakeHTTPServer"]

_WRITE_SIZE = 64 * 1024
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_NO_FAULTS = Reply()
_REASONS = {529: "Overloaded"}


class _ClientGone(Exception):
    """The client closed the connection while its response was being sent."""


class FakeHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server on 127.0.0.1 whose handlers share one :class:`ServerState`."""

    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when dozens of
    # streams (a 50-tab benchmark, a batch) connect at once.
    request_queue_size = 128

    def __init__(self, state: ServerState) -> None:
        self.state = state
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can take seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.socket.getsockname()[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that hang up mid-request are routine in tests."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ipyllm-fake/1"
    sys_version = ""
    server: FakeHTTPServer

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.state.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.state.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read ``server.requests``, not a log."""

    def do_GET(self) -> None:
        self._respond()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ---- one request ----

    def _respond(self) -> None:
        state = self.server.state
        state.begin()
        self._started = False
        try:
            plan, reply = self._plan(state)
            self._send(plan, reply)
        except (_ClientGone, *_GONE):
            self.close_connection = True
            if self._started:
                state.note_disconnect()
        except Exception as exc:
            # A bug in the fake itself: say so to the client rather than vanish.
            self.close_connection = True
            if not self._started:
                error = {"message": f"fake server bug: {exc!r}", "type": "server_error"}
                with contextlib.suppress(Exception):
                    self._send(json_plan(500, {"error": error}), _NO_FAULTS)
        finally:
            state.end()

    def _plan(self, state: ServerState) -> tuple[Plan, Reply]:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self._read_body()
        data = _parse_json(body)
        state.record(RecordedRequest(self.command, url.path, query, headers, data, body))

        route = route_for(self.command, unquote(url.path), headers, query, data)
        if route is None:
            message = f"No route for {self.command} {url.path} on the fake LLM server."
            error = {"code": 404, "message": message, "status": "NOT_FOUND", "type": "not_found"}
            return json_plan(404, {"error": error}), _NO_FAULTS
        if state.api_key is not None:
            rejection = key_rejection(route, headers, query, state.api_key)
            if rejection is not None:
                return rejection, _NO_FAULTS
        if route.action != "complete":
            return models_plan(route, state.models), _NO_FAULTS
        reply = state.next_reply()
        return self._render(route, reply, data, query), reply

    def _render(self, route: Route, reply: Reply, data: Any, query: dict[str, str]) -> Plan:
        request = data if isinstance(data, dict) else {}
        model = route.model or str(request.get("model") or "fake-model")
        options = request.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        if route.kind == "gemini":
            stream = route.stream and query.get("alt") == "sse"
        elif route.kind == "ollama":
            stream = request.get("stream", True) is not False  # Ollama streams by default
        else:
            stream = request.get("stream") is True  # OpenAI and Anthropic do not
        plan = render(reply, Call(route.kind, model, stream, include_usage))
        array = route.kind == "gemini" and route.stream and not stream
        if array and reply.body is None and plan.status == 200:
            # :streamGenerateContent without alt=sse sends a JSON array of chunks.
            plan.pieces = [b"[" + b"".join(plan.pieces).rstrip() + b"]\n"]
        return plan

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ---- the response ----

    def _send(self, plan: Plan, reply: Reply) -> None:
        chunked = plan.chunked
        self.send_response(plan.status, _REASONS.get(plan.status))
        for name, value in plan.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        if chunked and self.request_version != "HTTP/1.1":
            chunked = False  # HTTP/1.0 has no chunks: end the body by closing
            self.send_header("connection", "close")
        elif chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            size = len(plan.head) + sum(map(len, plan.pieces)) + len(plan.tail)
            self.send_header("content-length", str(size))
        self._started = True
        self.end_headers()
        if self.command != "HEAD":
            self._play(plan, reply, _BodyWriter(self.connection, chunked, reply.chunk_size))

    def _play(self, plan: Plan, reply: Reply, out: _BodyWriter) -> None:
        count = len(plan.pieces)

        def clamp(value: int | None) -> int | None:
            return None if value is None else min(value, count)

        stall_at, drop_at = clamp(reply.stall_after), clamp(reply.drop_after)
        error_at = clamp(reply.error_after) if plan.error is not None else None
        paced = reply.delay_s > 0
        out.write(plan.head)
        for i in range(count + 1):
            if i == stall_at:
                out.flush()
                self._pause(reply.stall_s)
            if i == error_at and plan.error is not None:
                out.write(plan.error)
                out.finish()
                return
            if i == drop_at:
                out.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if i == count:
                break
            if paced:
                out.flush()
                self._pause(reply.delay_s)
            out.write(plan.pieces[i])
            if paced:
                out.flush()
        out.write(plan.tail)
        out.finish()

    def _pause(self, seconds: float) -> None:
        """Sleep, but raise :class:`_ClientGone` as soon as the client hangs up."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        try:
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    peeked = sock.recv(1, socket.MSG_PEEK)
                except TimeoutError:
                    return
                if not peeked:
                    raise _ClientGone
                time.sleep(max(0.0, deadline - time.monotonic()))  # it sent bytes: just wait
        except _GONE as exc:
            raise _ClientGone from exc
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(None)


class _BodyWriter:
    """Frames body bytes (chunked or not) and sends them in few, large socket writes."""

    def __init__(self, sock: socket.socket, chunked: bool, split: int | None) -> None:
        self._sock = sock
        self._chunked = chunked
        self._split = split or _WRITE_SIZE
        self._buffer: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if data:
            self._buffer.append(data)
            self._size += len(data)
            if self._size >= _WRITE_SIZE:
                self.flush()

    def flush(self, end: bytes = b"") -> None:
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._size = 0
        step = self._split
        frames = [self._frame(data[i : i + step]) for i in range(0, len(data), step)]
        if step < _WRITE_SIZE:
            for frame in frames:  # small reads on purpose: one socket write each
                self._sock.sendall(frame)
            frames = []
        if frames or end:
            self._sock.sendall(b"".join([*frames, end]))

    def finish(self) -> None:
        self.flush(b"0\r\n\r\n" if self._chunked else b"")

    def _frame(self, data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data) if self._chunked else data


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
