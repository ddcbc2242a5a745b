"""The loopback fake LLM server, driven by plain httpx as a real HTTP peer."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ipyllm.testing import DEFAULT_MODELS, FakeLLMServer, Reply

WIRE = Path(__file__).parent / "fixtures" / "wire"
MANIFEST = json.loads((WIRE / "MANIFEST.json").read_text(encoding="utf-8"))


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(idle_timeout=60) as fake:
        yield fake


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    # One client for the module: each new one spends ~0.1 s building an SSL context.
    with httpx.Client(timeout=5) as http:
        yield http


def parse_sse(raw: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE event; enough of the spec for the fake's output."""
    events = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


def sse_json(raw: bytes) -> list[Any]:
    return [json.loads(data) for _, data in parse_sse(raw) if data != "[DONE]"]


def post(client: httpx.Client, server: FakeLLMServer, route: str) -> httpx.Response:
    """A streaming completion request to one of the four wire formats."""
    path, body = ROUTES[route]
    return client.post(server.url + path, json=body)


ROUTES: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("/v1/chat/completions", {"model": "gpt-4o-mini", "stream": True}),
    "anthropic": ("/v1/messages", {"model": "claude-sonnet-4-5", "stream": True}),
    "gemini": ("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", {}),
    "ollama": ("/api/chat", {"model": "llama3.2"}),
}


def streamed_text(route: str, raw: bytes) -> str:
    """The visible text a stream carried, in each format's own way."""
    if route == "ollama":
        lines = [json.loads(line) for line in raw.splitlines() if line]
        return "".join(line.get("message", {}).get("content", "") for line in lines)
    pieces = []
    for obj in sse_json(raw):
        if route == "openai":
            pieces += [c["delta"].get("content") or "" for c in obj.get("choices", [])]
        elif route == "anthropic" and obj["type"] == "content_block_delta":
            pieces.append(obj["delta"].get("text", ""))
        elif route == "gemini" and "candidates" in obj:
            pieces += [p["text"] for p in obj["candidates"][0]["content"]["parts"]]
    return "".join(pieces)


# ---- the four wire formats ----


@pytest.mark.parametrize("prefix", ["/v1", "/api/paas/v4", "/openai/v1"])
def test_openai_stream_with_reasoning_and_usage(server, client, prefix):
    server.add_reply("Hello there, world.", reasoning="Think first.", tokens_in=7)
    body = {"model": "glm-4.7", "stream": True, "stream_options": {"include_usage": True}}
    response = client.post(f"{server.url}{prefix}/chat/completions", json=body)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    events = parse_sse(response.content)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["model"] for c in chunks} == {"glm-4.7"}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == "Hello there, world."
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Think first."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 7
    assert chunks[-1]["usage"]["completion_tokens"] == 5  # 3 text + 2 reasoning pieces


def test_openai_usage_chunk_only_when_asked(server, client):
    response = client.post(server.base_url() + "/chat/completions", json={"stream": True})
    chunks = sse_json(response.content)
    assert all(c["choices"] for c in chunks)
    assert "usage" not in chunks[-1]


def test_openai_without_stream_answers_json(server, client):
    server.add_reply("Plain answer.", reasoning="Hmm.", finish_reason="length")
    response = client.post(server.base_url("openai") + "/chat/completions", json={"model": "m"})
    body = response.json()
    assert int(response.headers["content-length"]) == len(response.content)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "Plain answer."
    assert body["choices"][0]["message"]["reasoning_content"] == "Hmm."
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["total_tokens"] == 10 + 3


def test_anthropic_stream(server, client):
    server.add_reply(Reply("Captain Scoop", reasoning="Ice cream pirate", tokens_in=17))
    response = post(client, server, "anthropic")
    events = parse_sse(response.content)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert all(name == json.loads(data)["type"] for name, data in events)
    objs = [json.loads(data) for _, data in events]
    assert objs[0]["message"]["usage"]["input_tokens"] == 17
    starts = [o["content_block"]["type"] for o in objs if o["type"] == "content_block_start"]
    assert starts == ["thinking", "text"]
    deltas = [o["delta"] for o in objs if o["type"] == "content_block_delta"]
    assert "".join(d.get("thinking", "") for d in deltas) == "Ice cream pirate"
    assert "".join(d.get("text", "") for d in deltas) == "Captain Scoop"
    assert objs[-2]["delta"]["stop_reason"] == "end_turn"
    assert objs[-2]["usage"]["output_tokens"] == 5


