"""The official SDKs as witnesses: every request body the adapters build for tools, tool
results and output schemas is checked against the SDK's own request types, closed to
unknown keys, so a misspelt or misplaced field fails here.

- OpenAI and Anthropic: the ``...CreateParamsStreaming`` TypedDicts, through pydantic
  with every TypedDict made to forbid extra keys (and iterables read as lists, which
  pydantic would otherwise check only lazily).
- Gemini: the body is rebuilt from google-genai's pydantic types (which forbid extra
  keys) and turned back into REST JSON by the SDK's own converter; it must come out
  exactly as the adapter built it.
- Ollama: ``ChatRequest``, ``Message`` and ``Tool``, whose models ignore extra keys, so
  every key is looked up among their fields; a message must also survive the SDK's own
  round trip unchanged.
"""

from __future__ import annotations

import base64
import copy
import json
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter
from pydantic_core import SchemaValidator, ValidationError

from ipyllm._types import Message, OutputSchema
from tool_conversation import CLOSED_SCHEMA, CONVERSATION, OPEN_SCHEMA, body

OPENAI_STYLE = ["openai", "xai", "openrouter", "fireworks", "lmstudio", "vllm", "minimax", "zai"]
OUTPUTS = [
    None,
    OutputSchema("forecast", CLOSED_SCHEMA),
    OutputSchema("note", OPEN_SCHEMA, strict=False),
]
# Round one only (ending in the tool results), both rounds, and a plain chat.
CONVERSATIONS: list[list[Message]] = [
    CONVERSATION[:5],
    CONVERSATION,
    [{"role": "user", "content": "hi"}],
]


def _close(node: Any) -> None:
    """Make a pydantic core schema refuse unknown TypedDict keys and read iterables whole."""
    if isinstance(node, dict):
        if node.get("type") == "generator":
            node["type"] = "list"
        if node.get("type") == "typed-dict":
            node["extra_behavior"] = "forbid"
        for value in node.values():
            _close(value)
    elif isinstance(node, list):
        for value in node:
            _close(value)


def closed_validator(typed_dict: Any) -> SchemaValidator:
    """A validator for ``typed_dict`` that refuses keys it does not declare, at any depth."""
    schema = copy.deepcopy(TypeAdapter(typed_dict).core_schema)
    _close(schema)
    return SchemaValidator(schema)


# ---- OpenAI ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def openai_params() -> SchemaValidator:
    from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming

    return closed_validator(CompletionCreateParamsStreaming)


@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o and o.name)
@pytest.mark.parametrize("messages", CONVERSATIONS, ids=["round1", "round2", "plain"])
@pytest.mark.parametrize("provider", OPENAI_STYLE)
def test_openai_style_bodies_are_completion_params(
    openai_params: SchemaValidator,
    provider: str,
    messages: list[Message],
    output: OutputSchema | None,
) -> None:
    sent = body(provider, messages, output=output, temperature=0.3, max_tokens=100)
    sent = {k: v for k, v in sent.items() if k != "reasoning_split"}  # MiniMax's own knob
    openai_params.validate_python(sent)


def test_openai_witness_catches_a_misspelt_field(openai_params: SchemaValidator) -> None:
    sent = body("openai")
    sent["messages"][3]["tool_call"] = sent["messages"][3].pop("tool_call_id")
    with pytest.raises(ValidationError):
        openai_params.validate_python(sent)
    sent = body("openai", output=OutputSchema("f", CLOSED_SCHEMA))
    sent["response_format"]["jsonschema"] = sent["response_format"].pop("json_schema")
    with pytest.raises(ValidationError):
        openai_params.validate_python(sent)


# ---- Anthropic -------------------------------------------------------------------


@pytest.fixture(scope="module")
def anthropic_params() -> SchemaValidator:
    from anthropic.types.message_create_params import MessageCreateParamsStreaming

    return closed_validator(MessageCreateParamsStreaming)


@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o and o.name)
@pytest.mark.parametrize("messages", CONVERSATIONS, ids=["round1", "round2", "plain"])
def test_anthropic_bodies_are_message_params(
    anthropic_params: SchemaValidator, messages: list[Message], output: OutputSchema | None
) -> None:
    # No temperature: anthropic 2.14's MessageCreateParams has none (nor top_p, top_k).
    sent = body("anthropic", messages, output=output, max_tokens=100)
    checked = anthropic_params.validate_python(sent)
    assert checked["messages"] == sent["messages"]


def test_anthropic_witness_catches_a_misspelt_field(anthropic_params: SchemaValidator) -> None:
    sent = body("anthropic")
    sent["messages"][2]["content"][0]["tool_id"] = sent["messages"][2]["content"][0].pop(
        "tool_use_id"
    )
    with pytest.raises(ValidationError):
        anthropic_params.validate_python(sent)
    sent = body("anthropic", output=OutputSchema("f", CLOSED_SCHEMA))
    sent["output_format"] = sent.pop("output_config")
    with pytest.raises(ValidationError):
        anthropic_params.validate_python(sent)


# ---- Gemini ----------------------------------------------------------------------


