"""What every renderer shares: the request (:class:`Call`), the reply resolved for one
response (:class:`Context`), one-slot JSON templates, and Go-style JSON for Ollama."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._error_bodies import default_message, error_json
from ._plan import Kind, Plan, dumps
from ._reply import Reply, split_pieces
from ._tool_calls import ToolCallReply, new_call_id, tool_call_of

__all__ = ["SLOT", "Call", "Context", "OutCall", "Template", "go_json", "go_json_plan"]

_ids = itertools.count(1)

# Go's encoding/json (Ollama's) escapes these even inside strings, for HTML and JavaScript;
# a raw U+2028 would split the line for a reader that splits like str.splitlines().
_GO_ESCAPES = {c: f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"}
_GO_UNSAFE = re.compile("[<>&\u2028\u2029]")
_GO_JSON = "application/json; charset=utf-8"  # what Ollama (gin) sends with a JSON body


def go_json(obj: Any) -> str:
    """Compact JSON as Go's ``encoding/json`` writes it: raw UTF-8 except ``<``, ``>``, ``&``,
    U+2028 and U+2029, which become ``\\u003c``, ``\\u003e``, ``\\u0026``, ``\\u2028``,
    ``\\u2029``."""
    # Those characters are never JSON syntax, so each one found is inside a string.
    return _GO_UNSAFE.sub(lambda m: _GO_ESCAPES[m[0]], dumps(obj))


def go_json_plan(status: int, obj: Any) -> Plan:
    """A complete JSON response as Ollama sends it: Go's JSON and a Content-Length."""
    body = go_json(obj).encode()
    return Plan(status, {"content-type": _GO_JSON}, pieces=[body], chunked=False)


@dataclass(frozen=True)
class Call:
    """What the request asked for, as far as rendering cares."""

    kind: Kind
    model: str
    stream: bool
    include_usage: bool = False


SLOT = "\x00piece\x00"
"""The placeholder string a :class:`Template` fills with each piece."""


class Template:
    """A JSON frame with one string slot (:data:`SLOT`), so each piece costs one string
    escape, not a whole dump."""

    def __init__(
        self, obj: Any, prefix: str, suffix: str, dump: Callable[[Any], str] = dumps
    ) -> None:
        before, after = dump(obj).split(dump(SLOT))
        self._before = (prefix + before).encode()
        self._after = (after + suffix).encode()
        self._dump = dump

    def __call__(self, value: str) -> bytes:
        """The frame with ``value`` in the slot."""
        return self._before + self._dump(value).encode() + self._after


@dataclass(frozen=True)
class OutCall:
    """A scripted tool call as one response sends it, with its id settled."""

    id: str | None
    call: ToolCallReply


@dataclass
class Context:
    """A :class:`Reply` resolved for one response: its pieces, counts, ids and error."""

    model: str
    stream: bool
    include_usage: bool
    text: list[str]
    reasoning: list[str]
    calls: list[OutCall]
    tokens_in: int
    tokens_out: int
    finish: str | None
    error_status: int
    error_message: str
    id: int
    created: int

    @classmethod
    def of(cls, reply: Reply, call: Call) -> Context:
        """Resolve ``reply`` for a request to ``call``'s route."""
        text, reasoning = split_pieces(reply.text), split_pieces(reply.reasoning)
        scripted = map(tool_call_of, reply.tool_calls)  # already ToolCallReply: for mypy
        calls = [OutCall(_call_id(tc, call.kind), tc) for tc in scripted]
        tokens_out = reply.tokens_out
        if tokens_out is None:
            tokens_out = len(text) + len(reasoning)
            tokens_out += sum(1 + len(c.call.arguments_pieces) for c in calls)
        error_status = reply.status if reply.status != 200 else 503
        return cls(
            model=call.model,
            stream=call.stream,
            include_usage=call.include_usage,
            text=text,
            reasoning=reasoning,
            calls=calls,
            tokens_in=reply.tokens_in,
            tokens_out=tokens_out,
            finish=reply.finish_reason,
            error_status=error_status,
            error_message=reply.error_message or default_message(error_status),
            id=next(_ids),
            created=int(time.time()),
        )

    def error_json(self, kind: Kind) -> Any:
        """The mid-stream error body in ``kind``'s shape."""
        return error_json(kind, self.error_status, self.error_message)


def _call_id(call: ToolCallReply, kind: Kind) -> str | None:
    if call.id:
        return call.id
    if call.id == "" and kind in ("gemini", "ollama"):
        return None
    return new_call_id(kind)