def test_anthropic_without_stream_answers_json(server, client):
    response = client.post(server.url + "/v1/messages", json={"model": "claude"})
    body = response.json()
    assert body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": "Hello from the fake server."}]
    assert body["stop_reason"] == "end_turn"


def test_gemini_stream_uses_crlf(server, client):
    server.add_reply("Why is the sky blue?", reasoning="Rayleigh.", tokens_in=15)
    response = post(client, server, "gemini")
    raw = response.content
    assert b"\r\n\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    chunks = sse_json(raw)
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(p["text"] for p in parts if p.get("thought")) == "Rayleigh."
    assert "".join(p["text"] for p in parts if not p.get("thought")) == "Why is the sky blue?"
    finishes = [c["candidates"][0].get("finishReason") for c in chunks]
    assert finishes == [None] * (len(chunks) - 1) + ["STOP"]
    usage = chunks[-1]["usageMetadata"]
    assert usage == {
        "promptTokenCount": 15,
        "candidatesTokenCount": 5,
        "totalTokenCount": 21,
        "thoughtsTokenCount": 1,
    }
    assert server.requests[-1].query == {"alt": "sse"}


def test_gemini_generate_content(server, client):
    path = "/v1beta/models/gemini-2.5-flash:generateContent"
    body = client.post(server.url + path, json={}).json()
    assert body["candidates"][0]["content"]["parts"] == [{"text": "Hello from the fake server."}]
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert body["modelVersion"] == "gemini-2.5-flash"


def test_ollama_stream_and_json(server, client):
    server.add_reply("Hi you", reasoning="ok")
    server.add_reply("Hi you")
    lines = post(client, server, "ollama").content.splitlines()
    objs = [json.loads(line) for line in lines]
    assert [o["done"] for o in objs] == [False, False, False, True]
    assert objs[0]["message"]["thinking"] == "ok"
    assert objs[-1]["done_reason"] == "stop"
    assert objs[-1]["eval_count"] == 3
    assert objs[-1]["prompt_eval_count"] == 10
    body = client.post(server.url + "/api/chat", json={"model": "x", "stream": False}).json()
    assert body["message"] == {"role": "assistant", "content": "Hi you"}
    assert body["done"] is True


def test_model_lists(server, client):
    openai_anthropic = client.get(server.base_url("openai") + "/models").json()
    assert [m["id"] for m in openai_anthropic["data"]] == list(DEFAULT_MODELS)
    assert openai_anthropic["has_more"] is False
    assert {m["type"] for m in openai_anthropic["data"]} == {"model"}
    gemini = client.get(server.url + "/v1beta/models").json()
    assert gemini["models"][0]["name"] == "models/fake-model"
    server.models = ["llama3.2:latest"]
    assert client.get(server.url + "/api/tags").json()["models"][0]["name"] == "llama3.2:latest"
    assert client.get(server.url + "/api/paas/v4/models").json()["data"][0]["id"] == (
        "llama3.2:latest"
    )
    assert client.get(server.url + "/v1/models/llama3.2:latest").status_code == 200
    missing = client.get(server.url + "/v1/models/nope")
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]["message"]
    assert server.pending_replies == 0


def test_unknown_path_is_a_json_404(server, client):
    response = client.post(server.url + "/v2/complete", json={})
    assert response.status_code == 404
    assert "/v2/complete" in response.json()["error"]["message"]


# ---- scripting ----


def test_replies_are_taken_in_order_then_the_default(server, client):
    server.add_reply("first")
    server.add_reply(Reply(["sec", "ond"]))
    server.default_reply = Reply("fallback")
    assert server.pending_replies == 2
    assert streamed_text("anthropic", post(client, server, "anthropic").content) == "first"
    assert streamed_text("gemini", post(client, server, "gemini").content) == "second"
    assert streamed_text("ollama", post(client, server, "ollama").content) == "fallback"
    assert streamed_text("openai", post(client, server, "openai").content) == "fallback"


def test_text_splits_into_pieces_that_join_back(server, client):
    text = "  Two  spaces,\nnew line, tab\tand trailing  "
    server.add_reply(text)
    chunks = sse_json(post(client, server, "openai").content)
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert deltas == ["  Two", "  spaces,", "\nnew", " line,", " tab", "\tand", " trailing", "  "]


