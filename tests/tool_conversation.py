"""A two-round tool conversation and the request each provider family builds from it.

Round one: the user asks; the assistant thinks (signed), says a few words and calls
three tools at once (two of the same function, one without arguments, the first with
a Gemini thought signature); the three results come back, one of them an error.
Round two: the assistant answers, and the user asks again.
"""

from __future__ import annotations

from typing import Any

from ipyllm._providers.catalog import BUILTIN, new_adapter
from ipyllm._providers.spec import HTTPRequest
from ipyllm._types import Message, Options, OutputSchema, ToolSpec

SPECS = {spec.name: spec for spec in BUILTIN}
# A real thoughtSignature (base64, as Gemini sends it), from a recorded stream.
GEMINI_SIGNATURE = "EqQFCqEFARFNMg/n1ZU9kj5ykZOXQwk1pXyQ5oBBXotOfGYhGEj1y41sfBXZLyM3+6YN5xmpBDXk"
THINKING_SIGNATURE = "EoQDCm0IDhgCKkCDzGs2kL2PgnDCZU/nM2wG2P1VIXCRHVnhDDzBQxNF1fl4QBXEKLxR"

WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
CLOCK = ToolSpec(
    name="get_time",
    description="The local time.",
    parameters={"type": "object", "properties": {}},
)
TOOLS = (WEATHER, CLOCK)

CONVERSATION: list[Message] = [
    {"role": "user", "content": "Weather in Paris and Tokyo, and the time?"},
    {
        "role": "assistant",
        "content": "Let me look.",
        "reasoning": "Two weather lookups and the clock.",
        "reasoning_signature": THINKING_SIGNATURE,
        "tool_calls": [
            {
                "id": "call_1",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
                "signature": GEMINI_SIGNATURE,
            },
            {"id": "call_2", "name": "get_weather", "arguments": '{"city": "Tokyo"}'},
            {"id": "call_3", "name": "get_time", "arguments": ""},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": '{"temp_c": 18}'},
    {
        "role": "tool",
        "tool_call_id": "call_2",
        "name": "get_weather",
        "content": "TimeoutError: the weather service did not answer",
        "is_error": True,
    },
    {"role": "tool", "tool_call_id": "call_3", "name": "get_time", "content": "12:00"},
    {"role": "assistant", "content": "Paris: 18 °C. Tokyo: no answer. It is noon."},
    {"role": "user", "content": "And Rome?"},
]

# A structured answer: every object closed and fully required (OpenAI strict accepts it).
CLOSED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"day": {"type": "string"}, "temp_c": {"type": "number"}},
                "required": ["day", "temp_c"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["city", "days"],
    "additionalProperties": False,
}
# The same with an optional property: strict mode would refuse it.
OPEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "note": {"type": "string"}},
    "required": ["city"],
}


def build(
    provider: str,
    messages: list[Message] | None = None,
    *,
    system: str | None = "Be brief.",
    tools: tuple[ToolSpec, ...] = TOOLS,
    output: OutputSchema | None = None,
    **options: Any,
) -> HTTPRequest:
    """The request ``provider``'s adapter builds for ``messages`` (the conversation)."""
    spec = SPECS[provider]
    opts = Options(model="model-x", system=system, tools=tools, output_schema=output, **options)
    return new_adapter(spec.adapter).build_request(
        spec,
        spec.base_url or "http://127.0.0.1:9/v1",
        "test-key",
        CONVERSATION if messages is None else messages,
        opts,
    )


def body(provider: str, messages: list[Message] | None = None, **kwargs: Any) -> dict[str, Any]:
    """The JSON body of :func:`build`'s request."""
    json_body = build(provider, messages, **kwargs).json
    assert json_body is not None
    return json_body
