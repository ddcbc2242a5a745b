"""Tool calls and structured output from :class:`FakeLLMServer`, read by the official SDKs.

``Reply(tool_calls=[...])`` and ``Reply(json=obj)`` must be what each provider really
sends: openai, anthropic, google-genai and ollama parse the fake's replies into their own
tool-call objects (names, ids, arguments) and their own structured-output models; and for
every recorded tool-call transcript, the fake's rendition of the same content decodes, in
the SDK, to what the recording decodes to, and has the recording's shape (the same
sequence of event kinds, and no field the real API does not send).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pydantic
import pytest
from google import genai
from google.genai import types as genai_types

from ipyllm.testing import FakeLLMServer, RecordedRequest, Reply, ToolCallReply
from test_official_clients import KEY, USER, loopback_only  # noqa: F401 (autouse guard)
from wire_manifest import MANIFEST, WIRE_DIR

# Arguments with characters every layer must carry: HTML-ish (Go escapes them), line
# separators, non-ASCII, emoji, and nested values of every JSON type.
WEATHER_ARGS = {"city": "Zürich <&>", "note": "a\u2028b\u2029c 🎉", "days": 3}
NESTED_ARGS = {"tz": "Europe/Paris", "opts": {"xs": [1, 2.5, None, True, "é"], "deep": {}}}
SIGNATURE = base64.b64encode(b"fake thought signature").decode()
CALLS: list[Any] = [
    ToolCallReply("get_weather", WEATHER_ARGS, signature=SIGNATURE),
    {"name": "get_time", "arguments": json.dumps(NESTED_ARGS), "id": "call_given_1"},
    ToolCallReply("no_args"),
]
NAMES = ["get_weather", "get_time", "no_args"]
ARGS = [WEATHER_ARGS, NESTED_ARGS, {}]
LEAD = "Let me check <that> for you."
ANSWER = {"city": "Zürich", "temp_c": 4.5, "tags": ["cold", "<&>"], "sunny": False}


class Weather(pydantic.BaseModel):
    city: str
    temp_c: float
    tags: list[str]
    sunny: bool


def tool_reply(**fields: Any) -> Reply:
    return Reply(LEAD, tool_calls=CALLS, **fields)


@pytest.fixture(scope="module")
def keyed() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key=KEY, idle_timeout=120) as server:
        yield server


@pytest.fixture
def fake(keyed: FakeLLMServer) -> Iterator[FakeLLMServer]:
    keyed.reset()
    yield keyed
    assert keyed.pending_replies == 0  # every scripted reply was asked for


@pytest.fixture
def oai(fake: FakeLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url("openai"), api_key=KEY, max_retries=0)


@pytest.fixture
def claude(fake: FakeLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url("anthropic"), api_key=KEY, max_retries=0)


@pytest.fixture
def gemini(fake: FakeLLMServer) -> Iterator[genai.Client]:
    http = genai_types.HttpOptions(base_url=fake.url)
    with genai.Client(api_key=KEY, http_options=http) as client:
        yield client


@pytest.fixture
def llama(fake: FakeLLMServer) -> ollama.Client:
    return ollama.Client(host=fake.url)


# ---- openai --------------------------------------------------------------------------


def test_openai_stream_tool_calls(fake: FakeLLMServer, oai: openai.OpenAI) -> None:
    fake.add_reply(tool_reply())
    argument_deltas: dict[int, int] = {}
    with oai.chat.completions.stream(model="gpt-4o-mini", messages=USER) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                argument_deltas[event.index] = argument_deltas.get(event.index, 0) + 1
        final = stream.get_final_completion()
    [choice] = final.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == LEAD
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == NAMES
    assert [json.loads(c.function.arguments) for c in calls] == ARGS
    assert calls[1].function.arguments == json.dumps(NESTED_ARGS)  # a str is sent verbatim
    assert re.fullmatch(r"call_[A-Za-z0-9]{24}", calls[0].id)
    assert calls[1].id == "call_given_1"
    assert calls[0].id != calls[2].id
    # Arguments arrive in many pieces, on the calls' own indexes.
    assert argument_deltas[0] > 5
    assert argument_deltas[1] > 5
    assert set(argument_deltas) == {0, 1, 2}


def test_openai_not_streamed_tool_calls(fake: FakeLLMServer, oai: openai.OpenAI) -> None:
    fake.add_reply(Reply(tool_calls=CALLS[:1]))
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    message = completion.choices[0].message
    assert message.content is None  # only tool calls: null content, as OpenAI sends
    [call] = message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    assert completion.choices[0].finish_reason == "tool_calls"


def test_openai_structured_output(fake: FakeLLMServer, oai: openai.OpenAI) -> None:
    fake.add_reply(json=ANSWER)
    parsed = oai.chat.completions.parse(model="m", messages=USER, response_format=Weather)
    assert parsed.choices[0].message.parsed == Weather(**ANSWER)

    fake.add_reply(json=ANSWER)
    pieces = []
    with oai.chat.completions.stream(model="m", messages=USER, response_format=Weather) as s:
        for event in s:
            if event.type == "content.delta":
                pieces.append(event.delta)
        final = s.get_final_completion()
    assert final.choices[0].message.parsed == Weather(**ANSWER)
    assert json.loads("".join(pieces)) == ANSWER
    assert len(pieces) > 10  # streamed token by token, not whole
    assert fake.requests[0].json["response_format"]["type"] == "json_schema"


def test_openai_sends_tool_results_back(fake: FakeLLMServer, oai: openai.OpenAI) -> None:
    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    fake.add_reply(tool_reply())
    first = oai.chat.completions.create(model="m", messages=USER, tools=tools)
    message = first.choices[0].message
    results: Any = [
        {"role": "tool", "tool_call_id": call.id, "content": f"result {i}"}
        for i, call in enumerate(message.tool_calls or [])
    ]
    assistant: Any = message.model_dump(exclude_none=True)
    oai.chat.completions.create(model="m", messages=[*USER, assistant, *results], tools=tools)
    asked, answered = fake.requests
    assert asked.tools == tools
    assert answered.messages[1]["tool_calls"][1]["id"] == "call_given_1"
    assert answered.messages[-1] == results[-1]
    assert [m["role"] for m in answered.messages] == ["user", "assistant", "tool", "tool", "tool"]


def test_openai_mid_stream_error_inside_the_arguments(
    fake: FakeLLMServer, oai: openai.OpenAI
) -> None:
    fake.add_reply(Reply(tool_calls=CALLS[:1], error_after=3, error_message="boom"))
    with (
        pytest.raises(openai.APIError, match="boom"),
        oai.chat.completions.stream(model="m", messages=USER) as stream,
    ):
        list(stream)


# ---- anthropic -----------------------------------------------------------------------


def test_anthropic_stream_tool_use(fake: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    fake.add_reply(tool_reply(reasoning="They want <the> weather."))
    partial: dict[int, int] = {}
    with claude.messages.stream(model="claude-fake", max_tokens=100, messages=USER) as s:
        for event in s:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                partial[event.index] = partial.get(event.index, 0) + 1
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    thought, text, *uses = final.content
    assert thought.type == "thinking"
    assert thought.signature
    assert text.type == "text"
    assert text.text == LEAD
    assert [u.type for u in uses] == ["tool_use"] * 3
    assert [u.name for u in uses if u.type == "tool_use"] == NAMES
    assert [u.input for u in uses if u.type == "tool_use"] == ARGS
    ids = [u.id for u in uses if u.type == "tool_use"]
    assert re.fullmatch(r"toolu_01[A-Za-z0-9]{22}", ids[0])
    assert ids[1] == "call_given_1"
    # The tool inputs are blocks 2, 3 and 4 (after thinking and text), streamed in pieces
    # after an empty one; for no input, Anthropic sends only the empty piece.
    assert partial[2] > 5
    assert partial[3] > 5
    assert partial[4] == 1


def test_anthropic_not_streamed_tool_use(fake: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    fake.add_reply(Reply(tool_calls=CALLS[:2]))
    message = claude.messages.create(model="claude-fake", max_tokens=100, messages=USER)
    assert message.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "name", None)) for b in message.content] == [
        ("tool_use", "get_weather"),
        ("tool_use", "get_time"),
    ]
    assert [getattr(b, "input", None) for b in message.content] == ARGS[:2]


def test_anthropic_structured_output(fake: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    fake.add_reply(json=ANSWER)
    parsed = claude.messages.parse(
        model="claude-fake", max_tokens=100, messages=USER, output_format=Weather
    )
    assert parsed.parsed_output == Weather(**ANSWER)

    fake.add_reply(json=ANSWER)
    with claude.messages.stream(model="claude-fake", max_tokens=100, messages=USER) as s:
        pieces = list(s.text_stream)
    assert json.loads("".join(pieces)) == ANSWER
    assert len(pieces) > 10


def test_anthropic_sends_tool_results_back(
    fake: FakeLLMServer, claude: anthropic.Anthropic
) -> None:
    fake.add_reply(tool_reply())
    first = claude.messages.create(model="m", max_tokens=100, messages=USER)
    uses = [b for b in first.content if b.type == "tool_use"]
    results = [{"type": "tool_result", "tool_use_id": u.id, "content": "ok"} for u in uses]
    messages: Any = [
        *USER,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": results},
    ]
    claude.messages.create(model="m", max_tokens=100, messages=messages)
    sent = fake.requests[-1].messages
    assert sent[-1]["content"] == results
    assert [b["type"] for b in sent[1]["content"]] == ["text", "tool_use", "tool_use", "tool_use"]


# ---- google-genai --------------------------------------------------------------------


def gemini_parts(chunks: Any) -> tuple[str, list[Any], list[Any]]:
    """(text, function-call parts, finish reasons) of a Gemini response stream."""
    text, calls, finishes = [], [], []
    for chunk in chunks:
        candidate = chunk.candidates[0]
        finishes.append(candidate.finish_reason)
        for part in candidate.content.parts or []:
            text.append(part.text or "")
            if part.function_call:
                calls.append(part)
    return "".join(text), calls, [f for f in finishes if f]


def test_gemini_stream_function_calls(fake: FakeLLMServer, gemini: genai.Client) -> None:
    fake.add_reply(tool_reply())
    stream = gemini.models.generate_content_stream(model="gemini-2.5-flash", contents="x")
    text, parts, finishes = gemini_parts(stream)
    assert text == LEAD
    assert finishes == [genai_types.FinishReason.STOP]
    calls = [p.function_call for p in parts]
    assert [c.name for c in calls] == NAMES
    assert [c.args for c in calls] == ARGS
    assert re.fullmatch(r"[a-z0-9]{8}", calls[0].id)
    assert calls[1].id == "call_given_1"
    assert [p.thought_signature for p in parts] == [b"fake thought signature", None, None]


def test_gemini_not_streamed_function_calls(fake: FakeLLMServer, gemini: genai.Client) -> None:
    calls = [ToolCallReply("get_weather", json.dumps(WEATHER_ARGS), id="")]
    fake.add_reply(Reply(tool_calls=calls))
    response = gemini.models.generate_content(model="gemini-2.5-flash", contents="x")
    [call] = response.function_calls or []
    assert (call.name, call.args, call.id) == ("get_weather", WEATHER_ARGS, None)  # id="": none


def test_gemini_structured_output(fake: FakeLLMServer, gemini: genai.Client) -> None:
    config = genai_types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=Weather
    )
    fake.add_reply(json=ANSWER)
    response = gemini.models.generate_content(model="gemini-2.5-flash", contents="x", config=config)
    assert response.parsed == Weather(**ANSWER)
    fake.add_reply(json=ANSWER)
    stream = gemini.models.generate_content_stream(model="m", contents="x", config=config)
    text, _, _ = gemini_parts(stream)
    assert json.loads(text) == ANSWER
    assert fake.requests[0].json["generationConfig"]["responseMimeType"] == "application/json"


def test_gemini_sends_function_responses_back(fake: FakeLLMServer, gemini: genai.Client) -> None:
    fake.add_reply(Reply(tool_calls=CALLS[:1]))
    first = gemini.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert first.candidates
    model_turn = first.candidates[0].content
    assert model_turn is not None
    [call] = first.function_calls or []
    answer = genai_types.Part.from_function_response(name="get_weather", response={"t": 4})
    contents: Any = ["x", model_turn, genai_types.Content(role="user", parts=[answer])]
    gemini.models.generate_content(model="gemini-2.5-flash", contents=contents)
    sent = fake.requests[-1].messages  # Gemini's "contents"
    assert [c["role"] for c in sent] == ["user", "model", "user"]
    [echoed] = sent[1]["parts"]
    assert echoed["functionCall"] == {"id": call.id, "name": "get_weather", "args": WEATHER_ARGS}
    assert echoed["thoughtSignature"] == SIGNATURE  # sent back as it came
    assert sent[2]["parts"][0]["functionResponse"]["response"] == {"t": 4}


# ---- ollama --------------------------------------------------------------------------


def fake_lines(server: FakeLLMServer, reply: Reply) -> list[Any]:
    """The NDJSON lines the fake streams for ``reply`` on Ollama's /api/chat."""
    server.add_reply(reply)
    body = httpx.post(server.url + "/api/chat", json={"model": "llama3.2"}, timeout=5).content
    return [json.loads(line) for line in body.splitlines()]