def gemini_round_trip(sent: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``sent`` read into google-genai's types and written back by the SDK's converter
    (what ``generate_content`` would send for them)."""
    from google import genai
    from google.genai import _common, models
    from google.genai import types as gt

    for var in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"):
        monkeypatch.delenv(var, raising=False)
    # camelCase JSON, as the REST API takes it (model_validate_json reads bytes as base64).
    config: dict[str, Any] = dict(sent.get("generationConfig") or {})
    for key in ("systemInstruction", "tools"):
        if key in sent:
            config[key] = sent[key]
    unknown = set(sent) - {"contents", "generationConfig", "systemInstruction", "tools"}
    assert not unknown, f"keys google-genai does not send: {unknown}"
    params = gt._GenerateContentParameters(
        model="model-x",
        contents=[gt.Content.model_validate_json(json.dumps(c)) for c in sent["contents"]],
        config=gt.GenerateContentConfig.model_validate_json(json.dumps(config)),
    )
    client = genai.Client(api_key="test-key")  # builds no connection
    rest = models._GenerateContentParameters_to_mldev(client._api_client, params, None, params)
    rest.pop("_url", None)
    rest.pop("config", None)
    rest = _common.encode_unserializable_types(_common.convert_to_dict(rest))
    if rest.get("generationConfig") == {}:
        del rest["generationConfig"]
    return rest


def camel_keys(value: Any) -> Any:
    """``value`` with every key in lowerCamelCase and signatures as bytes. The SDK
    writes some nested fields in snake_case (``parameters_json_schema``) and bytes in
    URL-safe base64; the API's proto JSON reads either spelling of both, so the two
    bodies are compared with both sides spelt alike."""
    from pydantic.alias_generators import to_camel

    if isinstance(value, dict):
        return {
            to_camel(k): _signature_bytes(v) if to_camel(k) == "thoughtSignature" else camel_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o and o.name)
@pytest.mark.parametrize("messages", CONVERSATIONS, ids=["round1", "round2", "plain"])
def test_gemini_bodies_are_what_google_genai_sends(
    monkeypatch: pytest.MonkeyPatch, messages: list[Message], output: OutputSchema | None
) -> None:
    sent = body("gemini", messages, output=output, temperature=0.3, max_tokens=100)
    assert camel_keys(gemini_round_trip(sent, monkeypatch)) == camel_keys(sent)


def test_gemini_witness_catches_a_misspelt_field(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = body("gemini")
    part = sent["contents"][1]["parts"][1]
    part["thought_signature"] = part.pop("thoughtSignature")
    part["thoughtSignatures"] = part.pop("thought_signature")
    with pytest.raises(ValidationError):
        gemini_round_trip(sent, monkeypatch)
    sent = body("gemini")
    sent["tools"][0]["functionDeclarations"][0]["parameterJsonSchema"] = sent["tools"][0][
        "functionDeclarations"
    ][0].pop("parametersJsonSchema")
    with pytest.raises(ValidationError):
        gemini_round_trip(sent, monkeypatch)


def _signature_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))


# ---- Ollama ----------------------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (through Optional, lists, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return []
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def check_keys(data: Any, model: type[BaseModel], open_models: tuple[type, ...]) -> None:
    """Every key of ``data``, at any depth, is a field of ``model`` (or of the model the
    field holds); ``open_models`` (JSON Schema in a model's clothes) are not looked into."""
    if model in open_models or not isinstance(data, dict):
        return
    fields = {**model.model_fields, **{f.alias: f for f in model.model_fields.values() if f.alias}}
    unknown = set(data) - set(fields)
    assert not unknown, f"{model.__qualname__} has no field {unknown}"
    for key, value in data.items():
        for sub in _models_in(fields[key].annotation):
            for item in value if isinstance(value, list) else [value]:
                check_keys(item, sub, open_models)


@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o and o.name)
@pytest.mark.parametrize("messages", CONVERSATIONS, ids=["round1", "round2", "plain"])
def test_ollama_bodies_are_chat_requests(
    messages: list[Message], output: OutputSchema | None
) -> None:
    from ollama._types import ChatRequest, Tool
    from ollama._types import Message as OllamaMessage

    parameters = Tool.Function.Parameters
    open_models = (parameters, parameters.Property)
    sent = body("ollama", messages, output=output, temperature=0.3, max_tokens=100)
    ChatRequest.model_validate(sent)
    check_keys(sent, ChatRequest, open_models)
    for message in sent["messages"]:
        check_keys(message, OllamaMessage, open_models)
        parsed = OllamaMessage.model_validate(message)
        assert parsed.model_dump(exclude_none=True) == message
    for tool in sent.get("tools", ()):
        check_keys(tool, Tool, open_models)


def test_ollama_witness_catches_a_misspelt_field() -> None:
    from ollama._types import ChatRequest
    from ollama._types import Message as OllamaMessage

    sent = body("ollama")
    sent["messages"][3]["toolname"] = sent["messages"][3].pop("tool_name")
    with pytest.raises(AssertionError):
        check_keys(sent["messages"][3], OllamaMessage, ())
    sent = body("ollama")
    sent["messages"][2]["tool_calls"][0]["function"]["args"] = {}
    with pytest.raises(AssertionError):
        check_keys(sent["messages"][2], OllamaMessage, ())
    with pytest.raises(AssertionError):
        check_keys({**body("ollama"), "fromat": {}}, ChatRequest, ())
