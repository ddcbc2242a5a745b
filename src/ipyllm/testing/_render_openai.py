"""OpenAI-style ``/chat/completions``: SSE chunks ending in ``data: [DONE]``, or one JSON."""

from __future__ import annotations

from typing import Any

from ._plan import SSE, Plan, dumps, json_plan
from ._render_base import SLOT, Context, Template

__all__ = ["render_openai"]


def render_openai(c: Context) -> Plan:
    """The chat-completions response: reasoning, content, then tool-call deltas."""
    finish = c.finish or ("tool_calls" if c.calls else "stop")
    usage: dict[str, Any] = {
        "prompt_tokens": c.tokens_in,
        "completion_tokens": c.tokens_out,
        "total_tokens": c.tokens_in + c.tokens_out,
    }
    if c.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": len(c.reasoning)}
    base: dict[str, Any] = {"id": f"chatcmpl-fake{c.id}", "object": "chat.completion.chunk"}
    base |= {"created": c.created, "model": c.model}
    # A reply that only calls tools has null content, as OpenAI sends it.
    empty: str | None = None if c.calls and not c.text else ""
    if not c.stream:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(c.text) or empty}
        if c.reasoning:
            message["reasoning_content"] = "".join(c.reasoning)
        if c.calls:
            message["tool_calls"] = [
                {
                    "id": out.id,
                    "type": "function",
                    "function": {"name": out.call.name, "arguments": out.call.arguments_text},
                }
                for out in c.calls
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        body = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
        return json_plan(200, body)

    def chunk(delta: Any, finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice]}

    def frame(obj: Any) -> bytes:
        return f"data: {dumps(obj)}\n\n".encode()

    thought = Template(chunk({"reasoning_content": SLOT}), "data: ", "\n\n")
    content = Template(chunk({"content": SLOT}), "data: ", "\n\n")
    pieces = [thought(p) for p in c.reasoning] + [content(p) for p in c.text]
    for index, out in enumerate(c.calls):
        function = {"name": out.call.name, "arguments": ""}
        opening = {"index": index, "id": out.id, "type": "function", "function": function}
        pieces.append(frame(chunk({"tool_calls": [opening]})))
        more = {"index": index, "function": {"arguments": SLOT}}
        arguments = Template(chunk({"tool_calls": [more]}), "data: ", "\n\n")
        pieces += [arguments(p) for p in out.call.arguments_pieces]
    tail = frame(chunk({}, finish))
    if c.include_usage:
        tail += frame({**base, "choices": [], "usage": usage})
    return Plan(
        200,
        {"content-type": SSE},
        head=frame(chunk({"role": "assistant", "content": empty})),
        pieces=pieces,
        tail=tail + b"data: [DONE]\n\n",
        error=frame({"error": {**c.error_json("openai")["error"], "code": c.error_status}}),
    )
