"""Byte-level line buffering shared by the SSE and NDJSON decoders, with a size bound."""

from __future__ import annotations

_BOM = b"\xef\xbb\xbf"

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
"""The largest line (or SSE event) a decoder accepts by default: 8 MiB. The engine's
``Limits.max_event_bytes`` takes its default from here (the wire layer sits below the
engine and imports nothing from it)."""


class EventTooLarge(Exception):
    """A line or event is longer than the decoder's limit.

    Not a ``ValueError``: it is not malformed data but a bound the caller chose, and
    callers report it as such. The decoder must not be fed again after it raised.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"a line or event is larger than the {limit:,}-byte limit")
        self.limit = limit


class LineBuffer:
    """The unterminated tail of a byte stream, and whether a BOM may still start it.

    Line ends ("\\n", "\\r") never occur inside a UTF-8 sequence, so callers split
    on bytes and decode only complete lines: a character split across reads
    stays whole.

    No line may exceed ``limit`` bytes: :class:`EventTooLarge` is raised as soon as
    the tail passes it, so at most ``limit`` bytes plus the chunk being fed are held.
    """

    __slots__ = ("_head", "_held", "_pending", "at_start", "limit")

    def __init__(self, limit: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.limit = limit
        # Bytes of the unterminated last line. A list, joined only once its end arrives,
        # so a stream fed one byte at a time stays linear.
        self._pending: list[bytes] = []
        self._held = 0  # their total length
        # Bytes seen while it is not yet known whether the stream starts with a BOM;
        # None once that is settled.
        self._head: bytes | None = b""
        # Whether strip_bom still has work to do; decoders test it before calling, which
        # keeps a call off the path of every later read.
        self.at_start = True

    @property
    def held(self) -> int:
        """How many bytes of an unfinished line are buffered."""
        return self._held + len(self._head or b"")

    def strip_bom(self, chunk: bytes) -> bytes:
        """Drop a UTF-8 BOM at the very start of the stream, even if it arrives split."""
        if self._head is None:
            return chunk
        head = self._head + chunk if self._head else chunk
        if len(head) < 3 and _BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        self.at_start = False
        return head[3:] if head.startswith(_BOM) else head

    def hold(self, chunk: bytes) -> None:
        """Keep ``chunk``: it ends no line."""
        self._pending.append(chunk)
        held = self._held + len(chunk)
        self._held = held
        if held > self.limit:
            self._overflow()

    def complete(self, chunk: bytes, stop: int, resume: int, cr: bool = False) -> bytes:
        """The buffered bytes plus ``chunk[:stop]``; keep ``chunk[resume:]`` for later.

        ``cr``: a "\\r" also ends a line (SSE), which matters only for the size check.
        """
        pending = self._pending
        if pending:
            pending.append(chunk[:stop])
            block = b"".join(pending)
            pending.clear()
        else:
            block = chunk[:stop]
        # A block within the limit cannot hold a line over it, so the common case costs
        # one comparison; only a larger block is split to measure its lines.
        if len(block) > self.limit and _longest_line(block, cr) > self.limit:
            self._overflow()
        if resume < len(chunk):
            tail = chunk[resume:]
            pending.append(tail)
            self._held = len(tail)
            if self._held > self.limit:
                self._overflow()
        else:
            self._held = 0
        return block

    def rest(self) -> str | None:
        """End of stream: the unterminated last line, decoded (None if there is none).

        Afterwards the buffer is back in its initial state.
        """
        pending = self._pending
        if self._head:
            # Fewer than three bytes, all a BOM prefix: not a BOM, so they are content.
            pending.append(self._head)
        text = b"".join(pending).decode("utf-8", "replace") if pending else None
        self._pending = []
        self._held = 0
        self._head = b""
        self.at_start = True
        return text

    def _overflow(self) -> None:
        # Drop what was held: the stream is abandoned, and its bytes must not linger.
        self._pending = []
        self._held = 0
        raise EventTooLarge(self.limit)


def _longest_line(block: bytes, cr: bool) -> int:
    if cr:
        block = block.replace(b"\r", b"\n")
    return max(map(len, block.split(b"\n")))