def test_ollama_stream_tool_calls(fake: FakeLLMServer, llama: ollama.Client) -> None:
    fake.add_reply(tool_reply())
    parts = list(llama.chat(model="llama3.2", messages=USER, stream=True))
    assert "".join(p.message.content or "" for p in parts) == LEAD
    calls = [c for p in parts for c in p.message.tool_calls or []]
    assert [c.function.name for c in calls] == NAMES
    assert [dict(c.function.arguments) for c in calls] == ARGS
    assert parts[-1].done_reason == "stop"
    raw_calls = [
        line for line in fake_lines(fake, tool_reply()) if "tool_calls" in line.get("message", {})
    ]
    [line] = raw_calls  # every call on one line, as Ollama sends them
    assert [c.get("id") for c in line["message"]["tool_calls"]] == [None, "call_given_1", None]


def test_ollama_not_streamed_tool_calls(fake: FakeLLMServer, llama: ollama.Client) -> None:
    fake.add_reply(Reply(tool_calls=CALLS[:2]))
    response = llama.chat(model="llama3.2", messages=USER, stream=False)
    calls = response.message.tool_calls or []
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", WEATHER_ARGS),
        ("get_time", NESTED_ARGS),
    ]


def test_ollama_structured_output(fake: FakeLLMServer, llama: ollama.Client) -> None:
    fake.add_reply(json=ANSWER)
    response = llama.chat(
        model="llama3.2", messages=USER, format=Weather.model_json_schema(), stream=False
    )
    assert Weather.model_validate_json(response.message.content or "") == Weather(**ANSWER)
    assert fake.requests[0].json["format"]["type"] == "object"


