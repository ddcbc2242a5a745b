"""OpenAI-style Chat Completions: OpenAI, xAI, OpenRouter, Fireworks, LM Studio, vLLM,
MiniMax, Z.AI and any OpenAI-compatible endpoint. Differences are table rows (see
:mod:`.catalog`), not code."""

from __future__ import annotations

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
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from .._wire.json_text import MAX_LEARNS, StringSlot, loads
from .._wire.sse import SSEEvent
from .openai_errors import (
    ERROR_CODES,
    ERROR_STATUS,
    base_resp_failed,
    base_resp_message,
    error_details,
    error_event,
)
from .openai_request import chat_body
from .spec import ErrorDetails, HTTPRequest, ProviderSpec, WireFormat, finish_request

# What the per-token fast path in OpenAIChatAdapter.decode accepts: a chunk, its one
# choice and its delta holding no other keys (any other key takes the full path).
_PLAIN_CHUNK_KEYS = frozenset(
    {"id", "object", "created", "model", "system_fingerprint", "service_tier", "choices", "usage"}
)
_PLAIN_CHOICE_KEYS = frozenset({"index", "delta", "logprobs", "finish_reason"})
_PLAIN_DELTA_KEYS = frozenset({"content", "role"})


class OpenAIStreamState:
    """Per-stream memory: what the deltas carried so far, so that a frame repeating the
    whole message (MiniMax's last) adds only what is missing."""

    __slots__ = ("learns", "reasonings", "refusals", "slot", "slot_event", "texts", "tool_calls")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.reasonings: list[str] = []
        self.refusals: list[str] = []
        self.tool_calls = False
        # The text-only chunk's JSON, learnt from one chunk, so that later ones are read without a
        # full parse (see StringSlot); the SSE event name it came under; how many tries.
        self.slot: StringSlot | None = None
        self.slot_event = ""
        self.learns = 0


def _delta_content(obj: Any) -> Any:
    return obj["choices"][0]["delta"]["content"]


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


def _tool_call(call: dict[str, Any], index: int) -> ToolCallDelta:
    fn = call.get("function") or {}
    return ToolCallDelta(
        index=index, id=call.get("id"), name=fn.get("name"), arguments=fn.get("arguments") or ""
    )


def _missing(whole: Any, pieces: list[str]) -> str:
    """What ``whole`` holds beyond the ``pieces`` already streamed ("" if they differ)."""
    if not isinstance(whole, str) or not whole:
        return ""
    so_far = "".join(pieces)
    return whole[len(so_far) :] if whole.startswith(so_far) else ""


def _fill_in(message: dict[str, Any], state: OpenAIStreamState, events: list[StreamEvent]) -> None:
    """A whole message (a frame repeating it, or a non-streamed answer): add only what the
    deltas before it did not carry, so nothing arrives twice and nothing is lost."""
    reasoning = _missing(_reasoning(message), state.reasonings)
    if reasoning:
        state.reasonings.append(reasoning)
        events.append(ReasoningDelta(reasoning))
    content = _missing(message.get("content"), state.texts)
    if content:
        state.texts.append(content)
        events.append(TextDelta(content))
    refusal = _missing(message.get("refusal"), state.refusals)
    if refusal:
        state.refusals.append(refusal)
        events.append(RefusalDelta(refusal))
    if not state.tool_calls:
        for i, call in enumerate(message.get("tool_calls") or ()):
            state.tool_calls = True
            events.append(_tool_call(call, call.get("index", i)))


def _filter_reason(choice: dict[str, Any]) -> str:
    """``content_filter``, with the categories Azure OpenAI names as filtered."""
    results = choice.get("content_filter_results")
    if isinstance(results, dict):
        hits = sorted(k for k, v in results.items() if isinstance(v, dict) and v.get("filtered"))
        if hits:
            return f"{CONTENT_FILTER}: {', '.join(hits)}"
    return CONTENT_FILTER


def _is_error(events: list[StreamEvent]) -> bool:
    return any(isinstance(e, ErrorEvent) for e in events)


