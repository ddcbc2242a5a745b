"""The body of a Gemini ``generateContent`` request: contents with function calls (and
their thought signatures) and function responses, function declarations, and the
answer's schema (``responseJsonSchema``)."""

from __future__ import annotations

from typing import Any

from .._types import Message, Options
from .attachment_wire import b64, fitted_messages
from .spec import ProviderSpec
from .tool_wire import arguments_object, call_names, result_object


def generate_body(spec: ProviderSpec, messages: list[Message], options: Options) -> dict[str, Any]:
    """``contents`` and what the options ask for."""
    body: dict[str, Any] = {"contents": gemini_contents(fitted_messages(spec, messages))}
    if options.system:
        body["systemInstruction"] = {"parts": [{"text": options.system}]}
    if options.tools:
        # parametersJsonSchema takes plain JSON Schema; `parameters` wants Google's
        # OpenAPI subset, which refuses keywords such as additionalProperties.
        declarations = [
            {"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}
            for t in options.tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    config: dict[str, Any] = {}
    if options.temperature is not None:
        config["temperature"] = options.temperature
    if options.max_tokens is not None:
        config["maxOutputTokens"] = options.max_tokens
    if options.output_schema is not None:
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = options.output_schema.schema
    if config:
        body["generationConfig"] = config
    return body


def gemini_contents(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as Gemini contents: the assistant's as role ``model`` with a
    ``functionCall`` part per call (its ``thoughtSignature`` beside it), and the results
    of consecutive calls together in one ``user`` content of ``functionResponse`` parts."""
    names = call_names(messages)
    contents: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "tool":
            part = {"functionResponse": _function_response(m, names)}
            last = contents[-1] if contents else None
            if last is not None and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        elif m["role"] == "assistant":
            contents.append({"role": "model", "parts": _model_parts(m)})
        else:
            # Attachments as inlineData parts (text files too: Gemini reads text/plain),
            # before the text, as Google's examples put them.
            parts: list[dict[str, Any]] = [
                {"inlineData": {"mimeType": att.mime, "data": b64(att)}}
                for att in m.get("attachments") or ()
            ]
            if m["content"] or not parts:
                parts.append({"text": m["content"]})
            contents.append({"role": "user", "parts": parts})
    return contents


def _model_parts(m: Message) -> list[dict[str, Any]]:
    calls = m.get("tool_calls") or []
    parts: list[dict[str, Any]] = []
    if m["content"] or not calls:
        parts.append({"text": m["content"]})
    for call in calls:
        function_call: dict[str, Any] = {
            "name": call["name"],
            "args": arguments_object(call["arguments"]),
        }
        if call["id"]:
            function_call["id"] = call["id"]
        part: dict[str, Any] = {"functionCall": function_call}
        if call.get("signature"):
            # Gemini 3 refuses a function call sent back without its signature.
            part["thoughtSignature"] = call["signature"]
        parts.append(part)
    return parts


def _function_response(m: Message, names: dict[str, str]) -> dict[str, Any]:
    call_id = m.get("tool_call_id")
    name = m.get("name") or names.get(call_id or "", "")
    response: dict[str, Any] = {"name": name}
    if call_id:
        response["id"] = call_id
    response["response"] = result_object(m["content"], bool(m.get("is_error")))
    return response
