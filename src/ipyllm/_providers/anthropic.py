"""Anthropic Messages API streaming (``POST {base_url}/v1/messages``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._types import (
    CONTENT_FILTER,
    Done,
    ErrorEvent,
    Finish,
    Message,
    Options,
    ReasoningDelta,
    ReasoningSignature,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from .._wire.json_text import MAX_LEARNS, StringSlot, loads
from .._wire.sse import SSEEvent
from .anthropic_request import messages_body
from .spec import (
    ErrorDetails,
    HTTPRequest,
    ProviderSpec,
    WireFormat,
    finish_request,
    read_error_body,
)

API_VERSION = "2023-06-01"

# Anthropic error types and the HTTP status each stands for.
ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _finish(reason: str) -> Finish:
    # "refusal": Anthropic's safety classifiers stopped the answer.
    return Finish(CONTENT_FILTER, reason) if reason == "refusal" else Finish(reason)


def _error_event(obj: dict[str, Any]) -> ErrorEvent:
    err = obj.get("error") or {}
    etype = err.get("type")
    return ErrorEvent(
        message=str(err.get("message") or obj),
        status=ERROR_STATUS.get(etype or ""),
        kind=etype,
        body=obj,
    )


class AnthropicStreamState:
    """Per-stream memory: input tokens from ``message_start``, for later usage events."""

    __slots__ = ("learns", "slot", "slot_event", "tokens_in")

    def __init__(self) -> None:
        self.tokens_in: int | None = None
        # A text_delta event's JSON, learnt from one event, so that later ones are read without a
        # full parse (see StringSlot); the SSE event name it came under; how many tries.
        self.slot: StringSlot | None = None
        self.slot_event = ""
        self.learns = 0


def _delta_text(obj: Any) -> Any:
    return obj["delta"]["text"]


class AnthropicAdapter:
    """Stateless adapter for Anthropic's Messages SSE stream."""

    wire: WireFormat = "sse"
    error_statuses: Mapping[str, int] = ERROR_STATUS
    error_codes: Mapping[str, str] = {}

    def build_request(
        self,
        spec: ProviderSpec,
        base_url: str,
        key: str | None,
        messages: list[Message],
        options: Options,
    ) -> HTTPRequest:
        """``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``."""
        body = messages_body(spec, messages, options)
        headers = {"Accept": "text/event-stream", "anthropic-version": API_VERSION}
        if key:
            headers["x-api-key"] = key
        url = f"{base_url.rstrip('/')}/v1/messages"
        return finish_request(spec, options, "POST", url, body, headers)

    def new_state(self) -> AnthropicStreamState:
        """Fresh per-stream state."""
        return AnthropicStreamState()

    def decode(self, item: SSEEvent | str, state: AnthropicStreamState) -> list[StreamEvent]:
        """Map one SSE event onto ipyllm events."""
        assert isinstance(item, SSEEvent)
        data = item.data
        slot = state.slot
        if slot is not None and item.event == state.slot_event:
            text = slot.read(data)
            if text is not None:  # the last text_delta again, with other text
                return [TextDelta(text)] if text else []
        obj = loads(data)
        kind = obj.get("type") or item.event
        if kind == "content_block_delta":
            delta = obj["delta"]
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta["text"]
                if text and state.learns < MAX_LEARNS:
                    state.learns += 1
                    state.slot = StringSlot.learn(data, "text", _delta_text)
                    state.slot_event = item.event
                return [TextDelta(text)] if text else []
            if dtype == "thinking_delta":
                return [ReasoningDelta(delta["thinking"])] if delta["thinking"] else []
            if dtype == "signature_delta":  # signs the thinking, to send it back
                return [ReasoningSignature(delta["signature"])] if delta["signature"] else []
            if dtype == "input_json_delta":
                return [ToolCallDelta(index=obj["index"], arguments=delta.get("partial_json", ""))]
            return []
        if kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                return [ToolCallDelta(index=obj["index"], id=block.get("id"), name=block["name"])]
            return []
        if kind == "message_start":
            usage = (obj.get("message") or {}).get("usage") or {}
            state.tokens_in = usage.get("input_tokens")
            return [Usage(tokens_in=state.tokens_in, tokens_out=usage.get("output_tokens"))]
        if kind == "message_delta":
            events: list[StreamEvent] = []
            usage = obj.get("usage") or {}
            if usage:
                tokens_in = usage.get("input_tokens", state.tokens_in)
                events.append(Usage(tokens_in=tokens_in, tokens_out=usage.get("output_tokens")))
            reason = (obj.get("delta") or {}).get("stop_reason")
            if reason:
                events.append(_finish(reason))
            return events
        if kind == "message_stop":
            return [Done()]
        if kind == "error":
            return [_error_event(obj)]
        return []  # ping, content_block_stop, and event types added later

    def decode_body(self, body: Any, state: AnthropicStreamState) -> list[StreamEvent]:
        """A whole ``message`` (a server that ignored ``stream: true``) or an error
        envelope sent instead of a stream."""
        if not isinstance(body, dict):
            return []
        if body.get("type") == "error" or isinstance(body.get("error"), dict):
            return [_error_event(body)]
        if body.get("type") != "message" or not isinstance(body.get("content"), list):
            return []
        events: list[StreamEvent] = []
        for index, block in enumerate(body["content"]):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and block.get("text"):
                events.append(TextDelta(block["text"]))
            elif kind == "thinking" and block.get("thinking"):
                events.append(ReasoningDelta(block["thinking"]))
                if block.get("signature"):
                    events.append(ReasoningSignature(block["signature"]))
            elif kind == "tool_use":
                arguments = json.dumps(block.get("input") or {})
                events.append(ToolCallDelta(index, block.get("id"), block.get("name"), arguments))
        usage = body.get("usage") or {}
        if usage:
            events.append(Usage(usage.get("input_tokens"), usage.get("output_tokens")))
        if body.get("stop_reason"):
            events.append(_finish(body["stop_reason"]))
        events.append(Done())
        return events

    def models_request(self, spec: ProviderSpec, base_url: str, key: str | None) -> HTTPRequest:
        """``GET {base_url}/v1/models``."""
        headers = {"anthropic-version": API_VERSION, **spec.headers}
        if key:
            headers["x-api-key"] = key
        return HTTPRequest("GET", f"{base_url.rstrip('/')}/v1/models?limit=1000", headers)

    def parse_models(self, body: Any) -> list[str]:
        """Ids from ``{"data": [{"id": …}, …]}``."""
        return sorted(str(m["id"]) for m in body.get("data", []) if isinstance(m, dict))

    def error_details(self, body: Any) -> ErrorDetails:
        """``{"type": "error", "error": {"type": …, "message": …}}``: the common shape."""
        return read_error_body(body)

    def retry_after(self, body: Any) -> float | None:
        """None: Anthropic says how long to wait in the ``retry-after`` header."""
        return None