@pytest.mark.parametrize("route", ROUTES)
def test_error_status_in_the_provider_shape(server, client, route):
    server.add_reply(status=429, headers={"Retry-After": "2"}, error_message="Slow down")
    response = post(client, server, route)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    message = body["error"] if route == "ollama" else body["error"]["message"]
    assert message == "Slow down"
    if route == "anthropic":
        assert body["type"] == "error"
        assert body["error"]["type"] == "rate_limit_error"
    if route == "gemini":
        assert body["error"]["status"] == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize("route", ROUTES)
def test_mid_stream_error(server, client, route):
    server.add_reply("one two three four", error_after=2, status=529)
    response = post(client, server, route)
    assert response.status_code == 200
    assert streamed_text(route, response.content) == "one two"
    if route == "ollama":
        last = json.loads(response.content.splitlines()[-1])
        assert last == {"error": "Overloaded."}
        return
    name, data = parse_sse(response.content)[-1]
    error = json.loads(data)
    if route == "anthropic":
        assert name == "error"
        assert error["error"]["type"] == "overloaded_error"
    else:
        assert error["error"]["code"] == 529
        assert error["error"]["message"] == "Overloaded."


def test_mid_stream_error_on_a_request_that_does_not_stream(server, client):
    server.add_reply("one two", error_after=1)
    response = client.post(server.url + "/v1/chat/completions", json={"stream": False})
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "server_error"


def test_gemini_stream_without_sse_is_a_json_array(server, client):
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    chunks = client.post(server.url + path, json={}).json()
    assert chunks[0]["candidates"][0]["finishReason"] == "STOP"


def test_drop_ends_the_body_abruptly(server, client):
    server.add_reply("one two three four", drop_after=2)
    reads: list[bytes] = []

    def read_all() -> None:
        with client.stream("POST", server.url + "/api/chat", json={}) as response:
            for chunk in response.iter_raw():
                reads.append(chunk)

    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        read_all()
    assert streamed_text("ollama", b"".join(reads)) == "one two"
    assert server.disconnects == 0  # the server hung up, not the client


def test_stall_trips_the_client_read_timeout(server, client):
    server.add_reply("one two three", stall_after=1, stall_s=10)
    timeout = httpx.Timeout(10, read=0.2)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post(server.url + "/api/chat", json={}, timeout=timeout)
    assert time.monotonic() - started < 5  # the read timeout, not the 10 s stall
    assert server.wait_for_disconnect(4)  # noticed while stalled, not after 10 s


def test_short_stall_then_the_stream_completes(server, client):
    server.add_reply("one two", stall_after=1, stall_s=0.3)
    started = time.monotonic()
    response = post(client, server, "openai")
    assert time.monotonic() - started >= 0.3
    assert streamed_text("openai", response.content) == "one two"


def test_delay_streams_pieces_incrementally(server, client):
    server.add_reply(["a", "b", "c", "d"], delay_s=0.1)
    with client.stream("POST", server.url + "/api/chat", json={}) as response:
        arrivals = [time.monotonic() for _ in response.iter_lines()]
    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] >= 0.25  # the first piece did not wait for the rest


# ---- transcripts and raw bodies ----


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_transcript_served_byte_exact(server, client, entry):
    server.add_reply(Reply.from_transcript(entry["file"]))
    response = post(client, server, "openai")
    assert response.status_code == entry["http_status"]
    assert response.content == (WIRE / entry["file"]).read_bytes()
    expected_headers = entry["response_headers"]
    for name, value in expected_headers.items():
        assert response.headers[name] == value
    if entry["http_status"] != 200:
        assert int(response.headers["content-length"]) == len(response.content)


def test_transcript_crlf_conversion_and_path(server, client):
    path = WIRE / "openai-basic-usage.sse"
    original = path.read_bytes()
    server.add_reply(Reply.from_transcript(path, crlf=True))
    converted = post(client, server, "openai").content
    assert converted == original.replace(b"\n", b"\r\n")
    gemini = Reply.from_transcript("gemini-basic.sse", crlf=True)
    assert gemini.body == (WIRE / "gemini-basic.sse").read_bytes()  # already CRLF
    with pytest.raises(FileNotFoundError, match="no-such"):
        Reply.from_transcript("no-such.sse")


def test_chunk_size_with_delay_arrives_in_many_reads(server, client):
    body = (WIRE / "anthropic-emoji.sse").read_bytes()
    server.add_reply(body=body, chunk_size=97, delay_s=0.002, headers={"x-test": "1"})
    with client.stream("POST", server.url + "/v1/messages", json={}) as response:
        reads = list(response.iter_raw())
    assert b"".join(reads) == body
    assert len(reads) > 5
    assert max(map(len, reads)) <= 97
    assert response.headers["x-test"] == "1"


