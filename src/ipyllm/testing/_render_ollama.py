"""Ollama ``/api/chat``: NDJSON lines (or one JSON) in Go's JSON, ending in a ``done`` line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._plan import NDJSON, Plan
from ._render_base import SLOT, Context, OutCall, Template, go_json, go_json_plan

__all__ = ["render_ollama"]


def _tool_call(index: int, out: OutCall) -> dict[str, Any]:
    # Go's omitempty: no id unless there is one, no index for the first call.
    function: dict[str, Any] = {"index": index} if index else {}
    function |= {"name": out.call.name, "arguments": out.call.arguments_object}
    return ({"id": out.id} if out.id else {}) | {"function": function}


def render_ollama(c: Context) -> Plan:
    """The chat response: thinking, content, then one line with every tool call."""
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    base = {"model": c.model, "created_at": now}
    finish = c.finish or "stop"
    stats = {
        "done": True,
        "done_reason": finish,
        "total_duration": 1_000_000,
        "load_duration": 100_000,
        "prompt_eval_count": c.tokens_in,
        "prompt_eval_duration": 100_000,
        "eval_count": c.tokens_out,
        "eval_duration": 800_000,
    }
    calls = [_tool_call(i, out) for i, out in enumerate(c.calls)]
    if not c.stream:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(c.text)}
        if c.reasoning:
            message["thinking"] = "".join(c.reasoning)
        if calls:
            message["tool_calls"] = calls
        return go_json_plan(200, {**base, "message": message, **stats})

    def line(obj: Any) -> bytes:
        return f"{go_json(obj)}\n".encode()

    def template(message: Any) -> Template:
        return Template({**base, "message": message, "done": False}, "", "\n", go_json)

    thought = template({"role": "assistant", "content": "", "thinking": SLOT})
    content = template({"role": "assistant", "content": SLOT})
    pieces = [thought(p) for p in c.reasoning] + [content(p) for p in c.text]
    if calls:
        message = {"role": "assistant", "content": "", "tool_calls": calls}
        pieces.append(line({**base, "message": message, "done": False}))
    return Plan(
        200,
        {"content-type": NDJSON},
        pieces=pieces,
        tail=line({**base, "message": {"role": "assistant", "content": ""}, **stats}),
        error=line(c.error_json("ollama")),
    )