def test_ollama_sends_tool_results_back(fake: FakeLLMServer, llama: ollama.Client) -> None:
    fake.add_reply(Reply(tool_calls=CALLS[:1]))
    first = llama.chat(model="llama3.2", messages=USER, stream=False)
    result = {"role": "tool", "content": "4 degrees", "tool_name": "get_weather"}
    llama.chat(model="llama3.2", messages=[*USER, first.message, result], stream=False)
    sent = fake.requests[-1].messages
    assert sent[1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": WEATHER_ARGS,
    }
    assert sent[-1] == result


# ---- the recorded transcripts --------------------------------------------------------

FAMILIES = ("openai", "anthropic", "gemini", "ollama")
RECORDED = [
    e
    for e in MANIFEST
    if e["provider_family"] in FAMILIES
    and (e.get("expected_tool_calls") or e.get("expected_structured_output") is not None)
]


def mirror(entry: dict[str, Any]) -> Reply:
    """A :class:`Reply` with the content a recorded transcript carries."""
    if entry.get("expected_structured_output") is not None:
        return Reply(json=entry["expected_structured_output"])
    objects = entry.get("expected_tool_args")
    calls = [
        ToolCallReply(
            call["name"],
            objects[i] if objects else call["arguments"],
            id=call["id"] or "",
            # Both recorded Gemini streams sign their first call.
            signature=SIGNATURE if entry["provider_family"] == "gemini" and i == 0 else None,
        )
        for i, call in enumerate(entry["expected_tool_calls"])
    ]
    return Reply(
        entry["expected_text"] or None, reasoning=entry["expected_reasoning"], tool_calls=calls
    )


