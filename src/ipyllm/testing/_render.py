"""Render a :class:`Reply` into the :class:`Plan` of bytes each wire format puts on the socket.

Each piece is built from a pre-dumped template, so a 20,000-piece stream renders in
milliseconds. Ollama's JSON is written as Go's ``encoding/json`` writes it (:func:`go_json`).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._error_bodies import default_message, error_json, error_plan
from ._plan import NDJSON, SSE, Kind, Plan, dumps, json_plan
from ._reply import Reply, split_pieces

__all__ = ["Call", "go_json", "go_json_plan", "render"]

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
        plan = _RENDERERS[call.kind](_Context.of(reply, call))  # KeyError: not a completion
    plan.headers.update(headers)
    return plan


def _error_plan(kind: Kind, status: int, message: str | None) -> Plan:
    if kind == "ollama":
        return go_json_plan(status, error_json(kind, status, message or default_message(status)))
    return error_plan(kind, status, message)


@dataclass(frozen=True)
class Call:
    """What the request asked for, as far as rendering cares."""

    kind: Kind
    model: str
    stream: bool
    include_usage: bool = False


_SLOT = "\x00piece\x00"


class _Template:
    """A JSON frame with one string slot, so each piece costs one string escape, not a dump."""

    def __init__(
        self, obj: Any, prefix: str, suffix: str, dump: Callable[[Any], str] = dumps
    ) -> None:
        before, after = dump(obj).split(dump(_SLOT))
        self._before = (prefix + before).encode()
        self._after = (after + suffix).encode()
        self._dump = dump

    def __call__(self, value: str) -> bytes:
        return self._before + self._dump(value).encode() + self._after


@dataclass
class _Context:
    model: str
    stream: bool
    include_usage: bool
    text: list[str]
    reasoning: list[str]
    tokens_in: int
    tokens_out: int
    finish: str | None
    error_status: int
    error_message: str
    id: int
    created: int

    @classmethod
    def of(cls, reply: Reply, call: Call) -> _Context:
        text, reasoning = split_pieces(reply.text), split_pieces(reply.reasoning)
        tokens_out = reply.tokens_out
        error_status = reply.status if reply.status != 200 else 503
        return cls(
            model=call.model,
            stream=call.stream,
            include_usage=call.include_usage,
            text=text,
            reasoning=reasoning,
            tokens_in=reply.tokens_in,
            tokens_out=len(text) + len(reasoning) if tokens_out is None else tokens_out,
            finish=reply.finish_reason,
            error_status=error_status,
            error_message=reply.error_message or default_message(error_status),
            id=next(_ids),
            created=int(time.time()),
        )

    def error_json(self, kind: Kind) -> Any:
        return error_json(kind, self.error_status, self.error_message)


def _openai(c: _Context) -> Plan:
    finish = c.finish or "stop"
    usage: dict[str, Any] = {
        "prompt_tokens": c.tokens_in,
        "completion_tokens": c.tokens_out,
        "total_tokens": c.tokens_in + c.tokens_out,
    }
    if c.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": len(c.reasoning)}
    base: dict[str, Any] = {"id": f"chatcmpl-fake{c.id}", "object": "chat.completion.chunk"}
    base |= {"created": c.created, "model": c.model}
    if not c.stream:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(c.text)}
        if c.reasoning:
            message["reasoning_content"] = "".join(c.reasoning)
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        body = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
        return json_plan(200, body)

    def chunk(delta: Any, finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice]}

    def frame(obj: Any) -> bytes:
        return f"data: {dumps(obj)}\n\n".encode()

    thought = _Template(chunk({"reasoning_content": _SLOT}), "data: ", "\n\n")
    content = _Template(chunk({"content": _SLOT}), "data: ", "\n\n")
    tail = frame(chunk({}, finish))
    if c.include_usage:
        tail += frame({**base, "choices": [], "usage": usage})
    return Plan(
        200,
        {"content-type": SSE},
        head=frame(chunk({"role": "assistant", "content": ""})),
        pieces=[thought(p) for p in c.reasoning] + [content(p) for p in c.text],
        tail=tail + b"data: [DONE]\n\n",
        error=frame({"error": {**c.error_json("openai")["error"], "code": c.error_status}}),
    )


def _anthropic(c: _Context) -> Plan:
    finish = c.finish or "end_turn"
    msg_id = f"msg_fake{c.id}"
    signature = "ZmFrZS1zaWduYXR1cmU="
    if not c.stream:
        blocks: list[Any] = []
        if c.reasoning:
            thinking = "".join(c.reasoning)
            blocks.append({"type": "thinking", "thinking": thinking, "signature": signature})
        blocks.append({"type": "text", "text": "".join(c.text)})
        usage = {"input_tokens": c.tokens_in, "output_tokens": c.tokens_out}
        message = {"id": msg_id, "type": "message", "role": "assistant", "model": c.model}
        rest = {"stop_reason": finish, "stop_sequence": None, "usage": usage}
        return json_plan(200, {**message, "content": blocks, **rest})

    def event(name: str, obj: Any) -> bytes:
        return f"event: {name}\ndata: {dumps(obj)}\n\n".encode()

    def block_start(index: int, kind: str) -> bytes:
        block = {"type": "thinking", "thinking": ""} if kind == "thinking" else {"type": kind}
        if kind == "text":
            block["text"] = ""
        obj = {"type": "content_block_start", "index": index, "content_block": block}
        return event("content_block_start", obj)

    def block_stop(index: int) -> bytes:
        stop = event("content_block_stop", {"type": "content_block_stop", "index": index})
        if index == 0 and c.reasoning:
            delta = {"type": "signature_delta", "signature": signature}
            obj = {"type": "content_block_delta", "index": 0, "delta": delta}
            return event("content_block_delta", obj) + stop
        return stop

    def delta_template(index: int, kind: str, key: str) -> _Template:
        obj = {"type": "content_block_delta", "index": index, "delta": {"type": kind, key: _SLOT}}
        return _Template(obj, "event: content_block_delta\ndata: ", "\n\n")

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
    first = "thinking" if c.reasoning else "text"
    head = event("message_start", start) + block_start(0, first) + event("ping", {"type": "ping"})
    thought = delta_template(0, "thinking_delta", "thinking")
    pieces = [thought(p) for p in c.reasoning]
    text_index = 1 if c.reasoning else 0
    content = delta_template(text_index, "text_delta", "text")
    pieces += [content(p) for p in c.text]
    if c.reasoning and c.text:
        pieces[len(c.reasoning)] = block_stop(0) + block_start(1, "text") + pieces[len(c.reasoning)]
    last_index = 1 if c.reasoning and c.text else 0
    delta = {"stop_reason": finish, "stop_sequence": None}
    stop = {"type": "message_delta", "delta": delta, "usage": {"output_tokens": c.tokens_out}}
    tail = block_stop(last_index) + event("message_delta", stop)
    tail += event("message_stop", {"type": "message_stop"})
    error = event("error", c.error_json("anthropic"))
    return Plan(200, {"content-type": SSE}, head, pieces, tail, error)


def _gemini(c: _Context) -> Plan:
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
    parts: list[tuple[str, bool]] = [(p, True) for p in c.reasoning] + [(p, False) for p in c.text]

    def part(text: str, thought: bool) -> dict[str, Any]:
        return {"text": text, "thought": True} if thought else {"text": text}

    if not c.stream:
        joined = []
        if c.reasoning:
            joined.append(part("".join(c.reasoning), True))
        joined.append(part("".join(c.text), False))
        return json_plan(200, chunk(joined, finish, usage))

    def frame(obj: Any) -> bytes:
        return f"data: {dumps(obj)}\r\n\r\n".encode()

    thought = _Template(chunk([part(_SLOT, True)], None, early_usage), "data: ", "\r\n\r\n")
    content = _Template(chunk([part(_SLOT, False)], None, early_usage), "data: ", "\r\n\r\n")
    pieces = [thought(p) if is_thought else content(p) for p, is_thought in parts[:-1]]
    tail = b""
    if parts:
        pieces.append(frame(chunk([part(*parts[-1])], finish, usage)))
    else:
        tail = frame(chunk([part("", False)], finish, usage))
    error = frame(c.error_json("gemini"))
    return Plan(200, {"content-type": "text/event-stream"}, b"", pieces, tail, error)


def _ollama(c: _Context) -> Plan:
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
    if not c.stream:
        message = {"role": "assistant", "content": "".join(c.text)}
        if c.reasoning:
            message["thinking"] = "".join(c.reasoning)
        return go_json_plan(200, {**base, "message": message, **stats})

    def line(obj: Any) -> bytes:
        return f"{go_json(obj)}\n".encode()

    def template(message: Any) -> _Template:
        return _Template({**base, "message": message, "done": False}, "", "\n", go_json)

    thought = template({"role": "assistant", "content": "", "thinking": _SLOT})
    content = template({"role": "assistant", "content": _SLOT})
    return Plan(
        200,
        {"content-type": NDJSON},
        pieces=[thought(p) for p in c.reasoning] + [content(p) for p in c.text],
        tail=line({**base, "message": {"role": "assistant", "content": ""}, **stats}),
        error=line(c.error_json("ollama")),
    )


_RENDERERS: dict[str, Callable[[_Context], Plan]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "ollama": _ollama,
}
