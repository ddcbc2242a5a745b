"""The body of an OpenAI-style Chat Completions request: messages with tool calls and
results, tools, and the answer's schema as the server can take it."""

from __future__ import annotations

from typing import Any

from .._types import Attachment, Message, Options, ToolSpec, WireToolCall
from .attachment_wire import data_uri, filename, fitted_messages, framed_text
from .spec import ProviderSpec
from .tool_wire import strict_ready, system_with_schema, wire_name, with_call_ids


def chat_body(spec: ProviderSpec, messages: list[Message], options: Options) -> dict[str, Any]:
    """``model``, ``messages``, ``stream`` and what the options ask for."""
    output = options.output_schema
    system = options.system
    if output is not None and spec.structured_output != "json_schema":
        # The server cannot enforce the schema: the model must read it.
        system = system_with_schema(system, output)
    body: dict[str, Any] = {
        "model": options.model,
        "messages": chat_messages(fitted_messages(spec, messages), system),
        "stream": True,
    }
    if spec.include_usage:
        body["stream_options"] = {"include_usage": True}
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.max_tokens is not None:
        body[spec.max_tokens_field] = options.max_tokens
    if options.tools:
        body["tools"] = function_tools(options.tools)
    if output is not None and spec.structured_output == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": wire_name(output.name),
                "schema": output.schema,
                # Strict mode rejects a schema that is not closed and fully required.
                "strict": output.strict and strict_ready(output.schema),
            },
        }
    elif output is not None and spec.structured_output == "json_object":
        body["response_format"] = {"type": "json_object"}
    return body


def function_tools(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    """Tools as ``{"type": "function", "function": {name, description, parameters}}``,
    the shape OpenAI-compatible servers and Ollama share."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


def chat_messages(messages: list[Message], system: str | None) -> list[dict[str, Any]]:
    """Messages in the Chat Completions shape, the system prompt first: an assistant
    message's tool calls under ``tool_calls`` (its content ``null`` if it said nothing),
    each result a ``tool`` message naming its call."""
    wire: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in with_call_ids(messages):
        calls = m.get("tool_calls")
        if m["role"] == "assistant" and calls:
            wire.append(
                {
                    "role": "assistant",
                    "content": m["content"] or None,
                    "tool_calls": [_tool_call(call) for call in calls],
                }
            )
        elif m["role"] == "tool":
            wire.append(
                {"role": "tool", "tool_call_id": m.get("tool_call_id"), "content": m["content"]}
            )
        elif m["role"] == "user" and m.get("attachments"):
            wire.append({"role": "user", "content": user_parts(m)})
        else:
            wire.append({"role": m["role"], "content": m["content"]})
    return wire


def user_parts(m: Message) -> list[dict[str, Any]]:
    """A user message with attachments as content parts: the attachments first (vision
    models read an image best before the question about it), then the text."""
    parts = [_part(att) for att in m.get("attachments") or ()]
    if m["content"]:
        parts.append({"type": "text", "text": m["content"]})
    return parts


def _part(att: Attachment) -> dict[str, Any]:
    if att.kind == "image":
        return {"type": "image_url", "image_url": {"url": data_uri(att)}}
    if att.kind == "pdf":
        return {"type": "file", "file": {"filename": filename(att), "file_data": data_uri(att)}}
    # Chat Completions' file parts are for PDFs: a text file goes as text.
    return {"type": "text", "text": framed_text(att)}


def _tool_call(call: WireToolCall) -> dict[str, Any]:
    # A call without input may have streamed no arguments at all; "" is not JSON.
    arguments = call["arguments"] if call["arguments"].strip() else "{}"
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": call["name"], "arguments": arguments},
    }