@pytest.fixture
def decode(
    fake: FakeLLMServer,
    oai: openai.OpenAI,
    claude: anthropic.Anthropic,
    gemini: genai.Client,
    llama: ollama.Client,
) -> Callable[[str, Reply], dict[str, Any]]:
    """What the family's official SDK makes of a streamed reply, in common terms."""

    def run(family: str, reply: Reply) -> dict[str, Any]:
        fake.add_reply(reply)
        if family == "openai":
            with oai.chat.completions.stream(model="m", messages=USER) as stream:
                choice = stream.get_final_completion().choices[0]
            calls = [
                (c.id, c.function.name, c.function.arguments)
                for c in choice.message.tool_calls or []
            ]
            return {"text": choice.message.content or "", "calls": calls}
        if family == "anthropic":
            with claude.messages.stream(model="m", max_tokens=5, messages=USER) as stream:
                message = stream.get_final_message()
            text = "".join(b.text for b in message.content if b.type == "text")
            thinking = "".join(b.thinking for b in message.content if b.type == "thinking")
            blocks = [b for b in message.content if b.type == "tool_use"]
            calls = [(b.id, b.name, b.input) for b in blocks]
            return {"text": text, "thinking": thinking, "calls": calls, "stop": message.stop_reason}
        if family == "gemini":
            chunks = gemini.models.generate_content_stream(model="m", contents="x")
            text, parts, finishes = gemini_parts(chunks)
            calls = [
                (
                    p.function_call.id,
                    p.function_call.name,
                    p.function_call.args,
                    bool(p.thought_signature),
                )
                for p in parts
            ]
            return {"text": text, "calls": calls, "finish": finishes}
        parts = list(llama.chat(model="llama3.2", messages=USER, stream=True))
        text = "".join(p.message.content or "" for p in parts)
        calls = [
            (c.function.name, dict(c.function.arguments))
            for p in parts
            for c in p.message.tool_calls or []
        ]
        return {"text": text, "calls": calls, "done": parts[-1].done_reason}

    return run


