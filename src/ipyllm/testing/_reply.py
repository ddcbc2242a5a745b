"""The :class:`Reply` script: what the fake server answers to one completion request."""

from __future__ import annotations

import json
import os
import re
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Reply", "split_pieces"]

# A piece is a run of non-space text with the whitespace before it, as BPE tokens look;
# trailing whitespace becomes its own piece, so the pieces always join back to the text.
_PIECE = re.compile(r"\s*\S+|\s+")

# Framing is the server's job: these manifest headers would contradict it.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})

_CONTENT_TYPES = {
    ".sse": "text/event-stream",
    ".ndjson": "application/x-ndjson",
    ".json": "application/json",
}


def split_pieces(text: str | list[str] | None) -> list[str]:
    """Split ``text`` into word-ish streaming pieces; a list is taken as the pieces."""
    if text is None:
        return []
    if isinstance(text, str):
        return _PIECE.findall(text)
    return list(text)


@dataclass(frozen=True)
class Reply:
    """One scripted answer; the fake server renders it in the wire format of the route hit.

    A "piece" is one streamed delta (reasoning pieces first, then text pieces), or, for a
    raw ``body``, one ``chunk_size`` slice of it. The fault fields count pieces:
    ``error_after=2`` streams two pieces, then an error event.
    """

    text: str | list[str] = "Hello from the fake server."
    """The answer; a ``str`` is split into word-ish pieces, a list is used as the pieces."""
    _: KW_ONLY
    reasoning: str | list[str] | None = None
    """Thinking / reasoning, streamed before the text in the route's own reasoning shape."""
    tokens_in: int = 10
    tokens_out: int | None = None
    """Output tokens reported in usage; default: the number of pieces, reasoning included."""
    finish_reason: str | None = None
    """Sent verbatim; default per format: ``stop``, ``end_turn``, ``STOP``."""
    delay_s: float = 0.0
    """Sleep before each piece, flushing each one (realistic pacing, slow streams)."""
    status: int = 200
    """Non-200: an error body in the route's own JSON shape, with Content-Length. With
    ``error_after`` the stream starts 200 and the mid-stream error carries this status
    (503 if it is left at 200)."""
    error_message: str | None = None
    """Message of the error body or event; default: a short text for the status."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (``{"retry-after": "2"}``); they override the defaults."""
    error_after: int | None = None
    """Stream this many pieces, then an error event in the route's format, then end. A
    request that does not stream gets an error response instead."""
    drop_after: int | None = None
    """Stream this many pieces, then close the socket without ending the body."""
    stall_after: int | None = None
    """Stream this many pieces, then go silent for ``stall_s`` seconds, then go on."""
    stall_s: float = 0.0
    body: bytes | None = None
    """Raw bytes to send verbatim instead of rendering, with ``status`` and ``headers``."""
    chunk_size: int | None = None
    """Send the body in HTTP chunks of at most this many bytes, one socket write each. For
    a raw ``body`` each slice is a piece, so ``delay_s`` paces the slices."""

    def __post_init__(self) -> None:
        for name in ("error_after", "drop_after", "stall_after", "tokens_out"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Reply.{name} must be >= 0, got {value}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"Reply.chunk_size must be >= 1, got {self.chunk_size}")
        if self.delay_s < 0 or self.stall_s < 0:
            raise ValueError("Reply.delay_s and Reply.stall_s must be >= 0")
        if not 100 <= self.status <= 599:
            raise ValueError(f"Reply.status must be an HTTP status, got {self.status}")

    @classmethod
    def from_transcript(
        cls,
        path_or_name: str | os.PathLike[str],
        chunk_size: int | None = None,
        crlf: bool = False,
    ) -> Reply:
        """Serve a recorded wire transcript byte for byte.

        ``path_or_name`` is a file path, or a bare name looked up in ``tests/fixtures/wire``
        under the working directory or one of its parents. The status and response headers
        come from the ``MANIFEST.json`` beside the file (200 and a content type guessed from
        the extension when it has no entry). ``crlf=True`` turns every LF not already after
        a CR into CRLF; the bytes are otherwise never changed.
        """
        path = _find_transcript(path_or_name)
        body = path.read_bytes()
        if crlf:
            body = re.sub(rb"(?<!\r)\n", b"\r\n", body)
        status, headers = _manifest_entry(path)
        return cls(status=status, headers=headers, body=body, chunk_size=chunk_size)


def _find_transcript(path_or_name: str | os.PathLike[str]) -> Path:
    path = Path(path_or_name)
    if path.is_file():
        return path
    searched: list[Path] = []
    if not path.is_absolute():
        here = Path.cwd()
        for base in (here, *here.parents, Path(__file__).resolve().parents[3]):
            candidate = base / "tests" / "fixtures" / "wire" / path
            if candidate.is_file():
                return candidate
            searched.append(candidate.parent)
    where = f"; looked in {searched[0]} and its parents" if searched else ""
    raise FileNotFoundError(f"no wire transcript {str(path_or_name)!r}{where}")


def _manifest_entry(path: Path) -> tuple[int, dict[str, str]]:
    manifest = path.parent / "MANIFEST.json"
    entries: list[dict[str, Any]] = []
    if manifest.is_file():
        entries = json.loads(manifest.read_text(encoding="utf-8"))
    for entry in entries:
        if entry.get("file") == path.name:
            headers = {
                str(k).lower(): str(v)
                for k, v in (entry.get("response_headers") or {}).items()
                if str(k).lower() not in _FRAMING_HEADERS
            }
            return int(entry.get("http_status", 200)), headers
    content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    return 200, {"content-type": content_type}
