"""Byte-level line buffering shared by the SSE and NDJSON decoders."""

from __future__ import annotations

_BOM = b"\xef\xbb\xbf"


class LineBuffer:
    """The unterminated tail of a byte stream, and whether a BOM may still start it.

    Line ends ("\\n", "\\r") never occur inside a UTF-8 sequence, so callers split
    on bytes and decode only complete lines: a character split across reads
    stays whole.
    """

    __slots__ = ("_head", "_pending")

    def __init__(self) -> None:
        # Bytes of the unterminated last line. A list, joined only once its end arrives,
        # so a stream fed one byte at a time stays linear.
        self._pending: list[bytes] = []
        # Bytes seen while it is not yet known whether the stream starts with a BOM;
        # None once that is settled.
        self._head: bytes | None = b""

    def strip_bom(self, chunk: bytes) -> bytes:
        """Drop a UTF-8 BOM at the very start of the stream, even if it arrives split."""
        if self._head is None:
            return chunk
        head = self._head + chunk if self._head else chunk
        if len(head) < 3 and _BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        return head[3:] if head.startswith(_BOM) else head

    def hold(self, chunk: bytes) -> None:
        """Keep ``chunk``: it ends no line."""
        self._pending.append(chunk)

    def complete(self, chunk: bytes, stop: int, resume: int) -> bytes:
        """The buffered bytes plus ``chunk[:stop]``; keep ``chunk[resume:]`` for later."""
        pending = self._pending
        if pending:
            pending.append(chunk[:stop])
            block = b"".join(pending)
            pending.clear()
        else:
            block = chunk[:stop]
        if resume < len(chunk):
            pending.append(chunk[resume:])
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
        self._head = b""
        return text
