"""Ollama's native ``/api/chat`` NDJSON stream."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._types import (
    Done,
    ErrorEvent,
    Finish,
    Message,
    Options,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    Usage,
)
from .._wire.sse import SSEEvent
from .spec import (
    ErrorDetails,
    HTTPRequest,
    ProviderSpec,
    WireFormat,
    chat_messages,
    finish_request,
    read_error_body,
)


class OllamaAdapter:
    """Stateless adapter for Ollama's NDJSON chat stream."""

    wire: WireFormat = "ndjson"
    error_statuses: Mapping[str, int] = {}
    error_codes: Mapping[str, str] = {}

    def build_request(
        self,
        spec: ProviderSpec,
        base_url: str,
        key: str | None,
        messages: list[Message],
        options: Options,
    ) -> HTTPRequest:
        """``POST {base_url}/api/chat`` with ``stream: true``."""
        body: dict[str, Any] = {
            "model": options.model,
            "messages": chat_messages(messages, options.system),
            "stream": True,
        }
        model_options: dict[str, Any] = {}
        if options.temperature is not None:
            model_options["temperature"] = options.temperature
        if options.max_tokens is not None:
            model_options["num_predict"] = options.max_tokens
        if model_options:
            body["options"] = model_options
        headers = {}
        if key:  # a proxy in front of Ollama may want one
            headers["Authorization"] = f"Bearer {key}"
        return finish_request(
            spec, options, "POST", f"{base_url.rstrip('/')}/api/chat", body, headers
        )

    def new_state(self) -> None:
        """Ollama streams need no per-stream state."""
        return None

    def decode(self, item: SSEEvent | str, state: None) -> list[StreamEvent]:
        """Map one NDJSON line onto ipyllm events."""
        assert isinstance(item, str)
        return self._decode_obj(json.loads(item))

    def decode_body(self, body: Any, state: None) -> list[StreamEvent]:
        """A whole answer (``stream: false``, or a proxy that buffered it) or an error
        object sent as one JSON document rather than as lines."""
        return self._decode_obj(body) if isinstance(body, dict) else []

    def _decode_obj(self, obj: dict[str, Any]) -> list[StreamEvent]:
        if "error" in obj:
            return [ErrorEvent(message=str(obj["error"]), status=obj.get("status"), body=obj)]
        events: list[StreamEvent] = []
        message = obj.get("message") or {}
        thinking = message.get("thinking")
        if thinking:
            events.append(ReasoningDelta(thinking))
        content = message.get("content")
        if content:
            events.append(TextDelta(content))
        if obj.get("done"):
            events.append(
                Usage(tokens_in=obj.get("prompt_eval_count"), tokens_out=obj.get("eval_count"))
            )
            events.append(Finish(obj.get("done_reason") or "stop"))
            events.append(Done())
        return events

    def models_request(self, spec: ProviderSpec, base_url: str, key: str | None) -> HTTPRequest:
        """``GET {base_url}/api/tags``."""
        return HTTPRequest("GET", f"{base_url.rstrip('/')}/api/tags", dict(spec.headers))

    def parse_models(self, body: Any) -> list[str]:
        """Names from ``{"models": [{"name": …}, …]}``."""
        return sorted(str(m["name"]) for m in body.get("models", []) if isinstance(m, dict))

    def error_details(self, body: Any) -> ErrorDetails:
        """``{"error": "…"}``: the common shape."""
        return read_error_body(body)

    def retry_after(self, body: Any) -> float | None:
        """None: Ollama never asks a client to wait."""
        return None
