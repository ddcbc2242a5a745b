"""The :class:`Reply` script: what the fake server answers to one completion request."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Final

from ._plan import dumps
from ._tool_calls import ToolCallReply, split_json, tool_call_of

__all__ = ["DEFAULT_TEXT", "UNSET", "Reply", "split_pieces"]

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


DEFAULT_TEXT: Final = "Hello from the fake server."
"""The text of a :class:`Reply` that is given none (and neither ``json`` nor ``tool_calls``)."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final[Any] = _Unset()
"""Default of :attr:`Reply.json`: no structured-output answer (``None`` is JSON ``null``)."""


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

    A "piece" is one streamed delta (reasoning pieces first, then text pieces, then each
    tool call's opening frame and argument pieces), or, for a raw ``body``, one
    ``chunk_size`` slice of it. The fault fields count pieces: ``error_after=2`` streams
    two pieces, then an error event.
    """

    text: str | list[str] | None = None
    """The answer; a ``str`` is split into word-ish pieces, a list is used as the pieces.
    ``None``: ``"Hello from the fake server."``, or no text when ``tool_calls`` or
    ``json`` is given (after construction it is never ``None``)."""
    _: KW_ONLY
    tool_calls: Sequence[ToolCallReply | Mapping[str, Any]] = ()
    """Tools the model calls after its text, each a :class:`ToolCallReply` or a dict of its
    fields (``{"name": "get_weather", "arguments": {"city": "Paris"}}``); stored as a tuple
    of :class:`ToolCallReply`. The default ``finish_reason`` becomes ``tool_calls`` /
    ``tool_use`` (Gemini ``STOP``, Ollama ``stop``, as they send it)."""
    json: Any = UNSET
    """A structured-output answer: this object's compact JSON text is the reply's text,
    streamed in token-like pieces as providers stream it (so give no ``text`` with it)."""
    reasoning: str | list[str] | None = None
    """Thinking / reasoning, streamed before the text in the route's own reasoning shape."""
    tokens_in: int = 10
    tokens_out: int | None = None
    """Output tokens reported in usage; default: the number of pieces, reasoning and tool
    calls included."""
    finish_reason: str | None = None
    """Sent verbatim; default per format: ``stop``, ``end_turn``, ``STOP``, ``stop``
    (OpenAI, Anthropic, Gemini, Ollama); with tool calls ``tool_calls`` and ``tool_use``
    for the first two."""
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
        calls = tuple(tool_call_of(call) for call in self.tool_calls)
        object.__setattr__(self, "tool_calls", calls)
        if self.json is not UNSET:
            answer = dumps(self.json)
            # A text is only allowed back as the one json made (dataclasses.replace).
            if self.text is not None and "".join(split_pieces(self.text)) != answer:
                raise ValueError("give Reply a text or a json answer, not both")
            if self.text is None:
                object.__setattr__(self, "text", split_json(answer))
        elif self.text is None:
            object.__setattr__(self, "text", "" if calls else DEFAULT_TEXT)
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