class OpenAIChatAdapter:
    """Stateless adapter for the Chat Completions streaming API."""

    wire: WireFormat = "sse"
    error_statuses: Mapping[str, int] = ERROR_STATUS
    error_codes: Mapping[str, str] = ERROR_CODES

    def build_request(
        self,
        spec: ProviderSpec,
        base_url: str,
        key: str | None,
        messages: list[Message],
        options: Options,
    ) -> HTTPRequest:
        """``POST {base_url}/chat/completions`` with ``stream: true``."""
        body = chat_body(spec, messages, options)
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
        slot = state.slot
        if slot is not None and item.event == state.slot_event:
            content = slot.read(data)
            if content is not None:  # the last text-only chunk again, with other text
                if not content:
                    return []
                state.texts.append(content)
                return [TextDelta(content)]
        obj = loads(data)
        if item.event == "error":  # Groq and others: `event: error` with an error object
            return [error_event(obj)]
        # The per-token path: one choice whose delta carries only text (and perhaps the
        # role), in a chunk with no error or MiniMax envelope. Anything else, and every
        # check this skips, goes through _decode_obj.
        if type(obj) is dict and obj.keys() <= _PLAIN_CHUNK_KEYS:
            choices = obj.get("choices")
            if type(choices) is list and len(choices) == 1:
                choice = choices[0]
                if type(choice) is dict and choice.keys() <= _PLAIN_CHOICE_KEYS:
                    delta = choice.get("delta")
                    if (
                        type(delta) is dict
                        and delta.keys() <= _PLAIN_DELTA_KEYS
                        and choice.get("index", 0) == 0
                        and not choice.get("finish_reason")
                        and not obj.get("usage")
                        and obj.get("object") != "chat.completion"
                    ):
                        content = delta.get("content")
                        if not content:
                            return []
                        if state.learns < MAX_LEARNS:
                            state.learns += 1
                            state.slot = StringSlot.learn(data, "content", _delta_content)
                            state.slot_event = item.event
                        state.texts.append(content)
                        return [TextDelta(content)]
        # MiniMax ends its stream with a frame that repeats the whole message (as a
        # `chat.completion` with `message`, not `delta`) together with the real usage.
        return self._decode_obj(obj, state, whole=obj.get("object") == "chat.completion")

    def decode_body(self, body: Any, state: OpenAIStreamState) -> list[StreamEvent]:
        """A whole ``chat.completion`` (a server that ignored ``stream: true``) or an error
        envelope sent instead of a stream."""
        if not isinstance(body, dict):
            return []
        events = self._decode_obj(body, state, whole=True)
        if isinstance(body.get("choices"), list) and not _is_error(events):
            events.append(Done())
        return events

    def _decode_obj(
        self, obj: dict[str, Any], state: OpenAIStreamState, *, whole: bool
    ) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) == 0:  # n > 1 would interleave: read the first only
                self._decode_choice(choice, whole, state, events)
        usage = obj.get("usage")
        if usage:
            events.append(_usage(usage))
        if obj.get("error"):  # OpenRouter: an error object inside a 200 stream
            events.append(error_event(obj))
        elif base_resp_failed(obj):
            events.append(ErrorEvent(message=base_resp_message(obj), body=obj))
        return events

    def _decode_choice(
        self,
        choice: dict[str, Any],
        whole: bool,
        state: OpenAIStreamState,
        events: list[StreamEvent],
    ) -> None:
        delta = choice.get("delta")
        if whole or delta is None:
            _fill_in(choice.get("message") or delta or {}, state, events)
        elif delta:
            reasoning = _reasoning(delta)
            if reasoning:
                state.reasonings.append(reasoning)
                events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content:
                state.texts.append(content)
                events.append(TextDelta(content))
            refusal = delta.get("refusal")
            if refusal:
                state.refusals.append(refusal)
                events.append(RefusalDelta(refusal))
            for call in delta.get("tool_calls") or ():
                state.tool_calls = True
                events.append(_tool_call(call, call.get("index", 0)))
        reason = choice.get("finish_reason")
        if reason == CONTENT_FILTER:
            events.append(Finish(CONTENT_FILTER, _filter_reason(choice)))
        elif reason:
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

    def error_details(self, body: Any) -> ErrorDetails:
        """The common error body, MiniMax's ``base_resp`` envelope (its business code is
        the code), and OpenRouter's upstream words appended to the message."""
        return error_details(body)

    def retry_after(self, body: Any) -> float | None:
        """None: these servers say how long to wait in headers or in the message."""
        return None
