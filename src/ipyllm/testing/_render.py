"""Render a :class:`Reply` into the :class:`Plan` of bytes each wire format puts on the socket.

One module per wire family (``_render_openai`` …) builds the stream; this one picks it,
and handles raw bodies and error statuses. Each piece is built from a pre-dumped template,
so a 20,000-piece stream renders in milliseconds. Ollama's JSON is written as Go's
``encoding/json`` writes it (:func:`go_json`).
"""

from __future__ import annotations

from collections.abc import Callable

from ._error_bodies import default_message, error_json, error_plan
from ._plan import Kind, Plan
from ._render_anthropic import render_anthropic
from ._render_base import Call, Context, go_json, go_json_plan
from ._render_gemini import render_gemini
from ._render_ollama import render_ollama
from ._render_openai import render_openai
from ._reply import Reply

__all__ = ["Call", "go_json", "go_json_plan", "render"]

_RENDERERS: dict[str, Callable[[Context], Plan]] = {
    "openai": render_openai,
    "anthropic": render_anthropic,
    "gemini": render_gemini,
    "ollama": render_ollama,
}


def render(reply: Reply, call: Call) -> Plan:
    """Turn ``reply`` into the response ``call``'s route sends."""
    headers = {k.lower(): v for k, v in reply.headers.items()}
    if reply.body is not None:
        size = reply.chunk_size or max(len(reply.body), 1)
        pieces = [reply.body[i : i + size] for i in range(0, len(reply.body), size)]
        return Plan(reply.status, headers, pieces=pieces, chunked=reply.status < 300)
    if reply.status != 200 and reply.error_after is None:
        plan = _error_plan(call.kind, reply.status, reply.error_message)
    elif reply.error_after is not None and not call.stream:
        # No stream to break: fail the whole response with the mid-stream error's status.
        status = reply.status if reply.status != 200 else 503
        plan = _error_plan(call.kind, status, reply.error_message)
    else:
        plan = _RENDERERS[call.kind](Context.of(reply, call))  # KeyError: not a completion
    plan.headers.update(headers)
    return plan


def _error_plan(kind: Kind, status: int, message: str | None) -> Plan:
    if kind == "ollama":
        return go_json_plan(status, error_json(kind, status, message or default_message(status)))
    return error_plan(kind, status, message)
