"""What each provider puts on the wire: path, auth header, body."""

from __future__ import annotations

from typing import Any

import pytest

import ipyllm
from ipyllm.testing import FakeLLMServer, Reply

KEY = "test-key-abcdefghijklmnop"

# provider -> (path the request must hit, auth header name, auth header value)
OPENAI_STYLE = ["openai", "xai", "openrouter", "fireworks", "lmstudio", "vllm", "minimax", "zai"]


def _ask(fake: FakeLLMServer, provider: str, **session: Any) -> dict[str, Any]:
    fake.add_reply(Reply("Earlier answer"))
    fake.add_reply(Reply("Sure."))
    s = ipyllm.Session(
        f"{provider}:model-x",
        api_key=KEY,
        base_url=fake.base_url(provider),
        max_retries=0,
        **session,
    )
    s.ask("Earlier question")
    assert s.ask("Now this", temperature=0.5, max_tokens=64).text == "Sure."
    request = fake.requests[-1]
    return {"path": request.path, "query": request.query, "headers": request.headers,
            "json": request.json}  # fmt: skip


@pytest.mark.parametrize("provider", OPENAI_STYLE)
def test_openai_style_request(fake: FakeLLMServer, provider: str) -> None:
    sent = _ask(fake, provider, system="Be brief.")
    base_path = "/api/paas/v4" if provider == "zai" else "/v1"
    assert sent["path"] == f"{base_path}/chat/completions"
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    body = sent["json"]
    assert body["model"] == "model-x"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.5
    max_field = "max_completion_tokens" if provider == "openai" else "max_tokens"
    assert body[max_field] == 64
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Earlier question"},
        {"role": "assistant", "content": "Earlier answer"},
        {"role": "user", "content": "Now this"},
    ]
    if provider == "minimax":
        assert body["reasoning_split"] is True


def test_anthropic_request(fake: FakeLLMServer) -> None:
    sent = _ask(fake, "anthropic", system="Be brief.")
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == KEY
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent["headers"]
    body = sent["json"]
    assert body["stream"] is True
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.5
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_anthropic_sends_a_default_max_tokens(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply("ok"))
    ipyllm.Session("anthropic:m", api_key=KEY, base_url=fake.base_url("anthropic")).ask("hi")
    assert fake.requests[-1].json["max_tokens"] > 0


def test_gemini_request_keeps_the_key_out_of_the_url(fake: FakeLLMServer) -> None:
    sent = _ask(fake, "gemini", system="Be brief.")
    assert sent["path"] == "/v1beta/models/model-x:streamGenerateContent"
    assert sent["query"] == {"alt": "sse"}
    assert sent["headers"]["x-goog-api-key"] == KEY
    assert KEY not in sent["path"]
    assert KEY not in str(sent["query"])
    body = sent["json"]
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][-1]["parts"] == [{"text": "Now this"}]
    assert body["generationConfig"] == {"temperature": 0.5, "maxOutputTokens": 64}


def test_ollama_request(fake: FakeLLMServer) -> None:
    sent = _ask(fake, "ollama", system="Be brief.")
    assert sent["path"] == "/api/chat"
    body = sent["json"]
    assert body["stream"] is True
    assert body["options"] == {"temperature": 0.5, "num_predict": 64}
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_local_providers_need_no_key(fake: FakeLLMServer) -> None:
    for provider in ("ollama", "lmstudio", "vllm"):
        fake.add_reply(Reply("local answer"))
        s = ipyllm.Session(f"{provider}:m", base_url=fake.base_url(provider))
        assert s.ask("hi").text == "local answer"
        assert "authorization" not in fake.requests[-1].headers


def test_openai_compatible_endpoint(fake: FakeLLMServer) -> None:
    ipyllm.register_endpoint("mylocal", fake.base_url("openai"), models=["tiny"])
    fake.add_reply(Reply("from my endpoint"))
    assert ipyllm.Session("mylocal:tiny").ask("hi").text == "from my endpoint"
    assert fake.requests[-1].path == "/v1/chat/completions"
    assert fake.requests[-1].json["model"] == "tiny"


def test_configure_headers_are_sent(fake: FakeLLMServer) -> None:
    ipyllm.register_endpoint("withheaders", fake.base_url("openai"))
    ipyllm.configure("withheaders", headers={"X-Team": "science"})
    fake.add_reply(Reply("ok"))
    ipyllm.Session("withheaders:m").ask("hi")
    assert fake.requests[-1].headers["x-team"] == "science"


def test_server_rejecting_stream_options_is_asked_again_without(fake: FakeLLMServer) -> None:
    ipyllm.register_endpoint("strict", fake.base_url("openai"))
    fake.add_reply(status=422, error_message="extra field not permitted: stream_options")
    fake.add_reply(Reply("fine without usage"))
    s = ipyllm.Session("strict:m", max_retries=0)
    assert s.ask("hi").text == "fine without usage"
    assert "stream_options" in fake.requests[0].json
    assert "stream_options" not in fake.requests[1].json
    fake.add_reply(Reply("still fine"))
    s.ask("again")
    assert "stream_options" not in fake.requests[2].json  # remembered


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "ollama"])
def test_list_models_and_validate(fake: FakeLLMServer, provider: str) -> None:
    fake.models = ["alpha-1", "beta-2"]
    p = ipyllm.get_provider(provider, api_key=KEY, base_url=fake.base_url(provider))
    import asyncio

    assert asyncio.run(p.list_models()) == ["alpha-1", "beta-2"]
    assert asyncio.run(p.validate()) is True


def test_validate_false_on_a_rejected_key(fake: FakeLLMServer) -> None:
    import asyncio

    fake.api_key = "the-right-key-123456"
    try:
        good = ipyllm.get_provider("openai", api_key="the-right-key-123456",
                                   base_url=fake.base_url("openai"))  # fmt: skip
        bad = ipyllm.get_provider("openai", api_key="a-wrong-key-1234567",
                                  base_url=fake.base_url("openai"))  # fmt: skip
        assert asyncio.run(good.validate()) is True
        assert asyncio.run(bad.validate()) is False
        # Z.AI has no model list: validation probes auth without generating anything.
        zai_bad = ipyllm.get_provider("zai", api_key="a-wrong-key-1234567",
                                      base_url=fake.base_url("zai"))  # fmt: skip
        assert asyncio.run(zai_bad.validate()) is False
        assert fake.requests[-1].json["messages"] == []
    finally:
        fake.api_key = None
