"""The body of an Anthropic Messages request: content blocks for thinking, tool use and
tool results, tools, and the answer's schema (``output_config.format``)."""

from __future__ import annotations

from typing import Any

from .._types import Attachment, Message, Options
from .attachment_wire import b64, filename, fitted_messages, text_of
from .spec import ProviderSpec
from .tool_wire import arguments_object, with_call_ids

# The Messages API requires max_tokens; this is what we ask for when the user did not.
DEFAULT_MAX_TOKENS = 8192


def messages_body(spec: ProviderSpec, messages: list[Message], options: Options) -> dict[str, Any]:
    """``model``, ``messages``, ``max_tokens``, ``stream`` and what the options ask for."""
    body: dict[str, Any] = {
        "model": options.model,
        "messages": anthropic_messages(fitted_messages(spec, messages)),
        "max_tokens": options.max_tokens or DEFAULT_MAX_TOKENS,
        "stream": True,
    }
    if options.system:
        body["system"] = options.system
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in options.tools
        ]
    if options.output_schema is not None:
        # The API's own structured output (GA: MessageCreateParams.output_config), which
        # constrains the text answer itself, so the stream needs no special reading.
        body["output_config"] = {
            "format": {"type": "json_schema", "schema": options.output_schema.schema}
        }
    return body


def anthropic_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as the Messages API takes them. An assistant message that thought or
    called tools becomes content blocks (signed thinking first, then text, then
    ``tool_use``); the results of its calls go back together in one user message of
    ``tool_result`` blocks, with any user text that follows them after them."""
    wire: list[dict[str, Any]] = []
    for m in with_call_ids(messages):
        last = wire[-1] if wire else None
        if m["role"] == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": m.get("tool_call_id"),
                "content": m["content"],
                "is_error": bool(m.get("is_error")),
            }
            if last is not None and _holds_results(last):
                last["content"].append(block)
            else:
                wire.append({"role": "user", "content": [block]})
        elif m["role"] == "assistant" and (m.get("tool_calls") or _signed(m)):
            wire.append({"role": "assistant", "content": _assistant_blocks(m)})
        elif m["role"] == "user" and last is not None and _holds_results(last):
            # Tool results must open the user turn that answers the calls; the user's
            # own words may follow them in that same turn.
            last["content"].extend(_user_blocks(m))
        elif m["role"] == "user" and m.get("attachments"):
            wire.append({"role": "user", "content": _user_blocks(m)})
        else:
            wire.append({"role": m["role"], "content": m["content"]})
    return wire


def _user_blocks(m: Message) -> list[dict[str, Any]]:
    """The attachments as blocks, then the text (Anthropic's advice: images before the
    question about them)."""
    blocks = [_block(att) for att in m.get("attachments") or ()]
    if m["content"]:
        blocks.append({"type": "text", "text": m["content"]})
    return blocks


def _block(att: Attachment) -> dict[str, Any]:
    if att.kind == "image":
        if att.url is not None:
            return {"type": "image", "source": {"type": "url", "url": att.url}}
        source = {"type": "base64", "media_type": att.mime, "data": b64(att)}
        return {"type": "image", "source": source}
    if att.kind == "pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": b64(att)}
    else:  # a plain-text document, which the model can also cite
        source = {"type": "text", "media_type": "text/plain", "data": text_of(att)}
    return {"type": "document", "source": source, "title": filename(att)}


def _signed(m: Message) -> bool:
    return bool(m.get("reasoning") and m.get("reasoning_signature"))


def _holds_results(message: dict[str, Any]) -> bool:
    content = message["content"]
    return (
        message["role"] == "user"
        and isinstance(content, list)
        and any(b.get("type") == "tool_result" for b in content)
    )


def _assistant_blocks(m: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if _signed(m):
        # The API checks the signature: thinking goes back exactly as it came.
        blocks.append(
            {"type": "thinking", "thinking": m["reasoning"], "signature": m["reasoning_signature"]}
        )
    if m["content"]:
        blocks.append({"type": "text", "text": m["content"]})
    blocks.extend(
        {
            "type": "tool_use",
            "id": call["id"],
            "name": call["name"],
            "input": arguments_object(call["arguments"]),
        }
        for call in m.get("tool_calls") or ()
    )
    return blocks
