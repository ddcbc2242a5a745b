"""The fake server answers where and how the real APIs do: Gemini's models under ``/v1/``
(google-genai's default) as well as ``/v1beta/``, told apart from OpenAI's ``/v1/models``
by Gemini's own headers; and Ollama's JSON written as Go's ``encoding/json`` writes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipyllm.testing import DEFAULT_MODELS, FakeLLMServer, Reply
from ipyllm.testing._render import Call, go_json, render

KEY = "gk-routes-0123456789"
ODD = "a<b>c&d\u2028e\u2029f é 🎉"
ODD_REASONING = "think <x> & \u2028y"
# What Go's json.Marshal writes for ODD: only these five characters are escaped.
ODD_GO = '"a\\u003cb\\u003ec\\u0026d\\u2028e\\u2029f é 🎉"'


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


@pytest.fixture
def keyed() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key=KEY, idle_timeout=60) as server:
        yield server


# ---- Gemini under /v1/ and /v1beta/ --------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_gemini_models_under_each_version_keyed(
    keyed: FakeLLMServer, client: httpx.Client, version: str
) -> None:
    base = f"{keyed.url}/{version}/models"
    by_header = client.get(base, headers={"x-goog-api-key": KEY})
    assert by_header.status_code == 200
    assert [m["name"] for m in by_header.json()["models"]] == [
        f"models/{m}" for m in DEFAULT_MODELS
    ]
    assert client.get(base, params={"key": KEY}).json() == by_header.json()
    one = client.get(f"{base}/gemini-2.5-flash", headers={"x-goog-api-key": KEY})
    assert one.json()["name"] == "models/gemini-2.5-flash"
    assert "generateContent" in one.json()["supportedGenerationMethods"]
    missing = client.get(f"{base}/nope", headers={"x-goog-api-key": KEY})
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == "NOT_FOUND"
    # The same rejection as a completion gets: Gemini answers a bad key with 400.
    for bad in (
        client.get(base, headers={"x-goog-api-key": "wrong"}),
        client.get(f"{base}/gemini-2.5-flash", params={"key": "wrong"}),
        client.post(f"{base}/g:generateContent", json={}, headers={"x-goog-api-key": "wrong"}),
    ):
        assert bad.status_code == 400
        assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    good = client.post(
        f"{base}/g:streamGenerateContent", params={"alt": "sse"}, headers={"x-goog-api-key": KEY}
    )
    assert good.status_code == 200
    assert good.headers["content-type"].startswith("text/event-stream")


def test_gemini_models_unkeyed(client: httpx.Client) -> None:
    with FakeLLMServer(idle_timeout=60) as server:
        sdk = {"x-goog-api-client": "google-genai-sdk/3 gl-python/3.11"}
        for version in ("v1", "v1beta"):
            listed = client.get(f"{server.url}/{version}/models", headers=sdk).json()
            assert listed["models"][0]["name"] == "models/fake-model"
        # v1beta is Gemini's alone, with or without its headers.
        assert "models" in client.get(f"{server.url}/v1beta/models").json()


def test_v1_models_stays_openai_and_anthropic_without_gemini_marks(
    keyed: FakeLLMServer, client: httpx.Client
) -> None:
    for auth in ({"authorization": f"Bearer {KEY}"}, {"x-api-key": KEY}):
        listed = client.get(f"{keyed.url}/v1/models", headers=auth)
        assert listed.status_code == 200
        assert [m["id"] for m in listed.json()["data"]] == list(DEFAULT_MODELS)
        one = client.get(f"{keyed.url}/v1/models/gpt-4o-mini", headers=auth).json()
        assert (one["id"], one["object"], one["type"]) == ("gpt-4o-mini", "model", "model")
    assert client.get(f"{keyed.url}/v1/models").status_code == 401  # no key at all


# ---- Ollama as Go writes JSON ----------------------------------------------------------


def test_go_json_escapes_what_go_escapes() -> None:
    assert go_json(ODD) == ODD_GO
    assert go_json({"k": '\n\t"\\/\x00\x7f'}) == '{"k":"\\n\\t\\"\\\\/\\u0000\x7f"}'
    # Go leaves U+0085 raw, though str.splitlines() breaks a line there: so does Ollama.
    assert go_json("\x85") == '"\x85"'
    assert json.loads(go_json({"text": ODD})) == {"text": ODD}


def ollama_lines(raw: bytes) -> list[Any]:
    """Split the way ollama-python does (httpx's iter_lines: like str.splitlines())."""
    return [json.loads(line) for line in raw.decode().splitlines() if line]


def assert_go_escaped(raw: bytes) -> None:
    for char in "<>&\u2028\u2029":
        assert char.encode() not in raw
    assert "🎉".encode() in raw  # other non-ASCII stays raw UTF-8


def test_ollama_stream_is_go_escaped(client: httpx.Client) -> None:
    with FakeLLMServer(idle_timeout=60) as server:
        server.add_reply(Reply(ODD, reasoning=ODD_REASONING))
        raw = client.post(f"{server.url}/api/chat", json={"model": "llama3.2"}).content
        assert_go_escaped(raw)
        assert b"\\u2028" in raw
        assert b"\\u003c" in raw
        lines = ollama_lines(raw)
        assert len(lines) == raw.count(b"\n")  # a line per object, as Go wrote them
        assert "".join(line["message"].get("content", "") for line in lines) == ODD
        assert "".join(line["message"].get("thinking", "") for line in lines) == ODD_REASONING
        assert lines[-1]["done"] is True

        server.add_reply(Reply(ODD, reasoning=ODD_REASONING))
        whole = client.post(f"{server.url}/api/chat", json={"model": "x", "stream": False})
        assert whole.headers["content-type"] == "application/json; charset=utf-8"
        assert_go_escaped(whole.content)
        assert whole.json()["message"] == {
            "role": "assistant",
            "content": ODD,
            "thinking": ODD_REASONING,
        }


def test_ollama_errors_and_lists_are_go_escaped(client: httpx.Client) -> None:
    with FakeLLMServer(idle_timeout=60, models=[ODD, "llama3.2:latest"]) as server:
        server.add_reply(status=503, error_message=ODD)
        failed = client.post(f"{server.url}/api/chat", json={"model": "x"})
        assert failed.status_code == 503
        assert_go_escaped(failed.content)
        assert failed.json() == {"error": ODD}

        server.add_reply(Reply("one two three", error_after=1, error_message=ODD))
        broken = client.post(f"{server.url}/api/chat", json={"model": "x"}).content
        assert_go_escaped(broken)
        assert ollama_lines(broken)[-1] == {"error": ODD}

        tags = client.get(f"{server.url}/api/tags")
        assert_go_escaped(tags.content)
        assert [m["name"] for m in tags.json()["models"]] == [ODD, "llama3.2:latest"]
        shown = client.post(f"{server.url}/api/show", json={"model": "llama3.2"})
        assert shown.status_code == 200  # a name without a tag means :latest
        assert shown.json()["details"]["family"] == "llama"
        missing = client.post(f"{server.url}/api/show", json={"name": "nope"})
        assert missing.status_code == 404
        assert missing.json() == {"error": "model 'nope' not found"}


# Any text but U+0085, which Go (and so Ollama) leaves raw: see test_go_json_escapes_...
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x85"))


@settings(max_examples=150, deadline=None)
@given(text=_TEXT, reasoning=_TEXT)
def test_ollama_stream_reads_back_exactly_when_split_like_splitlines(
    text: str, reasoning: str
) -> None:
    plan = render(Reply(text, reasoning=reasoning or None), Call("ollama", "m", stream=True))
    raw = plan.head + b"".join(plan.pieces) + plan.tail
    lines = ollama_lines(raw)
    assert len(lines) == raw.count(b"\n")
    assert "".join(line["message"]["content"] for line in lines) == text
    assert "".join(line["message"].get("thinking", "") for line in lines) == reasoning
