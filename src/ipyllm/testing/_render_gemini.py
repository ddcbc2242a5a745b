"""Gemini ``:streamGenerateContent?alt=sse`` (CRLF-framed SSE) and ``:generateContent``."""

from __future__ import annotations

from typing import Any

from ._plan import Plan, dumps, json_plan
from ._render_base import SLOT, Context, OutCall, Template

__all__ = ["render_gemini"]


def _text_part(text: str, thought: bool) -> dict[str, Any]:
    return {"text": text, "thought": True} if thought else {"text": text}


def _call_part(out: OutCall) -> dict[str, Any]:
    call: dict[str, Any] = {"name": out.call.name, "args": out.call.arguments_object}
    if out.id is not None:
        call["id"] = out.id
    part: dict[str, Any] = {"functionCall": call}
    if out.call.signature is not None:
        part["thoughtSignature"] = out.call.signature
    return part


def render_gemini(c: Context) -> Plan:
    """The generate-content response: thought parts, text parts, then ``functionCall``
    parts, one per chunk; after calls a last chunk with an empty text part ends the turn,
    as Gemini sends it."""
    thoughts = min(len(c.reasoning), c.tokens_out)
    usage: dict[str, Any] = {
        "promptTokenCount": c.tokens_in,
        "candidatesTokenCount": c.tokens_out - thoughts,
        "totalTokenCount": c.tokens_in + c.tokens_out,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    early_usage = {"promptTokenCount": c.tokens_in, "totalTokenCount": c.tokens_in}
    tail_info = {"modelVersion": c.model, "responseId": f"fake{c.id}"}

    def chunk(parts: Any, finish: str | None, usage: Any) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {"candidates": [candidate], "usageMetadata": usage, **tail_info}

    finish = c.finish or "STOP"
    calls = [_call_part(out) for out in c.calls]
    if not c.stream:
        joined = []
        if c.reasoning:
            joined.append(_text_part("".join(c.reasoning), True))
        if c.text or not calls:
            joined.append(_text_part("".join(c.text), False))
        return json_plan(200, chunk(joined + calls, finish, usage))

    def frame(obj: Any) -> bytes:
        return f"data: {dumps(obj)}\r\n\r\n".encode()

    def template(thought: bool) -> Template:
        return Template(chunk([_text_part(SLOT, thought)], None, early_usage), "data: ", "\r\n\r\n")

    thought, content = template(True), template(False)
    parts = [(p, True) for p in c.reasoning] + [(p, False) for p in c.text]
    pieces = [thought(p) if is_thought else content(p) for p, is_thought in parts]
    pieces += [frame(chunk([part], None, early_usage)) for part in calls]
    tail = b""
    if calls or not parts:
        tail = frame(chunk([_text_part("", False)], finish, usage))
    else:  # the last text piece carries the finish reason and the final usage
        pieces[-1] = frame(chunk([_text_part(*parts[-1])], finish, usage))
    error = frame(c.error_json("gemini"))
    return Plan(200, {"content-type": "text/event-stream"}, b"", pieces, tail, error)