# ---- what the server saw ----


def test_disconnect_is_detected(server, client):
    server.add_reply(["p"] * 100, delay_s=0.05)
    with client.stream("POST", server.url + "/api/chat", json={}) as response:
        lines = response.iter_lines()
        next(lines)
        next(lines)
    assert server.wait_for_disconnect(5)
    assert server.disconnects == 1
    assert not server.wait_for_disconnect(0.05, count=2)


def test_requests_are_recorded(server, client):
    body = {"model": "gemini-2.5-flash", "contents": [{"parts": [{"text": "hi"}]}]}
    client.post(
        server.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k1",
        json=body,
        headers={"X-Goog-Api-Key": "k2"},
    )
    client.get(server.url + "/api/tags")
    first, second = server.requests
    assert first.method == "POST"
    assert first.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert first.query == {"alt": "sse", "key": "k1"}
    assert first.headers["x-goog-api-key"] == "k2"
    assert first.json == body
    assert json.loads(first.body) == body
    assert (second.method, second.path, second.json, second.body) == ("GET", "/api/tags", None, b"")
    server.reset()
    assert server.requests == []


def test_api_key_is_checked_the_way_each_provider_does(client):
    with FakeLLMServer(api_key="sk-good", idle_timeout=10) as server:
        url = server.url
        ok = {"authorization": "Bearer sk-good"}
        assert client.get(url + "/v1/models", headers=ok).status_code == 200
        assert client.get(url + "/v1/models", headers={"x-api-key": "sk-good"}).status_code == 200
        bad_openai = client.post(url + "/v1/chat/completions", json={}, headers={"x-api-key": "x"})
        assert bad_openai.status_code == 401
        assert "API key" in bad_openai.json()["error"]["message"]
        anthropic = client.post(url + "/v1/messages", json={}, headers={"x-api-key": "bad"})
        assert anthropic.json()["error"]["type"] == "authentication_error"
        assert client.post(url + "/v1/messages", json={}, headers=ok).is_success
        gemini = client.post(url + "/v1beta/models/g:generateContent", json={})
        assert gemini.status_code == 400
        assert gemini.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert client.post(url + "/v1beta/models/g:generateContent?key=sk-good").is_success
        assert client.post(url + "/api/chat", json={}).is_success  # Ollama has no keys


def test_concurrent_streams(server, client):
    for i in range(8):
        server.add_reply(Reply(f"answer {i}", delay_s=0.01))
    results: list[str] = []

    def run() -> None:
        results.append(streamed_text("openai", post(client, server, "openai").content))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [f"answer {i}" for i in range(8)]
    assert len(server.requests) == 8


def test_a_long_stream_arrives_whole(server, client):
    # Its speed is measured by bench/bench_stream.py, which serves 20,000 chunks from here.
    server.add_reply(Reply(["token "] * 20_000))
    response = post(client, server, "openai")
    assert len(sse_json(response.content)) == 20_002


# ---- addresses and lifetime ----


def test_base_urls(server):
    url = server.url
    assert url.startswith("http://127.0.0.1:")
    assert server.base_url("openai") == server.base_url("groq") == f"{url}/v1"
    assert server.base_url("zai") == f"{url}/api/paas/v4"
    for provider in ("anthropic", "gemini", "ollama"):
        assert server.base_url(provider) == url


def test_close_stops_listening(client):
    server = FakeLLMServer()
    assert client.get(server.url + "/api/tags").status_code == 200
    server.close()
    server.close()
    assert server.closed
    with pytest.raises(httpx.ConnectError):
        client.get(server.url + "/api/tags")


def test_close_cuts_a_stalled_stream(client):
    server = FakeLLMServer()
    server.add_reply("a b", stall_after=1, stall_s=30)
    with client.stream("POST", server.url + "/api/chat", json={}) as response:
        lines = response.iter_lines()
        next(lines)
        threading.Timer(0.1, server.close).start()
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)
    assert server.disconnects == 0


def test_idle_timeout_stops_the_server(client):
    server = FakeLLMServer(idle_timeout=0.3)
    client.get(server.url + "/api/tags")
    deadline = time.monotonic() + 5
    while not server.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.closed
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", server.port)),
    ):
        pass


def test_reply_rejects_nonsense():
    with pytest.raises(ValueError, match="chunk_size"):
        Reply(body=b"x", chunk_size=0)
    with pytest.raises(ValueError, match="error_after"):
        Reply(error_after=-1)
    with pytest.raises(ValueError, match="status"):
        Reply(status=42)
