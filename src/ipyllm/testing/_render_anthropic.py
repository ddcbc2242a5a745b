"""Anthropic ``/v1/messages``: named SSE events, one content block after another."""

from __future__ import annotations

from typing import Any

from ._plan import SSE, Plan, dumps, json_plan
from ._render_base import SLOT, Context, OutCall, Template

__all__ = ["render_anthropic"]

_SIGNATURE = "ZmFrZS1zaWduYXR1cmU="


def _event(name: str, obj: Any) -> bytes:
    return f"event: {name}\ndata: {dumps(obj)}\n\n".encode()


def _delta_template(index: int, kind: str, key: str) -> Template:
    obj = {"type": "content_block_delta", "index": index, "delta": {"type": kind, key: SLOT}}
    return Template(obj, "event: content_block_delta\ndata: ", "\n\n")


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    obj = {"type": "content_block_start", "index": index, "content_block": block}
    return _event("content_block_start", obj)


def _block_stop(index: int, thinking: bool) -> bytes:
    stop = _event("content_block_stop", {"type": "content_block_stop", "index": index})
    if thinking:  # a thinking block is signed just before it closes
        delta = {"type": "signature_delta", "signature": _SIGNATURE}
        obj = {"type": "content_block_delta", "index": index, "delta": delta}
        return _event("content_block_delta", obj) + stop
    return stop


def _tool_use(out: OutCall, input_: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": out.id, "name": out.call.name, "input": input_}


def _blocks(c: Context) -> list[tuple[dict[str, Any], list[bytes]]]:
    """Each content block's opening object and its delta frames, in stream order."""
    blocks: list[tuple[dict[str, Any], list[bytes]]] = []
    if c.reasoning:
        thought = _delta_template(len(blocks), "thinking_delta", "thinking")
        blocks.append(({"type": "thinking", "thinking": ""}, [thought(p) for p in c.reasoning]))
    if c.text or not (c.reasoning or c.calls):
        content = _delta_template(len(blocks), "text_delta", "text")
        blocks.append(({"type": "text", "text": ""}, [content(p) for p in c.text]))
    for out in c.calls:
        arguments = _delta_template(len(blocks), "input_json_delta", "partial_json")
        # Anthropic opens every tool input with an empty delta, and sends no more for "{}".
        text = out.call.arguments_text
        pieces = [""] + ([] if text == "{}" else out.call.arguments_pieces)
        blocks.append((_tool_use(out, {}), [arguments(p) for p in pieces]))
    return blocks


def render_anthropic(c: Context) -> Plan:
    """The messages response: thinking, text, then ``tool_use`` blocks."""
    finish = c.finish or ("tool_use" if c.calls else "end_turn")
    msg_id = f"msg_fake{c.id}"
    if not c.stream:
        content: list[Any] = []
        if c.reasoning:
            thinking = "".join(c.reasoning)
            content.append({"type": "thinking", "thinking": thinking, "signature": _SIGNATURE})
        if c.text or not (c.reasoning or c.calls):
            content.append({"type": "text", "text": "".join(c.text)})
        content += [_tool_use(out, out.call.arguments_object) for out in c.calls]
        usage = {"input_tokens": c.tokens_in, "output_tokens": c.tokens_out}
        message = {"id": msg_id, "type": "message", "role": "assistant", "model": c.model}
        rest = {"stop_reason": finish, "stop_sequence": None, "usage": usage}
        return json_plan(200, {**message, "content": content, **rest})

    start = {
        "type": "message_start",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": c.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": c.tokens_in, "output_tokens": 1},
        },
    }
    blocks = _blocks(c)
    first, _ = blocks[0]
    head = _event("message_start", start) + _block_start(0, first)
    head += _event("ping", {"type": "ping"})
    pieces: list[bytes] = []
    for index, (block, deltas) in enumerate(blocks):
        if index:  # the previous block closes and this one opens with its first delta
            # (every block after the first has one: text with pieces, a tool input's "")
            opening = _block_stop(index - 1, blocks[index - 1][0]["type"] == "thinking")
            opening += _block_start(index, block)
            deltas = [opening + deltas[0], *deltas[1:]]
        pieces += deltas
    last = len(blocks) - 1
    delta = {"stop_reason": finish, "stop_sequence": None}
    stop = {"type": "message_delta", "delta": delta, "usage": {"output_tokens": c.tokens_out}}
    tail = _block_stop(last, blocks[last][0]["type"] == "thinking")
    tail += _event("message_delta", stop) + _event("message_stop", {"type": "message_stop"})
    error = _event("error", c.error_json("anthropic"))
    return Plan(200, {"content-type": SSE}, head, pieces, tail, error)
