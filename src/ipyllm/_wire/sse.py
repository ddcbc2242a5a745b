"""Incremental ``text/event-stream`` decoder (WHATWG SSE rules): bytes in, events out."""

from __future__ import annotations

from typing import NamedTuple

from .lines import DEFAULT_MAX_LINE_BYTES, EventTooLarge, LineBuffer


class SSEEvent(NamedTuple):
    """One dispatched server-sent event.

    ``event`` is the ``event:`` field, or ``"message"`` when the event had none (or an empty
    one); ``data`` is its ``data:`` lines joined with ``"\\n"``; ``id`` is the last event ID
    seen so far in the stream (per the spec it persists across events), or ``None``;
    ``retry`` is the ``retry:`` value sent within this event, or ``None``.
    """

    event: str
    data: str
    id: str | None
    retry: int | None


# NamedTuple's generated __new__ is a Python-level function; calling tuple.__new__ directly
# builds the same object without that extra frame, which matters at ~1M events/s.
_new_tuple = tuple.__new__


class SSEDecoder:
    """Incremental text/event-stream decoder.

    Feed it the body's bytes as they arrive, in chunks of any size; it returns the events
    each chunk completes. Call :meth:`flush` at end of stream.

    A line, or an event's data, longer than ``max_event_bytes`` raises
    :class:`~ipyllm._wire.lines.EventTooLarge` as soon as the decoder holds more than
    that (so it never buffers much more than the limit); the stream is then unusable.
    """

    __slots__ = ("_buffer", "_counted", "_cr", "_data", "_event", "_id", "_limit", "_retry")

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        """Start a fresh stream."""
        self._limit = max_event_bytes
        self._reset()

    @property
    def buffered(self) -> int:
        """Bytes held for a line or event not yet complete (the part the limit bounds)."""
        data = self._data
        return self._buffer.held + sum(len(d.encode()) for d in data) + max(len(data) - 1, 0)

    def _reset(self) -> None:
        """Forget everything: the state of a decoder that has seen no bytes."""
        self._buffer = LineBuffer(self._limit)
        # The last chunk ended in "\r": a "\n" starting the next chunk completes that CRLF
        # and must not be read as a blank line.
        self._cr = False
        self._event = ""
        self._data: list[str] = []
        # (the open event's data list, how many of its lines were counted, their size)
        self._counted: tuple[list[str], int, int] = ([], 0, 0)
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode the next chunk of the body; return the events it completes, in order."""
        if not chunk:
            # An empty read must not clear the pending-CR state below.
            return []
        buffer = self._buffer
        if buffer.at_start:
            chunk = buffer.strip_bom(chunk)
            if not chunk:
                return []
        if self._cr:
            self._cr = False
            if chunk[0] == 10:  # b"\n": second half of a CRLF split across reads
                chunk = chunk[1:]
                if not chunk:
                    return []
        if b"\r" in chunk:
            return self._feed_cr(chunk)
        # Fast path, LF only.
        end = chunk.rfind(b"\n")
        if end < 0:
            buffer.hold(chunk)
            return []
        block = buffer.complete(chunk, end, end + 1)
        return self._lines(block.decode("utf-8", "replace").split("\n"))

    def flush(self) -> list[SSEEvent]:
        """End the stream: dispatch a last line or event that had no trailing blank line.

        Strict WHATWG parsing drops such an event; servers do send them, so we keep it.
        Afterwards the decoder is back in its initial state.
        """
        rest = self._buffer.rest()
        lines = [rest] if rest is not None else []
        lines.append("")  # a final blank line dispatches whatever is pending
        events = self._lines(lines)
        self._reset()
        return events

    def _feed_cr(self, chunk: bytes) -> list[SSEEvent]:
        """Slow path for chunks holding a "\\r": line ends may be CR, LF or CRLF."""
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))  # >= 0: chunk holds a "\r"
        last = len(chunk) - 1
        # A line ending in "\r" is complete now (no need to wait for the next read), but
        # remember it so that a "\n" opening the next chunk is taken as its CRLF tail.
        self._cr = end == last and chunk[last] == 13
        block = self._buffer.complete(chunk, end + 1, end + 1, cr=True)
        text = block.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        lines.pop()  # text ends with the terminator, so the last piece is always ""
        return self._lines(lines)

    def _lines(self, lines: list[str]) -> list[SSEEvent]:
        """Interpret complete lines; return the events dispatched by blank lines."""
        out: list[SSEEvent] = []
        # Locals, written back at the end: attribute access in this loop is the cost.
        event = self._event
        data = self._data
        retry = self._retry
        last_id = self._id
        for line in lines:
            if line[:6] == "data: ":
                # The overwhelmingly common line, handled before the general field parse.
                data.append(line[6:])
            elif line[:7] == "event: ":  # the next most common (Anthropic names every event)
                event = line[7:]
            elif not line:
                if data:
                    if len(data) == 1:
                        joined = data[0]  # one line: LineBuffer has bounded it already
                    else:
                        joined = "\n".join(data)
                        if len(joined) > self._limit:
                            self._too_large()
                    out.append(_new_tuple(SSEEvent, (event or "message", joined, last_id, retry)))
                    data = []
                event = ""
                retry = None
            else:
                name, _, value = line.partition(":")
                if value[:1] == " ":
                    value = value[1:]
                if name == "data":
                    data.append(value)
                elif not name:
                    pass  # ":" starts a comment (keep-alives, OpenRouter's PROCESSING)
                elif name == "event":
                    event = value
                elif name == "id" and "\0" not in value:
                    last_id = value  # an id holding NUL is ignored, per the spec
                elif name == "retry" and value.isascii() and value.isdigit():
                    # Only ASCII digits count; str.isdigit alone accepts e.g. "²" or "٣".
                    retry = int(value)
                # Any other field name is ignored, as the spec requires.
        self._event = event
        self._data = data
        self._retry = retry
        self._id = last_id
        if len(data) > 1:
            self._check_open_event(data)
        return out

    def _check_open_event(self, data: list[str]) -> None:
        """An event still open must not grow past the limit through many short data lines.

        Counted incrementally (only the lines added since the last call), so an event
        fed line by line stays linear.
        """
        counted, lines, size = self._counted
        if counted is not data:  # a new event since the last count
            lines = size = 0
        size += sum(map(len, data[lines:])) + len(data) - lines  # each line and its "\n"
        self._counted = (data, len(data), size)
        if size > self._limit + 1:  # the last line has no "\n" in the joined data
            self._too_large()

    def _too_large(self) -> None:
        # Measured in characters, which never outnumber the UTF-8 bytes they came from.
        self._data = []
        self._counted = ([], 0, 0)
        raise EventTooLarge(self._limit)