@pytest.mark.parametrize("entry", RECORDED, ids=[e["file"] for e in RECORDED])
def test_sdk_reads_the_fake_as_it_reads_the_recording(
    decode: Callable[[str, Reply], dict[str, Any]], entry: dict[str, Any]
) -> None:
    family = entry["provider_family"]
    recorded = decode(family, Reply.from_transcript(entry["file"]))
    faked = decode(family, mirror(entry))
    if entry.get("expected_structured_output") is not None:
        assert json.loads(faked.pop("text")) == json.loads(recorded.pop("text"))
    assert faked == recorded


# Gemini 3 ends a thinking model's answer with an empty, signed text part; the fake, like
# a model that does not think, does not (the SDK test above reads both the same).
SHAPED = [e for e in RECORDED if e["file"] != "gemini-structured-output.sse"]


@pytest.mark.parametrize("entry", SHAPED, ids=[e["file"] for e in SHAPED])
def test_fake_stream_has_the_recorded_shape(fake: FakeLLMServer, entry: dict[str, Any]) -> None:
    family = entry["provider_family"]
    recorded = (WIRE_DIR / entry["file"]).read_bytes()
    fake.add_reply(mirror(entry))
    path, body = STREAM_REQUESTS[family]
    response = httpx.post(fake.url + path, json=body, headers=AUTH, timeout=5)
    assert response.headers["content-type"].split(";")[0] == MEDIA_TYPES[family]
    produced = response.content
    assert (b"\r\n" in produced) == (b"\r\n" in recorded)  # Gemini frames with CRLF
    fake_kinds, fake_paths = SHAPES[family](produced)
    real_kinds, real_paths = SHAPES[family](recorded)
    assert fake_kinds == real_kinds
    assert fake_paths <= real_paths, f"fields the real API does not send: {fake_paths - real_paths}"


