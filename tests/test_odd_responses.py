"""Every 2xx that is not the expected stream, and every stream that ends oddly, through a
real loopback server: each gives the right outcome, says so in its message, is retried
only if retrying can help, and ends when the answer does, not when the socket does."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest

import ipyllm
from ipyllm.testing import FakeLLMServer, Reply
from wire_manifest import FAMILY_PROVIDER, MANIFEST, WIRE_DIR

KEY = "test-key-0123456789abcdef"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}
HTML = {"content-type": "text/html; charset=utf-8"}
FAMILIES = ["openai", "anthropic", "gemini", "ollama"]


def session(fake: FakeLLMServer, provider: str, **kwargs: Any) -> ipyllm.Session:
    kwargs.setdefault("max_retries", 2)
    return ipyllm.Session(
        f"{provider}:test-model", api_key=KEY, base_url=fake.base_url(provider), **kwargs
    )


def ask_error(fake: FakeLLMServer, provider: str, reply: Reply, **kwargs: Any) -> ipyllm.LLMError:
    """Serve ``reply`` (then good answers, should the client retry) and return the error."""
    fake.add_reply(reply)
    fake.add_reply(Reply("A retry was answered."))
    fake.add_reply(Reply("A retry was answered."))
    with pytest.raises(ipyllm.LLMError) as caught:
        session(fake, provider, **kwargs).ask("Hello")
    return caught.value


def sse(*frames: Any, done: bool = True) -> bytes:
    body = b"".join(f"data: {json.dumps(frame)}\n\n".encode() for frame in frames)
    return body + (b"data: [DONE]\n\n" if done else b"")


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"object": "chat.completion.chunk", "choices": [choice], **extra}


# ---- a 2xx that is no answer at all ---------------------------------------------------

PORTAL = (
    b"<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
    b"<title>Sign in &middot; Hotel Wi-Fi</title>\n</head>\n"
    b"<body><h1>Welcome</h1><form>...</form></body>\n</html>\n"
)


@pytest.mark.parametrize("provider", FAMILIES)
def test_an_html_page_names_its_title_and_the_base_url(fake: FakeLLMServer, provider: str) -> None:
    err = ask_error(fake, provider, Reply(body=PORTAL, headers=HTML))
    assert type(err) is ipyllm.NotFoundError
    assert err.status == 200
    assert "HTML page titled 'Sign in · Hotel Wi-Fi'" in str(err)
    assert "check the base URL" in str(err)
    assert fake.base_url(provider) in str(err)
    assert "connection may have been cut" not in str(err)
    assert len(fake.requests) == 1  # not retried
    assert isinstance(err.body, str)
    assert "<form>" in err.body


def test_an_html_page_is_known_by_its_first_bytes_whatever_its_content_type(
    fake: FakeLLMServer,
) -> None:
    page = b"\n  <html><head><title>Proxy login required</title></head></html>"
    err = ask_error(fake, "openai", Reply(body=page, headers=SSE, chunk_size=7))
    assert type(err) is ipyllm.NotFoundError
    assert "'Proxy login required'" in str(err)
    assert len(fake.requests) == 1


def test_an_html_page_without_a_title_is_still_named_a_page(fake: FakeLLMServer) -> None:
    err = ask_error(fake, "openai", Reply(body=b"<html><body><p>It works!</p></body></html>"))
    assert type(err) is ipyllm.NotFoundError
    assert "with an HTML page ('It works!') instead of an answer" in str(err)
    fake.reset()
    err = ask_error(fake, "openai", Reply(body=b"<html><body></body></html>"))
    assert "with an HTML page instead of an answer" in str(err)


@pytest.mark.parametrize("provider", FAMILIES)
def test_an_empty_body_says_so(fake: FakeLLMServer, provider: str) -> None:
    err = ask_error(fake, provider, Reply(body=b"", headers=SSE))
    assert type(err) is ipyllm.NotFoundError
    assert "answered 200 with an empty body" in str(err)
    assert "check the base URL" in str(err)
    assert len(fake.requests) == 1


def test_plain_text_is_quoted(fake: FakeLLMServer) -> None:
    err = ask_error(fake, "openai", Reply(body=b"OK\n", headers={"content-type": "text/plain"}))
    assert type(err) is ipyllm.NotFoundError
    assert "plain text ('OK')" in str(err)
    assert len(fake.requests) == 1


def test_plain_text_where_ndjson_was_expected_is_quoted(fake: FakeLLMServer) -> None:
    err = ask_error(fake, "ollama", Reply(body=b"Ollama is running", headers={}))
    assert type(err) is ipyllm.NotFoundError
    assert "plain text ('Ollama is running')" in str(err)
    assert len(fake.requests) == 1


@pytest.mark.usefixtures("restore_provider_settings")
def test_a_whole_json_body_is_bounded_like_an_event(fake: FakeLLMServer) -> None:
    ipyllm.configure("openai", max_event_bytes=64 * 1024)
    message = {"role": "assistant", "content": "x" * (256 * 1024)}
    body = json.dumps({"object": "chat.completion", "choices": [{"message": message}]})
    err = ask_error(fake, "openai", Reply(body=body.encode(), headers=JSON, chunk_size=4096))
    assert type(err) is ipyllm.StreamError
    assert "larger than the 64 KiB limit" in str(err)
    assert len(fake.requests) == 1


def test_json_that_is_neither_answer_nor_error_is_quoted(fake: FakeLLMServer) -> None:
    err = ask_error(fake, "openai", Reply(body=b'{"status": "healthy"}', headers=JSON))
    assert type(err) is ipyllm.NotFoundError
    assert "neither an answer nor an error" in str(err)
    assert '"healthy"' in str(err)
    assert err.body == {"status": "healthy"}
    assert len(fake.requests) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_names_where_it_points(
    fake: FakeLLMServer, status: int
) -> None:
    target = "https://api.example.invalid/v2/chat/completions"
    err = ask_error(fake, "openai", Reply(status=status, body=b"", headers={"location": target}))
    assert type(err) is ipyllm.NotFoundError
    assert err.status == status
    assert f"answered {status} with a redirect to {target}" in str(err)
    assert "does not follow redirects" in str(err)
    assert "check the base URL" in str(err)
    assert len(fake.requests) == 1  # neither followed nor retried


def test_a_redirect_without_a_location(fake: FakeLLMServer) -> None:
    err = ask_error(fake, "anthropic", Reply(status=302, body=b""))
    assert type(err) is ipyllm.NotFoundError
    assert "a redirect with no Location" in str(err)
    assert len(fake.requests) == 1


def test_an_html_error_page_is_quoted_by_its_title(fake: FakeLLMServer) -> None:
    page = (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
        b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
        b"<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
    )
    err = ask_error(fake, "gemini", Reply(status=502, body=page, headers=HTML), max_retries=0)
    assert type(err) is ipyllm.ServerError
    assert "error 502: 502 Bad Gateway —" in str(err)
    assert "<html>" not in str(err)


# ---- a JSON error envelope sent with 200 ------------------------------------------------


def minimax_envelope(code: int, message: str) -> bytes:
    # MiniMax's native shape: no choices, the outcome in base_resp.
    body = {"id": "0", "choices": None, "base_resp": {"status_code": code, "status_msg": message}}
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("code", "message", "cls"),
    [
        (1004, "login fail: Please carry the API secret key in the 'Authorization' field", "auth"),
        (2049, "invalid api key", "auth"),
        (1008, "insufficient balance", "quota"),
        (2013, "invalid params, messages is empty", "bad_request"),
        (1026, "input new_sensitive", "content_filter"),
    ],
)
def test_a_minimax_envelope_is_its_own_error_class_and_not_retried(
    fake: FakeLLMServer, code: int, message: str, cls: str
) -> None:
    classes = {
        "auth": ipyllm.AuthenticationError,
        "quota": ipyllm.QuotaExceededError,
        "bad_request": ipyllm.BadRequestError,
        "content_filter": ipyllm.ContentFilterError,
    }
    err = ask_error(fake, "minimax", Reply(body=minimax_envelope(code, message), headers=JSON))
    assert type(err) is classes[cls]
    assert message in str(err)  # the provider's own words
    assert not err.mid_stream
    assert err.body["base_resp"]["status_code"] == code
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("code", "cls"),
    [(1002, ipyllm.RateLimitError), (1039, ipyllm.RateLimitError), (1000, ipyllm.ServerError),
     (1013, ipyllm.ServerError), (1001, ipyllm.TimeoutError)],
)  # fmt: skip
def test_minimax_transient_codes_are_retried_as_what_they_are(
    fake: FakeLLMServer, code: int, cls: type[ipyllm.LLMError]
) -> None:
    fake.add_reply(Reply(body=minimax_envelope(code, f"transient {code}"), headers=JSON))
    fake.add_reply(Reply(body=minimax_envelope(code, f"transient {code}"), headers=JSON))
    with pytest.raises(ipyllm.LLMError) as caught:
        session(fake, "minimax", max_retries=1).ask("Hello")
    assert type(caught.value) is cls
    assert f"transient {code}" in str(caught.value)
    assert len(fake.requests) == 2  # MiniMax says: retry later


def test_a_minimax_envelope_in_an_sse_body_is_read_too(fake: FakeLLMServer) -> None:
    body = sse({"choices": None, "base_resp": {"status_code": 1004, "status_msg": "login fail"}})
    err = ask_error(fake, "minimax", Reply(body=body, headers=SSE))
    assert type(err) is ipyllm.AuthenticationError
    assert "login fail" in str(err)
    assert len(fake.requests) == 1


def test_a_base_resp_code_means_nothing_to_a_provider_without_that_table(
    fake: FakeLLMServer,
) -> None:
    # The table belongs to MiniMax's catalog row: elsewhere 1004 is just an error code,
    # an error that names no class (a StreamError, retried like one).
    body = minimax_envelope(1004, "login fail")
    err = ask_error(fake, "openai", Reply(body=body, headers=JSON), max_retries=0)
    assert type(err) is ipyllm.StreamError
    assert "login fail" in str(err)


@pytest.mark.parametrize(
    ("provider", "body", "cls", "words"),
    [
        ("openai", {"error": {"message": "model_not_supported: gpt-9",
                              "type": "invalid_request_error"}},
         ipyllm.BadRequestError, "model_not_supported: gpt-9"),
        ("openrouter", {"error": {"code": 402, "message": "Insufficient credits"}},
         ipyllm.QuotaExceededError, "Insufficient credits"),
        ("anthropic", {"type": "error", "error": {"type": "authentication_error",
                                                  "message": "invalid x-api-key"}},
         ipyllm.AuthenticationError, "invalid x-api-key"),
        ("gemini", {"error": {"code": 403, "message": "Permission denied on resource",
                              "status": "PERMISSION_DENIED"}},
         ipyllm.AuthenticationError, "Permission denied on resource"),
    ],
)  # fmt: skip
def test_a_json_error_envelope_with_200_is_the_error_it_names(
    fake: FakeLLMServer,
    provider: str,
    body: dict[str, Any],
    cls: type[ipyllm.LLMError],
    words: str,
) -> None:
    err = ask_error(fake, provider, Reply(body=json.dumps(body).encode(), headers=JSON))
    assert type(err) is cls
    assert words in str(err)
    assert "connection may have been cut" not in str(err)
    assert len(fake.requests) == 1


# ---- a complete answer sent instead of a stream ---------------------------------------


def test_a_whole_chat_completion_is_a_normal_response(fake: FakeLLMServer) -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Whole answer.",
                            "reasoning_content": "Thought first."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3},
    }  # fmt: skip
    fake.add_reply(Reply(body=json.dumps(body, indent=2).encode(), headers=JSON))
    s = session(fake, "openai")
    chunks = list(s.stream("Hello"))
    response = s.last
    assert response is not None
    assert response.text == "Whole answer."
    assert response.reasoning == "Thought first."
    assert (response.tokens_in, response.tokens_out) == (7, 3)
    assert response.finish_reason == "stop"
    assert chunks == ["Whole answer."]  # the view still sees the text
    assert s.messages[-1] == {"role": "assistant", "content": "Whole answer."}
    assert len(fake.requests) == 1


def test_a_gemini_json_array_is_a_normal_response(fake: FakeLLMServer) -> None:
    def part(text: str, finish: str | None = None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        usage = {"promptTokenCount": 5, "candidatesTokenCount": 4}
        return {"candidates": [candidate], "usageMetadata": usage}

    body = json.dumps([part("Array "), part("answer."), part("", "STOP")], indent=1).encode()
    fake.add_reply(Reply(body=body, headers=JSON, chunk_size=9))
    response = session(fake, "gemini").ask("Hello")
    assert response.text == "Array answer."
    assert response.finish_reason == "STOP"
    assert (response.tokens_in, response.tokens_out) == (5, 4)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("indent", [None, 2], ids=["compact", "pretty"])
def test_an_ollama_single_object_is_a_normal_response(
    fake: FakeLLMServer, indent: int | None
) -> None:
    body = {
        "model": "test-model",
        "message": {"role": "assistant", "content": "One object.", "thinking": "Hm."},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 11,
        "eval_count": 2,
    }
    raw = json.dumps(body, indent=indent).encode()
    fake.add_reply(Reply(body=raw, headers={"content-type": "application/json; charset=utf-8"}))
    response = session(fake, "ollama").ask("Hello")
    assert (response.text, response.reasoning) == ("One object.", "Hm.")
    assert (response.tokens_in, response.tokens_out) == (11, 2)
    assert response.finish_reason == "stop"


def test_a_whole_anthropic_message_is_a_normal_response(fake: FakeLLMServer) -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Short.", "signature": "c2ln"},
            {"type": "text", "text": "Whole message."},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 9, "output_tokens": 4},
    }
    fake.add_reply(Reply(body=json.dumps(body).encode(), headers=JSON))
    response = session(fake, "anthropic").ask("Hello")
    assert (response.text, response.reasoning) == ("Whole message.", "Short.")
    assert (response.tokens_in, response.tokens_out) == (9, 4)
    assert response.finish_reason == "end_turn"


# ---- the stream's own end ends the read ------------------------------------------------

OPENAI_STREAM = sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Done"}),
    chunk({"content": " here."}),
    chunk({}, "stop"),
    {"object": "chat.completion.chunk", "choices": [],
     "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
)  # fmt: skip
ANTHROPIC_STREAM = b"".join(
    f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()
    for name, obj in [
        ("message_start", {"type": "message_start",
                           "message": {"usage": {"input_tokens": 4, "output_tokens": 1}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Done here."}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ]
)  # fmt: skip
GEMINI_STREAM = b"".join(
    f"data: {json.dumps(obj)}\r\n\r\n".encode()
    for obj in [
        {"candidates": [{"content": {"parts": [{"text": "Done"}], "role": "model"}, "index": 0}],
         "usageMetadata": {"promptTokenCount": 4}},
        {"candidates": [{"content": {"parts": [{"text": " here."}], "role": "model"},
                         "finishReason": "STOP", "index": 0}],
         "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2}},
    ]
)  # fmt: skip
OLLAMA_STREAM = (
    b'{"message":{"role":"assistant","content":"Done"},"done":false}\n'
    b'{"message":{"role":"assistant","content":" here."},"done":false}\n'
    b'{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop",'
    b'"prompt_eval_count":4,"eval_count":2}\n'
)
STREAMS = {
    "openai": (OPENAI_STREAM, "stop"),
    "anthropic": (ANTHROPIC_STREAM, "end_turn"),
    "gemini": (GEMINI_STREAM, "STOP"),
    "ollama": (OLLAMA_STREAM, "stop"),
}


@pytest.mark.parametrize("provider", FAMILIES)
def test_the_stream_end_ends_the_read_though_the_body_stays_open(
    fake: FakeLLMServer, provider: str
) -> None:
    body, finish = STREAMS[provider]
    # The whole stream, then ten seconds of silence with the body still open.
    fake.add_reply(Reply(body=body, headers=SSE, stall_after=1, stall_s=10))
    started = time.monotonic()
    response = session(fake, provider, timeout=5).ask("Hello")
    took = time.monotonic() - started
    assert took < 2, f"took {took:.1f} s: the read waited for the socket"
    assert response.text == "Done here."
    assert response.finish_reason == finish
    assert (response.tokens_in, response.tokens_out) == (4, 2)  # usage after the finish kept
    assert fake.wait_for_disconnect(2)  # the connection was released, not left to idle


def test_usage_after_the_finish_reason_is_still_read(fake: FakeLLMServer) -> None:
    # Ending at finish_reason would lose the usage-only chunk that follows it.
    fake.add_reply(Reply(body=OPENAI_STREAM, headers=SSE, chunk_size=5))
    response = session(fake, "openai").ask("Hello")
    assert (response.tokens_in, response.tokens_out) == (4, 2)


def test_a_gemini_finish_without_usage_reads_on_to_the_end(fake: FakeLLMServer) -> None:
    frames = [
        {"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP"}]},
        {"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}},
    ]
    body = b"".join(f"data: {json.dumps(f)}\n\n".encode() for f in frames)
    fake.add_reply(Reply(body=body, headers=SSE))
    response = session(fake, "gemini").ask("Hello")
    assert response.text == "Hi"
    assert (response.tokens_in, response.tokens_out) == (3, 1)


# ---- usage on every chunk, MiniMax's final frame, several candidates -------------------


def test_usage_on_every_chunk_never_changes_the_text(fake: FakeLLMServer) -> None:
    # vLLM with stream_options.continuous_usage_stats: usage rides on every chunk.
    frames = []
    for i, piece in enumerate(["1", "1", " apples"]):
        usage = {"prompt_tokens": 3, "completion_tokens": i + 1}
        frames.append(chunk({"content": piece}, usage=usage))
    frames.append(chunk({}, "stop", usage={"prompt_tokens": 3, "completion_tokens": 3}))
    fake.add_reply(Reply(body=sse(*frames), headers=SSE))
    response = session(fake, "vllm").ask("How many?")
    assert response.text == "11 apples"
    assert response.tokens_out == 3


def minimax_final(
    content: str, reasoning: str, finish: str, key: str = "message"
) -> dict[str, Any]:
    # MiniMax's last frame: a `chat.completion` repeating the whole message (under
    # `message`, or under `delta`) with the real usage.
    message = {"role": "assistant", "content": content, "reasoning_content": reasoning}
    choice = {"index": 0, key: message, "finish_reason": finish}
    usage = {"prompt_tokens": 6, "completion_tokens": 9}
    return {"object": "chat.completion", "choices": [choice], "usage": usage}


@pytest.mark.parametrize("key", ["message", "delta"])
def test_minimax_final_frame_repeating_the_message_adds_nothing(
    fake: FakeLLMServer, key: str
) -> None:
    zero = {"total_tokens": 0, "total_characters": 0}  # MiniMax's placeholder usage
    frames = [
        chunk({"reasoning_content": "Think "}, usage=zero),
        chunk({"reasoning_content": "twice."}, usage=zero),
        chunk({"content": "Hello"}, usage=zero),
        chunk({"content": "Hello"}, usage=zero),  # equal to the text so far: still text
        minimax_final("HelloHello", "Think twice.", "stop", key),
    ]
    fake.add_reply(Reply(body=sse(*frames), headers=SSE))
    response = session(fake, "minimax").ask("Hello")
    assert response.text == "HelloHello"
    assert response.reasoning == "Think twice."
    assert (response.tokens_in, response.tokens_out) == (6, 9)


def test_minimax_stream_cut_while_thinking_keeps_the_reasoning_once(
    fake: FakeLLMServer,
) -> None:
    frames = [
        chunk({"reasoning_content": "Let me "}),
        chunk({"reasoning_content": "think"}),
        minimax_final("", "Let me think", "length", "delta"),
    ]
    fake.add_reply(Reply(body=sse(*frames), headers=SSE))
    response = session(fake, "minimax").ask("Hello")
    assert response.reasoning == "Let me think"
    assert response.text == ""
    assert response.finish_reason == "length"


def test_minimax_final_frame_fills_in_what_the_deltas_missed(fake: FakeLLMServer) -> None:
    frames = [chunk({"content": "Hel"}), minimax_final("Hello", "", "stop")]
    fake.add_reply(Reply(body=sse(*frames), headers=SSE))
    assert session(fake, "minimax").ask("Hello").text == "Hello"


def test_only_the_first_gemini_candidate_is_read(fake: FakeLLMServer) -> None:
    def frame(first: str, second: str, finish: bool = False) -> dict[str, Any]:
        candidates = []
        for index, text in enumerate([first, second]):
            candidate: dict[str, Any] = {"content": {"parts": [{"text": text}]}, "index": index}
            if finish:
                candidate["finishReason"] = "STOP"
            candidates.append(candidate)
        return {"candidates": candidates}

    frames = [frame("Yes", "No"), frame(" indeed.", " way.", finish=True)]
    body = b"".join(f"data: {json.dumps(f)}\n\n".encode() for f in frames)
    fake.add_reply(Reply(body=body, headers=SSE))
    assert session(fake, "gemini").ask("Well?").text == "Yes indeed."


def test_a_stream_cut_before_its_end_is_still_a_retried_stream_error(
    fake: FakeLLMServer,
) -> None:
    # The contrast: a real stream that breaks off is worth a retry.
    fake.add_reply(Reply(body=sse(chunk({"content": ""}), done=False), headers=SSE))
    fake.add_reply(Reply("Second try."))
    assert session(fake, "openai").ask("Hello").text == "Second try."
    assert len(fake.requests) == 2


ENDED_RECORDINGS = [
    e
    for e in MANIFEST
    if e["wire_format"] == "sse"
    and e["expected_error"] is None
    # This recording stops without the blank line that completes its last event, so its
    # end marker is only known when the body ends.
    and e["file"] != "anthropic-tool-use.sse"
]


@pytest.mark.parametrize("entry", ENDED_RECORDINGS, ids=lambda e: e["file"])
def test_recorded_streams_end_at_their_end_marker(
    fake: FakeLLMServer, entry: dict[str, Any]
) -> None:
    recorded = Reply.from_transcript(WIRE_DIR / entry["file"])
    fake.add_reply(dataclasses.replace(recorded, stall_after=1, stall_s=10))
    provider = FAMILY_PROVIDER[entry["provider_family"]]
    base = fake.base_url("openai" if provider in ("openai-compatible", "vllm") else provider)
    s = ipyllm.Session(f"{provider}:test-model", api_key=KEY, base_url=base, timeout=5)
    started = time.monotonic()
    response = s.ask("Hello")
    assert time.monotonic() - started < 2
    assert response.text == entry["expected_text"]
    assert response.tokens_out == entry["expected_tokens_out"]
    assert response.finish_reason == entry["expected_finish_reason"]
