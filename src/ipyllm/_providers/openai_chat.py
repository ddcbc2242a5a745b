"""OpenAI-style Chat Completions: OpenAI, xAI, OpenRouter, Fireworks, LM Studio, vLLM,
MiniMax, Z.AI and any OpenAI-compatible endpoint. Differences are table rows (see
:mod:`.catalog`), not code."""

from __future__ import annotations

import json
from typing import Any

from .._types import (
    Done,
    ErrorEvent,
    Finish,
    Message,
    Options,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from .._wire.sse import SSEEvent
from .spec import HTTPRequest, ProviderSpec, WireFormat, chat_messages, finish_request


class OpenAIStreamState:
    """Per-stream memory: the text so far, to spot MiniMax's repeated final message."""

    __slots__ = ("text_len", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.text_len = 0


def _usage(raw: dict[str, Any]) -> Usage:
    details = raw.get("completion_tokens_details") or {}
    return Usage(
        tokens_in=raw.get("prompt_tokens"),
        tokens_out=raw.get("completion_tokens"),
        reasoning_tokens=details.get("reasoning_tokens"),
    )


def _reasoning(delta: dict[str, Any]) -> str | None:
    # Servers name it differently; a delta carries one of these, and OpenRouter
    # sends `reasoning` and `reasoning_details` together, so take the first only.
    text = delta.get("reasoning_content") or delta.get("reasoning")
    if text:
        return str(text)
    details = delta.get("reasoning_details")
    if details:
        joined = "".join(d.get("text") or "" for d in details if isinstance(d, dict))
        return joined or None
    return None


def error_event(raw: Any) -> ErrorEvent:
    """An :class:`ErrorEvent` from an OpenAI-style error object (or its ``error`` member)."""
    err = raw.get("error", raw) if isinstance(raw, dict) else raw
    if not isinstance(err, dict):
        return ErrorEvent(message=str(err), body=raw)
    status = err.get("status_code")
    code = err.get("code")
    if status is None and isinstance(code, int):
        status = code
    message = str(err.get("message") or err.get("error") or raw)
    metadata = err.get("metadata")
    if isinstance(metadata, dict) and metadata.get("raw"):
        message = f"{message}: {metadata['raw']}"
    return ErrorEvent(message=message, status=status, kind=err.get("type"), body=raw)


class OpenAIChatAdapter:
    """Stateless adapter for the Chat Completions streaming API."""

    wire: WireFormat = "sse"

    def build_request(
        self,
        spec: ProviderSpec,
        base_url: str,
        key: str | None,
        messages: list[Message],
        options: Options,
    ) -> HTTPRequest:
        """``POST {base_url}/chat/completions`` with ``stream: true``."""
        body: dict[str, Any] = {
            "model": options.model,
            "messages": chat_messages(messages, options.system),
            "stream": True,
        }
        if spec.include_usage:
            body["stream_options"] = {"include_usage": True}
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.max_tokens is not None:
            body[spec.max_tokens_field] = options.max_tokens
        headers = {"Accept": "text/event-stream"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = f"{base_url.rstrip('/')}/chat/completions"
        return finish_request(spec, options, "POST", url, body, headers)

    def new_state(self) -> OpenAIStreamState:
        """Fresh per-stream state."""
        return OpenAIStreamState()

    def decode(self, item: SSEEvent | str, state: OpenAIStreamState) -> list[StreamEvent]:
        """Map one SSE event onto ipyllm events."""
        assert isinstance(item, SSEEvent)
        data = item.data
        if data == "[DONE]":
            return [Done()]
        obj = json.loads(data)
        if item.event == "error":  # Groq and others: `event: error` with an error object
            return [error_event(obj)]
        events: list[StreamEvent] = []
        usage = obj.get("usage")
        for choice in obj.get("choices") or ():
            self._decode_choice(choice, usage, state, events)
        if usage:
            events.append(_usage(usage))
        if obj.get("error"):  # OpenRouter: an error object inside a 200 stream
            events.append(error_event(obj))
        return events

    def _decode_choice(
        self,
        choice: dict[str, Any],
        usage: dict[str, Any] | None,
        state: OpenAIStreamState,
        events: list[StreamEvent],
    ) -> None:
        delta = choice.get("delta")
        # MiniMax ends with a frame that repeats the whole message (as `message`,
        # or as a delta equal to all text so far) together with the real usage.
        repeat = delta is None or (
            usage is not None
            and state.text_len > 0
            and delta.get("content") == "".join(state.texts)
        )
        if delta and not repeat:
            reasoning = _reasoning(delta)
            if reasoning:
                events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content:
                state.texts.append(content)
                state.text_len += len(content)
                events.append(TextDelta(content))
            refusal = delta.get("refusal")
            if refusal:
                events.append(RefusalDelta(refusal))
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") or {}
                events.append(
                    ToolCallDelta(
                        index=call.get("index", 0),
                        id=call.get("id"),
                        name=fn.get("name"),
                        arguments=fn.get("arguments") or "",
                    )
                )
        reason = choice.get("finish_reason")
        if reason:
            events.append(Finish(reason))

    def models_request(self, spec: ProviderSpec, base_url: str, key: str | None) -> HTTPRequest:
        """``GET {base_url}/models``."""
        headers = dict(spec.headers)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return HTTPRequest("GET", f"{base_url.rstrip('/')}/models", headers)

    def parse_models(self, body: Any) -> list[str]:
        """Ids from ``{"data": [{"id": …}, …]}``."""
        return sorted(str(m["id"]) for m in body.get("data", []) if isinstance(m, dict))
