"""Blocked and filtered answers, through a real loopback server: they end with
``finish_reason="content_filter"`` and the provider's reason on ``filter_reason``; a block
before any text raises :class:`ipyllm.ContentFilterError`, which is never retried."""

from __future__ import annotations

import json
from typing import Any

import pytest

import ipyllm
from ipyllm.testing import FakeLLMServer, Reply

KEY = "test-key-0123456789abcdef"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def session(fake: FakeLLMServer, provider: str, **kwargs: Any) -> ipyllm.Session:
    return ipyllm.Session(
        f"{provider}:test-model", api_key=KEY, base_url=fake.base_url(provider), **kwargs
    )


def blocked(fake: FakeLLMServer, provider: str, reply: Reply) -> ipyllm.ContentFilterError:
    """Serve ``reply`` (then a good answer, should the client retry) and return the error."""
    fake.add_reply(reply)
    fake.add_reply(Reply("A retry was answered."))
    with pytest.raises(ipyllm.ContentFilterError) as caught:
        session(fake, provider, max_retries=2).ask("Something forbidden")
    assert len(fake.requests) == 1  # never retried
    return caught.value


def gemini_sse(*frames: dict[str, Any]) -> bytes:
    return b"".join(f"data: {json.dumps(frame)}\r\n\r\n".encode() for frame in frames)


def gemini_frame(text: str, finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
        candidate["safetyRatings"] = [
            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}
        ]
    usage = {"promptTokenCount": 8, "candidatesTokenCount": 2}
    return {"candidates": [candidate], "usageMetadata": usage}


def openai_sse(*frames: dict[str, Any]) -> bytes:
    body = b"".join(f"data: {json.dumps(frame)}\n\n".encode() for frame in frames)
    return body + b"data: [DONE]\n\n"


def openai_chunk(content: str | None, finish: str | None = None, **choice: Any) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, **choice}]}


def test_the_error_is_public_and_a_bad_request() -> None:
    assert "ContentFilterError" in ipyllm.__all__
    assert issubclass(ipyllm.ContentFilterError, ipyllm.BadRequestError)
    assert ipyllm.ContentFilterError.__module__.startswith("ipyllm")


def test_a_gemini_prompt_block_with_200_and_no_candidates(fake: FakeLLMServer) -> None:
    frame = {
        "promptFeedback": {
            "blockReason": "PROHIBITED_CONTENT",
            "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "LOW"}],
        },
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash",
    }
    err = blocked(fake, "gemini", Reply(body=gemini_sse(frame), headers=SSE))
    assert "PROHIBITED_CONTENT" in str(err)
    assert "rephrase the prompt" in str(err)
    assert "connection may have been cut" not in str(err)
    assert err.partial == ""
    assert err.response is not None
    assert err.response.finish_reason == "content_filter"
    assert err.response.filter_reason == "PROHIBITED_CONTENT"
    assert err.response.tokens_in == 8


def test_a_gemini_prompt_block_as_a_whole_json_body(fake: FakeLLMServer) -> None:
    body = json.dumps({"promptFeedback": {"blockReason": "SAFETY"}}).encode()
    err = blocked(fake, "gemini", Reply(body=body, headers=JSON))
    assert err.response is not None
    assert err.response.filter_reason == "SAFETY"


@pytest.mark.parametrize(
    "reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"]
)
def test_a_gemini_filter_before_any_text_raises(fake: FakeLLMServer, reason: str) -> None:
    err = blocked(fake, "gemini", Reply(body=gemini_sse(gemini_frame("", reason)), headers=SSE))
    assert f"({reason})" in str(err)
    assert err.response is not None
    assert (err.response.finish_reason, err.response.filter_reason) == ("content_filter", reason)


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION"])
def test_a_gemini_filter_after_some_text_keeps_the_text(fake: FakeLLMServer, reason: str) -> None:
    body = gemini_sse(gemini_frame("The first part"), gemini_frame(" and then", reason))
    fake.add_reply(Reply(body=body, headers=SSE))
    s = session(fake, "gemini")
    response = s.ask("Tell me")
    assert response.text == "The first part and then"
    assert response.finish_reason == "content_filter"
    assert response.filter_reason == reason
    assert s.messages[-1]["content"] == "The first part and then"


def test_other_gemini_finish_reasons_are_kept_as_they_are(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(body=gemini_sse(gemini_frame("Cut", "MAX_TOKENS")), headers=SSE))
    response = session(fake, "gemini").ask("Tell me")
    assert (response.finish_reason, response.filter_reason) == ("MAX_TOKENS", None)


def test_openai_content_filter_after_text(fake: FakeLLMServer) -> None:
    body = openai_sse(openai_chunk("Partly"), openai_chunk(None, "content_filter"))
    fake.add_reply(Reply(body=body, headers=SSE))
    response = session(fake, "openai").ask("Tell me")
    assert response.text == "Partly"
    assert (response.finish_reason, response.filter_reason) == ("content_filter", "content_filter")


def test_openai_content_filter_before_text_names_azure_categories(fake: FakeLLMServer) -> None:
    results = {
        "hate": {"filtered": True, "severity": "high"},
        "violence": {"filtered": False, "severity": "safe"},
    }
    body = openai_sse(openai_chunk(None, "content_filter", content_filter_results=results))
    err = blocked(fake, "openai", Reply(body=body, headers=SSE))
    assert err.response is not None
    assert err.response.filter_reason == "content_filter: hate"
    assert "(content_filter: hate)" in str(err)


def test_a_400_with_code_content_filter_is_a_content_filter_error(fake: FakeLLMServer) -> None:
    # Azure OpenAI refuses a filtered prompt with 400 and code "content_filter".
    error = {
        "message": "The response was filtered due to the prompt triggering the content "
        "management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
    }
    body = json.dumps({"error": error}).encode()
    err = blocked(fake, "openai", Reply(status=400, body=body, headers=JSON))
    assert err.status == 400
    assert "content management policy" in str(err)
    assert "Rephrase the prompt" in str(err)


def test_anthropic_refusal_stop_reason_is_a_filter(fake: FakeLLMServer) -> None:
    events = [
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 5}}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "refusal"},
                           "usage": {"output_tokens": 0}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    body = b"".join(f"event: {n}\ndata: {json.dumps(o)}\n\n".encode() for n, o in events)
    err = blocked(fake, "anthropic", Reply(body=body, headers=SSE))
    assert err.response is not None
    assert (err.response.finish_reason, err.response.filter_reason) == ("content_filter", "refusal")


def test_minimax_output_sensitive_mid_stream_keeps_the_partial(fake: FakeLLMServer) -> None:
    frames = [
        openai_chunk("Here is"),
        {"choices": None, "base_resp": {"status_code": 1027, "status_msg": "output new_sensitive"}},
    ]
    fake.add_reply(Reply(body=openai_sse(*frames), headers=SSE))
    fake.add_reply(Reply("A retry was answered."))
    with pytest.raises(ipyllm.ContentFilterError) as caught:
        session(fake, "minimax", max_retries=2).ask("Tell me")
    assert caught.value.mid_stream
    assert caught.value.partial == "Here is"
    assert "output new_sensitive" in str(caught.value)
    assert len(fake.requests) == 1
