"""Incremental ``text/event-stream`` decoder (WHATWG SSE rules): bytes in, events out."""

from __future__ import annotations

from typing import NamedTuple

_BOM = b"\xef\xbb\xbf"


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
    """

    __slots__ = ("_cr", "_data", "_event", "_head", "_id", "_pending", "_retry")

    def __init__(self) -> None:
        """Start a fresh stream."""
        self._reset()

    def _reset(self) -> None:
        """Forget everything: the state of a decoder that has seen no bytes."""
        # Bytes of the unterminated last line. A list, joined only once its end arrives,
        # so a stream fed one byte at a time stays linear.
        self._pending: list[bytes] = []
        # The last chunk ended in "\r": a "\n" starting the next chunk completes that CRLF
        # and must not be read as a blank line.
        self._cr = False
        # Bytes seen while it is not yet known whether the stream starts with a BOM;
        # None once that is settled.
        self._head: bytes | None = b""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode the next chunk of the body; return the events it completes, in order."""
        if not chunk:
            # An empty read must not clear the pending-CR state below.
            return []
        if self._head is not None:
            chunk = self._strip_bom(chunk)
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
        # Fast path, LF only. Split on bytes and decode only complete lines: "\n" never
        # occurs inside a UTF-8 sequence, so a character split across reads stays whole.
        end = chunk.rfind(b"\n")
        pending = self._pending
        if end < 0:
            pending.append(chunk)
            return []
        if pending:
            pending.append(chunk[:end])
            block = b"".join(pending)
            pending.clear()
        else:
            block = chunk[:end]
        if end + 1 < len(chunk):
            pending.append(chunk[end + 1 :])
        return self._lines(block.decode("utf-8", "replace").split("\n"))

    def flush(self) -> list[SSEEvent]:
        """End the stream: dispatch a last line or event that had no trailing blank line.

        Strict WHATWG parsing drops such an event; servers do send them, so we keep it.
        Afterwards the decoder is back in its initial state.
        """
        pending = self._pending
        if self._head:
            # Fewer than three bytes, all a BOM prefix: not a BOM, so they are content.
            pending.append(self._head)
        lines = [b"".join(pending).decode("utf-8", "replace")] if pending else []
        lines.append("")  # a final blank line dispatches whatever is pending
        events = self._lines(lines)
        self._reset()
        return events

    def _strip_bom(self, chunk: bytes) -> bytes:
        """Drop a UTF-8 BOM at the very start of the stream, even if it arrives split."""
        head = self._head + chunk if self._head else chunk
        if len(head) < 3 and _BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        return head[3:] if head.startswith(_BOM) else head

    def _feed_cr(self, chunk: bytes) -> list[SSEEvent]:
        """Slow path for chunks holding a "\\r": line ends may be CR, LF or CRLF."""
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))  # >= 0: chunk holds a "\r"
        last = len(chunk) - 1
        # A line ending in "\r" is complete now (no need to wait for the next read), but
        # remember it so that a "\n" opening the next chunk is taken as its CRLF tail.
        self._cr = end == last and chunk[last] == 13
        pending = self._pending
        pending.append(chunk[: end + 1])
        block = b"".join(pending)
        pending.clear()
        if end < last:
            pending.append(chunk[end + 1 :])
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
            elif not line:
                if data:
                    out.append(
                        _new_tuple(
                            SSEEvent,
                            (
                                event or "message",
                                data[0] if len(data) == 1 else "\n".join(data),
                                last_id,
                                retry,
                            ),
                        )
                    )
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
        return out
