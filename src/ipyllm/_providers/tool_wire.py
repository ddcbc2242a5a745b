"""What every request builder shares for tools and structured output: arguments as
objects, tool results as objects, call ids, and JSON Schema checks and instructions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .._types import Message, OutputSchema, WireToolCall

# OpenAI's rule for a json_schema name (and Anthropic's for a tool name): letters,
# digits, "_" and "-", at most 64 characters.
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")
# Schema keywords whose value is one schema, or a list of schemas, or a map of them.
_ONE = ("items", "additionalProperties", "not", "contains", "if", "then", "else")
_MANY = ("anyOf", "allOf", "oneOf", "prefixItems")
_MAP = ("properties", "$defs", "definitions", "patternProperties")


def arguments_object(arguments: str) -> dict[str, Any]:
    """A call's JSON arguments as the object formats that want one (Anthropic's
    ``input``, Gemini's ``args``, Ollama's ``arguments``) expect: ``{}`` when the text
    is empty, not JSON, or JSON that is no object, so one bad call cannot make the whole
    conversation unsendable."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def result_object(content: str, is_error: bool) -> dict[str, Any]:
    """A tool's result as an object (Gemini's ``functionResponse.response`` must be one):
    a JSON object result as it is, anything else under ``result``, or ``error``."""
    if is_error:
        return {"error": content}
    try:
        value = json.loads(content)
    except ValueError:
        return {"result": content}
    return value if isinstance(value, dict) else {"result": content}


def with_call_ids(messages: list[Message]) -> list[Message]:
    """``messages`` with an id on every tool call and tool result, for the formats that
    require one (OpenAI, Anthropic): a conversation that began with a provider that sends
    none (older Gemini, Ollama) gets ``call_<n>`` ids, its results matched to the calls
    in order. Messages that already have ids come back unchanged."""
    out: list[Message] = []
    pending: list[str] = []  # ids given to calls, for the id-less results after them
    made = 0
    for m in messages:
        calls = m.get("tool_calls")
        if calls and any(c["id"] is None for c in calls):
            filled: list[WireToolCall] = []
            pending = []
            for call in calls:
                if call["id"] is None:
                    made += 1
                    call = {**call, "id": f"call_{made}"}
                filled.append(call)
                pending.append(str(call["id"]))
            m = {**m, "tool_calls": filled}
        elif calls:
            pending = [str(c["id"]) for c in calls]
        elif m["role"] == "tool" and m.get("tool_call_id") is None and pending:
            m = {**m, "tool_call_id": pending.pop(0)}
        out.append(m)
    return out


def call_names(messages: list[Message]) -> dict[str, str]:
    """The function name of every tool call with an id, for results that lack one."""
    return {str(c["id"]): c["name"] for m in messages for c in m.get("tool_calls") or () if c["id"]}


def wire_name(name: str) -> str:
    """``name`` in the characters a schema or tool name may hold (at most 64)."""
    return _NAME_BAD.sub("_", name)[:64] or "output"


def strict_ready(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts ``schema`` as it is: an object at the root,
    and every object in it closed (``additionalProperties: false``) with all of its
    properties required. Strict mode refuses any other schema, so it is asked for only
    when this holds."""
    return isinstance(schema, dict) and _is_object(schema) and all(map(_closed, _walk(schema)))


def _is_object(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def _closed(node: dict[str, Any]) -> bool:
    if not _is_object(node):
        return True
    properties = node.get("properties") or {}
    required = node.get("required") or []
    return node.get("additionalProperties") is False and set(required) == set(properties)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema inside ``node``, ``node`` first."""
    if not isinstance(node, dict):
        return
    yield node
    for key in _ONE:
        yield from _walk(node.get(key))
    for key in _MANY:
        for sub in node.get(key) or ():
            yield from _walk(sub)
    for key in _MAP:
        sub_map = node.get(key)
        if isinstance(sub_map, dict):
            for sub in sub_map.values():
                yield from _walk(sub)


def schema_instruction(output: OutputSchema) -> str:
    """The words that ask for the schema where the server cannot enforce it (JSON mode
    only, or no structured output at all): the model then sees the schema in the prompt."""
    schema = json.dumps(output.schema, ensure_ascii=False)
    return (
        "Answer with one JSON object and nothing else (no prose, no code fence) that "
        f"follows this JSON Schema:\n{schema}"
    )


def system_with_schema(system: str | None, output: OutputSchema) -> str:
    """The system prompt with :func:`schema_instruction` after it."""
    instruction = schema_instruction(output)
    return f"{system}\n\n{instruction}" if system else instruction