STREAM_REQUESTS: dict[str, tuple[str, Any]] = {
    "openai": (
        "/v1/chat/completions",
        {"model": "m", "stream": True, "stream_options": {"include_usage": True}},
    ),
    "anthropic": ("/v1/messages", {"model": "m", "stream": True}),
    "gemini": ("/v1beta/models/m:streamGenerateContent?alt=sse", {}),
    "ollama": ("/api/chat", {"model": "m"}),
}
# The fake's key, as OpenAI and Anthropic (Bearer) and Gemini take it; Ollama has none.
AUTH = {"authorization": f"Bearer {KEY}", "x-goog-api-key": KEY}
MEDIA_TYPES = {
    "openai": "text/event-stream",
    "anthropic": "text/event-stream",
    "gemini": "text/event-stream",
    "ollama": "application/x-ndjson",
}


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) per SSE event, ``[DONE]`` left out."""
    events = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            if field == "event":
                name = value.strip()
            elif field == "data":
                data.append(value.removeprefix(" "))
        if data and data != ["[DONE]"]:
            events.append((name, json.loads("\n".join(data))))
    return events


def key_paths(obj: Any, prefix: str = "") -> set[str]:
    """Every field path in ``obj`` (``choices[].delta.content``)."""
    if isinstance(obj, dict):
        paths = set()
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else key
            paths |= {path} | key_paths(value, path)
        return paths
    if isinstance(obj, list):
        return set().union(*(key_paths(item, prefix + "[]") for item in obj))
    return set()


def collapse(kinds: list[str]) -> list[str]:
    """``kinds`` with runs of one kind counted once: the stream's structure."""
    return [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]


def openai_shape(raw: bytes) -> tuple[list[str], set[str]]:
    kinds, paths = [], set()
    for _, chunk in sse_events(raw):
        paths |= key_paths(chunk)
        for choice in chunk["choices"] or [{"usage": True}]:
            delta = choice.get("delta", {})
            kinds += ["role"] if "role" in delta else []
            kinds += ["content"] if delta.get("content") else []
            for call in delta.get("tool_calls") or []:
                kinds.append(f"tool_call {call['index']}" if "id" in call else "arguments")
            kinds += [f"finish {choice['finish_reason']}"] if choice.get("finish_reason") else []
            kinds += ["usage"] if "usage" in choice else []
    return collapse(kinds), paths


def anthropic_shape(raw: bytes) -> tuple[list[str], set[str]]:
    kinds, paths = [], set()
    for name, data in sse_events(raw):
        assert name == data["type"]
        paths |= key_paths(data)
        if name == "ping":  # sent or not, at the server's whim
            continue
        detail = data.get("content_block", data.get("delta", {})).get("type")
        kinds.append(f"{name} {detail}" if detail and name != "message_delta" else name)
    return collapse(kinds), paths


