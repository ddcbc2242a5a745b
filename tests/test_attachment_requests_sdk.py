"""The official SDKs as witnesses for attachments: request bodies holding images (bytes
and URLs), PDFs and text files are checked against each SDK's own request types, as
tests/test_tool_requests_sdk.py does for tools."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic_core import SchemaValidator

import ipyllm
from attachment_samples import NOTES, TINY_PDF, figure
from ipyllm._attachments import to_attachment
from ipyllm._types import Attachment, Message
from test_tool_requests_sdk import (
    OPENAI_STYLE,
    camel_keys,
    check_keys,
    closed_validator,
    gemini_round_trip,
)
from tool_conversation import SPECS, body


def conversation(kinds: frozenset[str], urls: bool = False) -> list[Message]:
    """Two prompts with attachments of ``kinds`` (an image URL too, if ``urls``)."""
    first: list[Attachment] = [to_attachment(figure())] if "image" in kinds else []
    if "pdf" in kinds:
        first.append(ipyllm.File(TINY_PDF).attachment)
    if "text" in kinds:
        first.append(ipyllm.File(NOTES.encode(), mime="text/plain").attachment)
    second = [ipyllm.Image("https://example.com/a.png").attachment] if urls else first[-1:]
    return [
        {"role": "user", "content": "What does this show?", "attachments": first},
        {"role": "assistant", "content": "Sales rising."},
        {"role": "user", "content": "And this?", "attachments": second},
    ]


def _messages(provider: str) -> list[Message]:
    spec = SPECS[provider]
    return conversation(frozenset(spec.attachments), spec.attachment_urls)


@pytest.fixture(scope="module")
def openai_params() -> SchemaValidator:
    from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming

    return closed_validator(CompletionCreateParamsStreaming)


@pytest.mark.parametrize("provider", OPENAI_STYLE)
def test_openai_style_attachment_bodies_are_completion_params(
    openai_params: SchemaValidator, provider: str
) -> None:
    sent = body(provider, _messages(provider), tools=())
    sent = {k: v for k, v in sent.items() if k != "reasoning_split"}  # MiniMax's own knob
    openai_params.validate_python(sent)


def test_the_openai_witness_catches_a_misplaced_field(openai_params: SchemaValidator) -> None:
    sent = body("openai", _messages("openai"), tools=())
    part = sent["messages"][1]["content"][1]
    part["file"]["data"] = part["file"].pop("file_data")
    with pytest.raises(ValueError, match="data"):
        openai_params.validate_python(sent)


@pytest.fixture(scope="module")
def anthropic_params() -> SchemaValidator:
    from anthropic.types.message_create_params import MessageCreateParamsStreaming

    return closed_validator(MessageCreateParamsStreaming)


def test_anthropic_attachment_bodies_are_message_params(anthropic_params: SchemaValidator) -> None:
    sent = body("anthropic", _messages("anthropic"), tools=(), max_tokens=100)
    checked = anthropic_params.validate_python(sent)
    assert checked["messages"] == sent["messages"]
    blocks = sent["messages"][0]["content"]
    assert [b["type"] for b in blocks] == ["image", "document", "document", "text"]


def test_the_anthropic_witness_catches_a_wrong_source(anthropic_params: SchemaValidator) -> None:
    sent = body("anthropic", _messages("anthropic"), tools=(), max_tokens=100)
    sent["messages"][0]["content"][2]["source"]["media_type"] = "text/markdown"
    with pytest.raises(ValueError, match="media_type"):
        anthropic_params.validate_python(sent)


def test_gemini_attachment_bodies_are_what_google_genai_sends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent = body("gemini", _messages("gemini"), tools=())
    rest = gemini_round_trip(sent, monkeypatch)
    assert _data_bytes(camel_keys(rest)) == _data_bytes(camel_keys(sent))


def _data_bytes(value: Any) -> Any:
    """``value`` with inlineData's base64 read as bytes: the SDK writes it URL-safe, and
    the API reads either alphabet."""
    if isinstance(value, dict):
        if set(value) == {"mimeType", "data"}:
            data = str(value["data"]).replace("-", "+").replace("_", "/")
            return {**value, "data": base64.b64decode(data)}
        return {k: _data_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_data_bytes(v) for v in value]
    return value


def test_ollama_attachment_bodies_are_chat_requests() -> None:
    from ollama._types import ChatRequest, Image
    from ollama._types import Message as OllamaMessage

    sent: dict[str, Any] = body("ollama", _messages("ollama"), tools=())
    check_keys(sent, ChatRequest, ())
    for message in sent["messages"]:
        check_keys(message, OllamaMessage, ())
        # The client wraps each image in its Image type (ollama._client._copy_messages),
        # which serialises to the base64 text we send.
        images = [Image(value=i) for i in message.get("images", ())]
        parsed = OllamaMessage.model_validate({**message, "images": images or None})
        assert parsed.model_dump(exclude_none=True) == message
    assert len(sent["messages"][1]["images"]) == 1
