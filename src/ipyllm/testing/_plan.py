"""The :class:`Plan` of one response: the bytes to send, split where faults may cut in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["JSON", "NDJSON", "SSE", "Kind", "Plan", "dumps", "json_plan"]

Kind = Literal["openai", "anthropic", "gemini", "ollama", "models"]
"""Wire family of a route; ``models`` is the ``/v1/models`` route OpenAI and Anthropic share."""

SSE = "text/event-stream; charset=utf-8"
JSON = "application/json"
NDJSON = "application/x-ndjson"


@dataclass
class Plan:
    """Everything one response puts on the wire, ready for the handler to pace and break.

    Sending ``N`` pieces means sending ``head + pieces[:N]``; a complete response is
    ``head + pieces + tail``. Structural frames ride on the piece that follows them.
    """

    status: int
    headers: dict[str, str]
    head: bytes = b""
    pieces: list[bytes] = field(default_factory=list)
    tail: bytes = b""
    error: bytes | None = None
    """Frame sent instead of the rest after ``error_after`` pieces; ``None``: not a stream."""
    chunked: bool = True
    """HTTP/1.1 chunked transfer encoding; ``False``: a Content-Length body."""


def dumps(obj: Any) -> str:
    """Compact JSON with raw UTF-8, as most providers send it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def json_plan(status: int, obj: Any, headers: dict[str, str] | None = None) -> Plan:
    """A complete JSON response with a Content-Length."""
    body = json.dumps(obj, ensure_ascii=False, indent=2).encode() + b"\n"
    return Plan(status, {"content-type": JSON, **(headers or {})}, pieces=[body], chunked=False)
