"""Error messages stay readable and bounded, whatever the server sends: the provider's
words are clipped to about 2,000 characters in the message, and ``.body`` keeps at most
64 KiB of what it sent. Through a real loopback server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import ipyllm
from ipyllm.testing import FakeLLMServer, Reply

KEY = "test-key-0123456789abcdef"
MESSAGE_MAX = 2_500  # ~2,000 characters of the provider's words, plus ours
BODY_MAX = 64 * 1024


def ask_error(fake: FakeLLMServer, provider: str, reply: Reply) -> ipyllm.LLMError:
    fake.add_reply(reply)
    s = ipyllm.Session(
        f"{provider}:test-model", api_key=KEY, base_url=fake.base_url(provider), max_retries=0
    )
    with pytest.raises(ipyllm.LLMError) as caught:
        s.ask("Hello")
    return caught.value


def body_size(body: Any) -> int:
    return len(body if isinstance(body, str) else json.dumps(body))


def test_a_50_mb_error_message_is_clipped(fake: FakeLLMServer) -> None:
    words = "The request is far too long. " + "x" * (50 * 1024 * 1024)
    raw = json.dumps({"error": {"message": words, "type": "invalid_request_error"}}).encode()
    started = time.monotonic()
    err = ask_error(fake, "openai", Reply(status=400, body=raw))
    assert time.monotonic() - started < 5  # the rest of the body is never read
    assert type(err) is ipyllm.BadRequestError
    assert len(str(err)) < MESSAGE_MAX
    assert "The request is far too long. xxx" in str(err)
    assert "[cut at 2,000 characters; .body has more]" in str(err)
    assert "Check the model name" in str(err)  # the fix survives the clipping
    assert body_size(err.body) <= BODY_MAX
    assert err.body.startswith('{"error": {"message": "The request is far too long.')


def test_a_long_message_under_the_body_limit_stays_whole_on_body(fake: FakeLLMServer) -> None:
    words = "word " * 2_000  # 10,000 characters
    raw = json.dumps({"error": {"message": words, "code": "invalid_value"}}).encode()
    err = ask_error(fake, "openai", Reply(status=422, body=raw))
    assert type(err) is ipyllm.BadRequestError
    assert len(str(err)) < MESSAGE_MAX
    assert err.body == {"error": {"message": words, "code": "invalid_value"}}


def test_a_huge_error_event_mid_stream_is_clipped(fake: FakeLLMServer) -> None:
    words = "y" * (1024 * 1024)
    frames = [
        {"choices": [{"index": 0, "delta": {"content": "Partial"}}]},
        {"error": {"code": 500, "message": words}},
    ]
    body = b"".join(f"data: {json.dumps(f)}\n\n".encode() for f in frames)
    err = ask_error(
        fake, "openrouter", Reply(body=body, headers={"content-type": "text/event-stream"})
    )
    assert type(err) is ipyllm.ServerError
    assert err.partial == "Partial"
    assert len(str(err)) < MESSAGE_MAX
    assert body_size(err.body) <= BODY_MAX


def test_a_huge_non_json_error_body_is_clipped(fake: FakeLLMServer) -> None:
    err = ask_error(fake, "anthropic", Reply(status=500, body=b"z" * (3 * 1024 * 1024)))
    assert type(err) is ipyllm.ServerError
    assert len(str(err)) < MESSAGE_MAX
    assert body_size(err.body) <= BODY_MAX
