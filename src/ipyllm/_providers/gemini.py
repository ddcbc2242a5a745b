"""Google Gemini ``streamGenerateContent?alt=sse``; thought parts become reasoning."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .._types import (
    CONTENT_FILTER,
    Done,
    ErrorEvent,
    Finish,
    Message,
    Options,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from .._wire.sse import SSEEvent
from .gemini_request import generate_body
from .spec import (
    ErrorDetails,
    HTTPRequest,
    ProviderSpec,
    WireFormat,
    finish_request,
    read_error_body,
)

# Gemini's error statuses (google.rpc codes) and the HTTP status each stands for.
ERROR_STATUS: Mapping[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

# A google.protobuf.Duration in JSON: seconds, with up to nine decimals, and an "s".
_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")

# Finish reasons that mean a filter stopped the answer; they become "content_filter",
# with Gemini's own word kept as the filter reason.
FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


class GeminiStreamState:
    """Per-stream memory: how many function calls came so far. Each ``functionCall``
    part is a whole call, never a piece of one, so each gets the next index."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0


def _tool_call(
    call: dict[str, Any], part: dict[str, Any], state: GeminiStreamState
) -> ToolCallDelta:
    index = state.calls
    state.calls += 1
    # Args come as an object; the JSON text of it, compact, is the call's arguments.
    arguments = json.dumps(call.get("args") or {}, separators=(",", ":"))
    return ToolCallDelta(
        index=index,
        id=call.get("id"),
        name=call.get("name"),
        arguments=arguments,
        signature=part.get("thoughtSignature"),
    )


def _model_path(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


class GeminiAdapter:
    """Stateless adapter for the Gemini API's SSE stream."""

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
        """``POST {base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse``.

        The key goes in the ``x-goog-api-key`` header, never in the URL, so it
        cannot leak through logs of URLs.
        """
        body = generate_body(spec, messages, options)
        headers = {"Accept": "text/event-stream"}
        if key:
            headers["x-goog-api-key"] = key
        path = quote(_model_path(options.model), safe="/")
        url = f"{base_url.rstrip('/')}/v1beta/{path}:streamGenerateContent?alt=sse"
        return finish_request(spec, options, "POST", url, body, headers)

    def new_state(self) -> GeminiStreamState:
        """Fresh per-stream state."""
        return GeminiStreamState()

    def decode(self, item: SSEEvent | str, state: GeminiStreamState) -> list[StreamEvent]:
        """Map one SSE event (a ``GenerateContentResponse``) onto ipyllm events."""
        assert isinstance(item, SSEEvent)
        obj = json.loads(item.data)
        if isinstance(obj, list):  # a JSON array body instead of SSE frames
            return [ev for part in obj for ev in self._decode_obj(part, state)]
        return self._decode_obj(obj, state)

    def decode_body(self, body: Any, state: GeminiStreamState) -> list[StreamEvent]:
        """A whole ``generateContent`` answer, a JSON array of chunks (no ``alt=sse``), or
        an error envelope, sent instead of SSE frames."""
        parts = body if isinstance(body, list) else [body]
        if not all(isinstance(part, dict) for part in parts):
            return []
        events = [ev for part in parts for ev in self._decode_obj(part, state)]
        answered = any("candidates" in p or "promptFeedback" in p for p in parts)
        if answered and not any(isinstance(e, ErrorEvent | Done) for e in events):
            events.append(Done())
        return events

    def _decode_obj(self, obj: dict[str, Any], state: GeminiStreamState) -> list[StreamEvent]:
        if "error" in obj:
            err = obj["error"]
            status = err.get("code") if isinstance(err.get("code"), int) else None
            return [
                ErrorEvent(
                    message=str(err.get("message") or err),
                    status=status or ERROR_STATUS.get(err.get("status", "")),
                    kind=err.get("status"),
                    body=obj,
                )
            ]
        events: list[StreamEvent] = []
        finished = False
        blocked = (obj.get("promptFeedback") or {}).get("blockReason")
        if blocked:  # the prompt was refused: HTTP 200, no candidates
            events.append(Finish(CONTENT_FILTER, str(blocked)))
            finished = True
        # Several candidates (candidateCount > 1) would interleave: read the first only.
        candidate = next((c for c in obj.get("candidates") or () if c.get("index", 0) == 0), None)
        if candidate is not None:
            for part in (candidate.get("content") or {}).get("parts") or ():
                text = part.get("text")
                if text:
                    events.append(ReasoningDelta(text) if part.get("thought") else TextDelta(text))
                call = part.get("functionCall")
                if call:
                    events.append(_tool_call(call, part, state))
            reason = candidate.get("finishReason")
            if reason in FILTER_REASONS:
                events.append(Finish(CONTENT_FILTER, reason))
            elif reason:
                events.append(Finish(reason))
            finished = finished or bool(reason)
        meta = obj.get("usageMetadata")
        if meta:
            events.append(
                Usage(
                    tokens_in=meta.get("promptTokenCount"),
                    tokens_out=meta.get("candidatesTokenCount"),
                    reasoning_tokens=meta.get("thoughtsTokenCount"),
                )
            )
        if finished and meta:
            # The chunk with the finish reason and the final usage is the last one.
            events.append(Done())
        return events

    def models_request(self, spec: ProviderSpec, base_url: str, key: str | None) -> HTTPRequest:
        """``GET {base_url}/v1beta/models``."""
        headers = dict(spec.headers)
        if key:
            headers["x-goog-api-key"] = key
        return HTTPRequest("GET", f"{base_url.rstrip('/')}/v1beta/models?pageSize=1000", headers)

    def parse_models(self, body: Any) -> list[str]:
        """Names from ``{"models": [{"name": "models/…"}, …]}``, without the prefix."""
        names = (str(m.get("name", "")) for m in body.get("models", []) if isinstance(m, dict))
        return sorted(n.removeprefix("models/") for n in names if n)

    def error_details(self, body: Any) -> ErrorDetails:
        """``{"error": {"code": 429, "message": …, "status": "RESOURCE_EXHAUSTED"}}``:
        the common shape, with the google.rpc status as the type."""
        return read_error_body(body)

    def retry_after(self, body: Any) -> float | None:
        """The ``retryDelay`` of a google.rpc.RetryInfo in ``error.details`` ("7s")."""
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            for detail in err.get("details") or ():
                if isinstance(detail, dict) and "retryDelay" in detail:
                    match = _DURATION.fullmatch(str(detail["retryDelay"]).strip())
                    return float(match.group(1)) if match else None
        return None
