"""Incremental newline-delimited JSON splitter: bytes in, one line of text per record out."""

from __future__ import annotations

_BOM = b"\xef\xbb\xbf"


class NDJSONDecoder:
    """Incremental newline-delimited JSON splitter; yields each non-blank line's text (not parsed).

    Lines end at LF; a CR before it is dropped. Blank and whitespace-only lines are skipped.
    Call :meth:`flush` at end of stream for a last line with no trailing newline.
    """

    __slots__ = ("_head", "_pending")

    def __init__(self) -> None:
        """Start a fresh stream."""
        # Bytes of the unterminated last line. A list, joined only once its end arrives,
        # so a stream fed one byte at a time stays linear.
        self._pending: list[bytes] = []
        # Bytes seen while it is not yet known whether the stream starts with a BOM;
        # None once that is settled.
        self._head: bytes | None = b""

    def feed(self, chunk: bytes) -> list[str]:
        """Split the next chunk of the body; return the lines it completes, in order."""
        if self._head is not None:
            chunk = self._strip_bom(chunk)
        # Split on bytes and decode only complete lines: "\n" never occurs inside a UTF-8
        # sequence, so a character split across reads stays whole.
        end = chunk.rfind(b"\n")
        pending = self._pending
        if end < 0:
            if chunk:
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
        return _keep(block.decode("utf-8", "replace").split("\n"))

    def flush(self) -> list[str]:
        """End the stream: return a last line that had no trailing newline.

        Afterwards the splitter is back in its initial state.
        """
        pending = self._pending
        if self._head:
            # Fewer than three bytes, all a BOM prefix: not a BOM, so they are content.
            pending.append(self._head)
        lines = _keep([b"".join(pending).decode("utf-8", "replace")]) if pending else []
        self._pending = []
        self._head = b""
        return lines

    def _strip_bom(self, chunk: bytes) -> bytes:
        """Drop a UTF-8 BOM at the very start of the stream, even if it arrives split."""
        head = self._head + chunk if self._head else chunk
        if len(head) < 3 and _BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        return head[3:] if head.startswith(_BOM) else head


def _keep(lines: list[str]) -> list[str]:
    """Drop each line's trailing CR, then the blank and whitespace-only lines."""
    # isspace() stops at the first non-space character, so for JSON it costs one look;
    # a line holding only "\r" counts as whitespace and is dropped with the blank ones.
    return [
        line[:-1] if line[-1] == "\r" else line for line in lines if line and not line.isspace()
    ]