def gemini_shape(raw: bytes) -> tuple[list[str], set[str]]:
    kinds, paths = [], set()
    for _, chunk in sse_events(raw):
        paths |= key_paths(chunk)
        candidate = chunk["candidates"][0]
        for part in candidate["content"]["parts"]:
            kind = (
                "call" if "functionCall" in part else "thought" if part.get("thought") else "text"
            )
            kinds.append(kind + (" signed" if "thoughtSignature" in part else ""))
        kinds += [f"finish {candidate['finishReason']}"] if "finishReason" in candidate else []
    return collapse(kinds), paths


def ollama_shape(raw: bytes) -> tuple[list[str], set[str]]:
    kinds, paths = [], set()
    for line in raw.splitlines():
        obj = json.loads(line)
        paths |= key_paths(obj)
        message = obj["message"]
        kinds += ["tool_calls"] if "tool_calls" in message else []
        kinds += ["content"] if message["content"] else []
        kinds += [f"done {obj['done_reason']}"] if obj["done"] else []
    return collapse(kinds), paths


SHAPES: dict[str, Callable[[bytes], tuple[list[str], set[str]]]] = {
    "openai": openai_shape,
    "anthropic": anthropic_shape,
    "gemini": gemini_shape,
    "ollama": ollama_shape,
}


# ---- the Reply API -------------------------------------------------------------------


def test_reply_tool_call_forms_and_defaults() -> None:
    reply = Reply(tool_calls=[{"name": "f", "arguments": {"a": 1}}, ToolCallReply("g", "{}")])
    assert reply.text == ""  # no default greeting before tool calls
    assert reply.tool_calls == (ToolCallReply("f", {"a": 1}), ToolCallReply("g", "{}"))
    assert Reply().text == "Hello from the fake server."
    assert Reply(json=[1, "é"]).text == ["[", "1", ',"', "é", '"]']
    assert ToolCallReply("f", ['{"a"', ":", "1}"]).arguments_pieces == ['{"a"', ":", "1}"]
    with pytest.raises(ValueError, match="not both"):
        Reply("text", json={"a": 1})
    with pytest.raises(TypeError, match="unknown tool call fields"):
        Reply(tool_calls=[{"name": "f", "args": {}}])
    with pytest.raises(ValueError, match="name"):
        ToolCallReply("")


def test_add_reply_keeps_json_and_tool_calls_when_overriding(fake: FakeLLMServer) -> None:
    queued = fake.add_reply(Reply(json={"a": 1}), delay_s=0.001)
    assert queued.json == {"a": 1}
    assert "".join(queued.text or []) == '{"a":1}'
    queued = fake.add_reply(tool_calls=[{"name": "f"}], finish_reason="length")
    assert queued.text == ""
    fake.reset()


def test_malformed_arguments_stream_verbatim_where_the_wire_allows(fake: FakeLLMServer) -> None:
    broken = [ToolCallReply("f", '{"city": "Par')]
    fake.add_reply(Reply(tool_calls=broken))
    path, body = STREAM_REQUESTS["openai"]
    chunks = [
        c for _, c in sse_events(httpx.post(fake.url + path, json=body, headers=AUTH).content)
    ]
    pieces = [
        call["function"]["arguments"]
        for chunk in chunks
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls") or []
    ]
    assert "".join(pieces) == '{"city": "Par'
    fake.add_reply(Reply(tool_calls=broken))  # Gemini carries an object: it cannot
    path, body = STREAM_REQUESTS["gemini"]
    failed = httpx.post(fake.url + path, json=body, headers=AUTH)
    assert failed.status_code == 500
    assert "arguments are not JSON" in failed.json()["error"]["message"]


def test_recorded_request_accessors() -> None:
    def recorded(body: Any) -> RecordedRequest:
        return RecordedRequest("POST", "/", {}, {}, body, b"")

    assert recorded({"messages": [1], "tools": [2]}).messages == [1]
    assert recorded({"contents": [3]}).messages == [3]
    assert recorded({"messages": [1], "tools": [2]}).tools == [2]
    assert recorded(None).messages == recorded([1]).tools == []
