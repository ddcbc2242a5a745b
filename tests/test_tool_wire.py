"""What each provider family puts on the wire for tools, tool results and output schemas.

The bodies are the adapters' own (``build_request``), compared whole against the shape
each API documents; tests/test_tool_requests_sdk.py checks the same bodies against the
official SDKs' request types.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ipyllm._providers.anthropic import AnthropicAdapter
from ipyllm._providers.gemini import GeminiAdapter
from ipyllm._providers.ollama import OllamaAdapter
from ipyllm._providers.tool_wire import (
    arguments_object,
    result_object,
    schema_instruction,
    strict_ready,
    wire_name,
    with_call_ids,
)
from ipyllm._types import (
    Message,
    OutputSchema,
    ReasoningDelta,
    ReasoningSignature,
    TextDelta,
    ToolCallDelta,
)
from ipyllm._wire.sse import SSEEvent
from tool_conversation import (
    CLOSED_SCHEMA,
    CONVERSATION,
    GEMINI_SIGNATURE,
    OPEN_SCHEMA,
    THINKING_SIGNATURE,
    body,
)

OPENAI_STYLE = ["openai", "xai", "openrouter", "fireworks", "lmstudio", "vllm", "minimax", "zai"]
WEATHER_PARAMS = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
    "additionalProperties": False,
}
CLOCK_PARAMS = {"type": "object", "properties": {}}
ERROR_TEXT = "TimeoutError: the weather service did not answer"
ANSWER = "Paris: 18 °C. Tokyo: no answer. It is noon."

# ---- tools -------------------------------------------------------------------


@pytest.mark.parametrize("provider", [*OPENAI_STYLE, "ollama"])
def test_openai_shaped_tools(provider: str) -> None:
    assert body(provider)["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": WEATHER_PARAMS,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "description": "The local time.",
                "parameters": CLOCK_PARAMS,
            },
        },
    ]


def test_anthropic_tools() -> None:
    assert body("anthropic")["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "input_schema": WEATHER_PARAMS,
        },
        {"name": "get_time", "description": "The local time.", "input_schema": CLOCK_PARAMS},
    ]


def test_gemini_tools() -> None:
    assert body("gemini")["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "parametersJsonSchema": WEATHER_PARAMS,
                },
                {
                    "name": "get_time",
                    "description": "The local time.",
                    "parametersJsonSchema": CLOCK_PARAMS,
                },
            ]
        }
    ]


@pytest.mark.parametrize("provider", [*OPENAI_STYLE, "ollama", "anthropic", "gemini"])
def test_no_tools_no_schema_adds_nothing(provider: str) -> None:
    sent = body(provider, [{"role": "user", "content": "hi"}], tools=())
    for key in ("tools", "tool_choice", "response_format", "output_config", "format"):
        assert key not in sent
    assert "responseJsonSchema" not in sent.get("generationConfig", {})


# ---- a two-round conversation with tool calls and results --------------------


@pytest.mark.parametrize("provider", OPENAI_STYLE)
def test_openai_conversation(provider: str) -> None:
    def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
        return {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }

    assert body(provider)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris and Tokyo, and the time?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                call("call_1", "get_weather", '{"city": "Paris"}'),
                call("call_2", "get_weather", '{"city": "Tokyo"}'),
                call("call_3", "get_time", "{}"),  # no arguments streamed: "{}", not ""
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
        {"role": "tool", "tool_call_id": "call_2", "content": ERROR_TEXT},
        {"role": "tool", "tool_call_id": "call_3", "content": "12:00"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "And Rome?"},
    ]


def test_openai_assistant_without_words_sends_null_content() -> None:
    messages: list[Message] = [
        {"role": "user", "content": "time?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "get_time", "arguments": "{}"}],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "get_time", "content": "noon"},
    ]
    sent = body("openai", messages, system=None)["messages"]
    assert sent[1]["content"] is None
    assert sent[2] == {"role": "tool", "tool_call_id": "c1", "content": "noon"}


def test_anthropic_conversation() -> None:
    def use(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"type": "tool_use", "id": call_id, "name": name, "input": args}

    def result(call_id: str, content: str, is_error: bool = False) -> dict[str, Any]:
        return {
            "type": "tool_result",
            "tool_use_id": call_id,
            "content": content,
            "is_error": is_error,
        }

    sent = body("anthropic")
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [
        {"role": "user", "content": "Weather in Paris and Tokyo, and the time?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "thinking",
                    "thinking": "Two weather lookups and the clock.",
                    "signature": THINKING_SIGNATURE,
                },
                {"type": "text", "text": "Let me look."},
                use("call_1", "get_weather", {"city": "Paris"}),
                use("call_2", "get_weather", {"city": "Tokyo"}),
                use("call_3", "get_time", {}),  # no arguments: an empty object
            ],
        },
        {
            "role": "user",  # all three results in one user message
            "content": [
                result("call_1", '{"temp_c": 18}'),
                result("call_2", ERROR_TEXT, is_error=True),
                result("call_3", "12:00"),
            ],
        },
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "And Rome?"},
    ]


def test_anthropic_user_words_after_results_join_their_turn() -> None:
    messages: list[Message] = [
        {"role": "user", "content": "time?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "t1", "name": "get_time", "arguments": "{}"}],
        },
        {"role": "tool", "tool_call_id": "t1", "name": "get_time", "content": "noon"},
        {"role": "user", "content": "Thanks, and tomorrow?"},
    ]
    sent = body("anthropic", messages)["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == [{"type": "tool_use", "id": "t1", "name": "get_time", "input": {}}]
    assert sent[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "noon", "is_error": False},
        {"type": "text", "text": "Thanks, and tomorrow?"},
    ]


def test_anthropic_thinking_without_signature_is_not_sent() -> None:
    messages: list[Message] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello.", "reasoning": "Greet back."},
        {"role": "user", "content": "bye"},
    ]
    assert body("anthropic", messages)["messages"][1] == {"role": "assistant", "content": "Hello."}


def test_gemini_conversation() -> None:
    sent = body("gemini")
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Tokyo, and the time?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Let me look."},
                {
                    "functionCall": {
                        "name": "get_weather",
                        "args": {"city": "Paris"},
                        "id": "call_1",
                    },
                    "thoughtSignature": GEMINI_SIGNATURE,  # echoed on the call's own part
                },
                {
                    "functionCall": {
                        "name": "get_weather",
                        "args": {"city": "Tokyo"},
                        "id": "call_2",
                    }
                },
                {"functionCall": {"name": "get_time", "args": {}, "id": "call_3"}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "id": "call_1",
                        "response": {"temp_c": 18},  # a JSON object result, as it is
                    }
                },
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "id": "call_2",
                        "response": {"error": ERROR_TEXT},
                    }
                },
                {
                    "functionResponse": {
                        "name": "get_time",
                        "id": "call_3",
                        "response": {"result": "12:00"},
                    }
                },
            ],
        },
        {"role": "model", "parts": [{"text": ANSWER}]},
        {"role": "user", "parts": [{"text": "And Rome?"}]},
    ]


def test_gemini_calls_without_ids_and_results_without_names() -> None:
    messages: list[Message] = [
        {"role": "user", "content": "country?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": None, "name": "get_country", "arguments": "{}"}],
        },
        {"role": "tool", "tool_call_id": None, "name": "get_country", "content": "[1, 2]"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "x9", "name": "get_city", "arguments": "not json"}],
        },
        {"role": "tool", "tool_call_id": "x9", "content": "Lyon"},
    ]
    contents = body("gemini", messages)["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "get_country", "args": {}}}],
    }
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_country", "response": {"result": "[1, 2]"}}}
    ]
    assert contents[3]["parts"] == [{"functionCall": {"name": "get_city", "args": {}, "id": "x9"}}]
    # The name comes from the call the result answers.
    assert contents[4]["parts"] == [
        {"functionResponse": {"name": "get_city", "id": "x9", "response": {"result": "Lyon"}}}
    ]


def test_ollama_conversation() -> None:
    def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"function": {"name": name, "arguments": args}}

    assert body("ollama")["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris and Tokyo, and the time?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                call("get_weather", {"city": "Paris"}),
                call("get_weather", {"city": "Tokyo"}),
                call("get_time", {}),
            ],
        },
        {"role": "tool", "content": '{"temp_c": 18}', "tool_name": "get_weather"},
        {"role": "tool", "content": ERROR_TEXT, "tool_name": "get_weather"},
        {"role": "tool", "content": "12:00", "tool_name": "get_time"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "And Rome?"},
    ]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_id_less_calls_get_ids_where_the_format_needs_them(provider: str) -> None:
    messages: list[Message] = [
        {"role": "user", "content": "two?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": None, "name": "get_time", "arguments": "{}"},
                {"id": None, "name": "get_time", "arguments": "{}"},
            ],
        },
        {"role": "tool", "tool_call_id": None, "name": "get_time", "content": "a"},
        {"role": "tool", "tool_call_id": None, "name": "get_time", "content": "b"},
    ]
    sent = json.dumps(body(provider, messages))
    assert '"call_1"' in sent
    assert '"call_2"' in sent
    assert "null" not in sent.replace('"content": null', "")
    filled = with_call_ids(messages)
    assert [c["id"] for c in filled[1]["tool_calls"]] == ["call_1", "call_2"]
    assert [m.get("tool_call_id") for m in filled[2:]] == ["call_1", "call_2"]
    assert with_call_ids(CONVERSATION) == CONVERSATION


# ---- output schemas ------------------------------------------------------------


@pytest.mark.parametrize(
    "provider", ["openai", "xai", "openrouter", "fireworks", "lmstudio", "vllm"]
)
def test_json_schema_response_format(provider: str) -> None:
    sent = body(provider, output=OutputSchema("forecast", CLOSED_SCHEMA))
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "forecast", "schema": CLOSED_SCHEMA, "strict": True},
    }
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


def test_strict_only_for_a_schema_strict_mode_accepts() -> None:
    fmt = body("openai", output=OutputSchema("note", OPEN_SCHEMA))["response_format"]
    assert fmt["json_schema"]["strict"] is False
    asked_not = OutputSchema("forecast", CLOSED_SCHEMA, strict=False)
    assert body("openai", output=asked_not)["response_format"]["json_schema"]["strict"] is False


def test_schema_name_is_made_wire_safe() -> None:
    fmt = body("openai", output=OutputSchema("My forecast!", CLOSED_SCHEMA))["response_format"]
    assert fmt["json_schema"]["name"] == "My_forecast_"
    assert wire_name("x" * 80) == "x" * 64
    assert wire_name("") == "output"


def test_json_object_fallback_puts_the_schema_in_the_system_prompt() -> None:
    output = OutputSchema("forecast", CLOSED_SCHEMA)
    sent = body("zai", output=output)
    assert sent["response_format"] == {"type": "json_object"}
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert system["content"] == f"Be brief.\n\n{schema_instruction(output)}"
    assert json.dumps(CLOSED_SCHEMA) in system["content"]
    assert "JSON" in system["content"]  # JSON mode wants the word in the prompt
    alone = body("zai", output=output, system=None)["messages"][0]
    assert alone == {"role": "system", "content": schema_instruction(output)}


def test_no_structured_output_asks_in_the_prompt_only() -> None:
    output = OutputSchema("forecast", CLOSED_SCHEMA)
    sent = body("minimax", output=output)
    assert "response_format" not in sent
    assert sent["messages"][0]["content"] == f"Be brief.\n\n{schema_instruction(output)}"
    assert sent["reasoning_split"] is True


def test_anthropic_output_config() -> None:
    sent = body("anthropic", output=OutputSchema("forecast", CLOSED_SCHEMA))
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": CLOSED_SCHEMA}}
    assert sent["system"] == "Be brief."
    assert "tool_choice" not in sent


def test_gemini_response_json_schema() -> None:
    sent = body("gemini", output=OutputSchema("forecast", CLOSED_SCHEMA), temperature=0.2)
    assert sent["generationConfig"] == {
        "temperature": 0.2,
        "responseMimeType": "application/json",
        "responseJsonSchema": CLOSED_SCHEMA,
    }


def test_ollama_format() -> None:
    output = OutputSchema("forecast", CLOSED_SCHEMA)
    sent = body("ollama", output=output)
    assert sent["format"] == CLOSED_SCHEMA
    assert sent["messages"][0]["content"] == f"Be brief.\n\n{schema_instruction(output)}"


@pytest.mark.parametrize(
    ("provider", "key"),
    [("openai", "response_format"), ("anthropic", "output_config"), ("ollama", "format")],
)
def test_extra_body_still_wins(provider: str, key: str) -> None:
    mine = {key: {"type": "text"}, "tools": []}
    sent = body(provider, output=OutputSchema("f", CLOSED_SCHEMA), extra_body=mine)
    assert sent[key] == {"type": "text"}
    assert sent["tools"] == []


# ---- the helpers ---------------------------------------------------------------


def test_strict_ready() -> None:
    assert strict_ready(CLOSED_SCHEMA)
    assert not strict_ready(OPEN_SCHEMA)
    assert not strict_ready({"type": "string"})  # the root must be an object
    inner_open = json.loads(json.dumps(CLOSED_SCHEMA))
    del inner_open["properties"]["days"]["items"]["additionalProperties"]
    assert not strict_ready(inner_open)
    with_defs = {
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/A"},
            "b": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]},
        },
        "required": ["a", "b"],
        "additionalProperties": False,
        "$defs": {"A": {"type": "object", "properties": {"x": {"type": "integer"}}}},
    }
    assert not strict_ready(with_defs)
    with_defs["$defs"]["A"].update(required=["x"], additionalProperties=False)
    assert strict_ready(with_defs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("", {}),
        ("   ", {}),
        ("{not json", {}),
        ("[1, 2]", {}),
        ("null", {}),
    ],
)
def test_arguments_object(text: str, expected: dict[str, Any]) -> None:
    assert arguments_object(text) == expected


def test_result_object() -> None:
    assert result_object('{"ok": true}', False) == {"ok": True}
    assert result_object("[1]", False) == {"result": "[1]"}
    assert result_object("plain", False) == {"result": "plain"}
    assert result_object('{"ok": true}', True) == {"error": '{"ok": true}'}


# ---- decoding the new events -----------------------------------------------------


def test_anthropic_signature_delta_is_a_reasoning_signature() -> None:
    adapter = AnthropicAdapter()
    state = adapter.new_state()
    frame = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "abc"},
    }
    events = adapter.decode(SSEEvent("content_block_delta", json.dumps(frame), None, None), state)
    assert events == [ReasoningSignature("abc")]


def test_anthropic_whole_message_keeps_the_signature() -> None:
    adapter = AnthropicAdapter()
    message = {
        "type": "message",
        "content": [
            {"type": "thinking", "thinking": "hm", "signature": "sig"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        ],
        "stop_reason": "tool_use",
    }
    events = adapter.decode_body(message, adapter.new_state())
    assert events[:3] == [
        ReasoningDelta("hm"),
        ReasoningSignature("sig"),
        ToolCallDelta(1, "t", "f", "{}"),
    ]


def test_gemini_calls_in_one_chunk_are_separate_calls() -> None:
    adapter = GeminiAdapter()
    chunk = {
        "candidates": [
            {
                "index": 0,
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "ok"},
                        {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "s1"},
                        {"functionCall": {"name": "b", "args": {}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2},
    }
    events = adapter.decode_body(chunk, adapter.new_state())
    assert events[:3] == [
        TextDelta("ok"),
        ToolCallDelta(0, None, "a", '{"x":1}', "s1"),
        ToolCallDelta(1, None, "b", "{}"),
    ]


def test_ollama_calls_across_lines_are_separate_calls() -> None:
    adapter = OllamaAdapter()
    state = adapter.new_state()
    line = {
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c7", "function": {"name": "f", "arguments": {"q": "é"}}}],
        },
        "done": False,
    }
    first = adapter.decode(json.dumps(line), state)
    second = adapter.decode(json.dumps(line), state)
    assert first == [ToolCallDelta(0, "c7", "f", '{"q":"\\u00e9"}')]
    assert second == [ToolCallDelta(1, "c7", "f", '{"q":"\\u00e9"}')]


def test_ollama_result_without_a_name_takes_its_calls() -> None:
    messages: list[Message] = [
        {"role": "user", "content": "time?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "get_time", "arguments": "{}"}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "noon"},
    ]
    sent = body("ollama", messages, system=None)["messages"]
    assert sent[2] == {"role": "tool", "content": "noon", "tool_name": "get_time"}
