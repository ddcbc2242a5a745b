"""Incremental newline-delimited JSON splitter: bytes in, one line of text per record out."""

from __future__ import annotations

from .lines import DEFAULT_MAX_LINE_BYTES, LineBuffer


class NDJSONDecoder:
    """Incremental newline-delimited JSON splitter; yields each non-blank line's text (not parsed).

    Lines end at LF; a CR before it is dropped. Blank and whitespace-only lines are skipped.
    Call :meth:`flush` at end of stream for a last line with no trailing newline.

    A line longer than ``max_event_bytes`` raises :class:`~ipyllm._wire.lines.EventTooLarge`
    as soon as more than that is buffered; the stream is then unusable.
    """

    __slots__ = ("_buffer",)

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        """Start a fresh stream."""
        self._buffer = LineBuffer(max_event_bytes)

    @property
    def buffered(self) -> int:
        """Bytes held for a line not yet complete (the part the limit bounds)."""
        return self._buffer.held

    def feed(self, chunk: bytes) -> list[str]:
        """Split the next chunk of the body; return the lines it completes, in order."""
        buffer = self._buffer
        if buffer.at_start:
            chunk = buffer.strip_bom(chunk)
        end = chunk.rfind(b"\n")
        if end < 0:
            if chunk:
                buffer.hold(chunk)
            return []
        block = buffer.complete(chunk, end, end + 1)
        return _keep(block.decode("utf-8", "replace").split("\n"))

    def flush(self) -> list[str]:
        """End the stream: return a last line that had no trailing newline.

        Afterwards the splitter is back in its initial state.
        """
        rest = self._buffer.rest()
        return _keep([rest]) if rest is not None else []


def _keep(lines: list[str]) -> list[str]:
    """Drop each line's trailing CR, then the blank and whitespace-only lines."""
    # isspace() stops at the first non-space character, so for JSON it costs one look;
    # a line holding only "\r" counts as whitespace and is dropped with the blank ones.
    return [
        line[:-1] if line[-1] == "\r" else line for line in lines if line and not line.isspace()
    ]
