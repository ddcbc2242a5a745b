"""Ollama's native ``/api/chat`` NDJSON stream."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._errors import AttachmentError
from .._types import (
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
from .attachment_wire import b64, fitted_messages, framed_text
from .openai_request import function_tools
from .spec import (
    ErrorDetails,
    HTTPRequest,
    ProviderSpec,
    WireFormat,
    finish_request,
    read_error_body,
)
from .tool_wire import arguments_object, call_names, system_with_schema


class OllamaStreamState:
    """Per-stream memory: how many tool calls came so far. Ollama sends each call
    whole, never in pieces, so each gets the next index."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0


def _tool_call(call: dict[str, Any], state: OllamaStreamState) -> ToolCallDelta:
    index = state.calls
    state.calls += 1
    fn = call.get("function") or {}
    # Arguments come as an object; the JSON text of it, compact, is the call's arguments.
    arguments = json.dumps(fn.get("arguments") or {}, separators=(",", ":"))
    # Ollama 0.12.10 and later give each call an id.
    return ToolCallDelta(index=index, id=call.get("id"), name=fn.get("name"), arguments=arguments)


def ollama_messages(messages: list[Message], system: str | None) -> list[dict[str, Any]]:
    """Messages as ``/api/chat`` takes them, the system prompt first: an assistant's
    calls with their arguments as objects, each result a ``tool`` message naming the
    function (``tool_name``)."""
    wire: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    names = call_names(messages)
    for m in messages:
        calls = m.get("tool_calls")
        if m["role"] == "assistant" and calls:
            wire.append(
                {
                    "role": "assistant",
                    "content": m["content"],
                    "tool_calls": [
                        {
                            "function": {
                                "name": c["name"],
                                "arguments": arguments_object(c["arguments"]),
                            }
                        }
                        for c in calls
                    ],
                }
            )
        elif m["role"] == "tool":
            name = m.get("name") or names.get(m.get("tool_call_id") or "", "")
            wire.append({"role": "tool", "content": m["content"], "tool_name": name})
        elif m["role"] == "user" and m.get("attachments"):
            # Images go base64 beside the text; a text file (if a configure() lets one
            # through) goes into the text, framed with its name. Ollama takes no PDF, and
            # the row's `attachments` refuses it before this.
            attachments = m.get("attachments") or ()
            if any(att.kind == "pdf" for att in attachments):
                raise AttachmentError(
                    "Ollama's chat API takes no PDF, whatever configure() says; extract "
                    "the text and attach it as ipyllm.File(text.encode(), mime='text/plain')."
                )
            images = [b64(att) for att in attachments if att.kind == "image"]
            texts = [framed_text(att) for att in attachments if att.kind == "text"]
            content = "\n\n".join([*texts, m["content"]]) if texts else m["content"]
            message: dict[str, Any] = {"role": "user", "content": content}
            if images:
                message["images"] = images
            wire.append(message)
        else:
            wire.append({"role": m["role"], "content": m["content"]})
    return wire


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
        output = options.output_schema
        system = options.system
        if output is not None:
            # `format` constrains the output, but the model writes better JSON when it
            # can read the schema too (Ollama's own advice).
            system = system_with_schema(system, output)
        body: dict[str, Any] = {
            "model": options.model,
            "messages": ollama_messages(fitted_messages(spec, messages), system),
            "stream": True,
        }
        if options.tools:
            body["tools"] = function_tools(options.tools)
        if output is not None:
            body["format"] = output.schema
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

    def new_state(self) -> OllamaStreamState:
        """Fresh per-stream state."""
        return OllamaStreamState()

    def decode(self, item: SSEEvent | str, state: OllamaStreamState) -> list[StreamEvent]:
        """Map one NDJSON line onto ipyllm events."""
        assert isinstance(item, str)
        return self._decode_obj(json.loads(item), state)

    def decode_body(self, body: Any, state: OllamaStreamState) -> list[StreamEvent]:
        """A whole answer (``stream: false``, or a proxy that buffered it) or an error
        object sent as one JSON document rather than as lines."""
        return self._decode_obj(body, state) if isinstance(body, dict) else []

    def _decode_obj(self, obj: dict[str, Any], state: OllamaStreamState) -> list[StreamEvent]:
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
        for call in message.get("tool_calls") or ():
            events.append(_tool_call(call, state))
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
