"""The official SDKs against :class:`FakeLLMServer`: openai, anthropic, google-genai (at its
default API version) and ollama each read every reply kind the fake serves, and get exactly
the text, reasoning and error message the :class:`Reply` scripted.

Every SDK is pointed at the fake's loopback base URL with a dummy key, and a guard fails
the test if anything resolves or connects to a host other than 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import anthropic
import ollama
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from ipyllm.testing import DEFAULT_MODELS, FakeLLMServer, Reply

KEY = "sk-official-clients-0123456789"
# Pieces with line separators, HTML-ish characters and emoji inside and between pieces.
TEXT_PIECES = ["Line one\u2028line two", "\u2029<b>bold</b>", ' & "quoted"', " 🎉 done."]
REASONING_PIECES = ["Think <first>", " & \u2028then", "\u2029 answer 🤔"]
TEXT = "".join(TEXT_PIECES)
REASONING = "".join(REASONING_PIECES)
ERROR = "Slow <down> & retry\u2028later\u2029 🎉"
USER: Any = [{"role": "user", "content": "Hello?"}]
T = TypeVar("T")


@pytest.fixture(scope="module")
def keyed() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key=KEY, idle_timeout=120) as server:
        yield server


@pytest.fixture
def fake(keyed: FakeLLMServer) -> FakeLLMServer:
    keyed.reset()
    return keyed


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail if any SDK looks up or connects to anything but the loopback fake."""
    strays: list[object] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", b"127.0.0.1"):
            strays.append(host)
            raise OSError(f"test guard: no lookups of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
            strays.append(address)
            raise OSError(f"test guard: no connections to {address!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.delenv(var, raising=False)
    for var in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_API_VERSION", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    yield
    assert strays == []


def reply(**fields: Any) -> Reply:
    return Reply(TEXT_PIECES, reasoning=REASONING_PIECES, **fields)


def error_reply(status: int) -> Reply:
    return Reply(status=status, error_message=ERROR, headers={"retry-after": "0"})


def mid_stream_error() -> Reply:
    return Reply(TEXT_PIECES, error_after=2, error_message=ERROR)


def read_into(got: list[str], chunks: Iterable[T], text_of: Callable[[T], str]) -> None:
    """Append each chunk's text to ``got`` until the stream ends or raises."""
    for chunk in chunks:
        got.append(text_of(chunk))


# ---- openai --------------------------------------------------------------------------


@pytest.fixture
def oai(fake: FakeLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url("openai"), api_key=KEY, max_retries=0)


def test_openai_stream(fake: FakeLLMServer, oai: openai.OpenAI) -> None:
    fake.add_reply(reply(tokens_in=7))
    text, reasoning, finish = [], [], []
    stream = oai.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    usage = None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            reasoning.append((choice.delta.model_extra or {}).get("reasoning_content") or "")
            finish.append(choice.finish_reason)
    assert "".join(text) == TEXT
    assert "".join(reasoning) == REASONING  # DeepSeek/vLLM-style reasoning_content
    assert [f for f in finish if f] == ["stop"]
    assert usage is not None
    assert usage.prompt_tokens == 7
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_openai_not_streamed(fake: FakeLLMServer, oai: openai.OpenAI) -> None:
    fake.add_reply(reply())
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    message = completion.choices[0].message
    assert message.content == TEXT
    assert (message.model_extra or {})["reasoning_content"] == REASONING
    assert completion.choices[0].finish_reason == "stop"


def test_openai_errors(fake: FakeLLMServer, oai: openai.OpenAI) -> None:
    fake.add_reply(error_reply(429))
    with pytest.raises(openai.RateLimitError) as limited:
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    assert limited.value.status_code == 429
    assert isinstance(limited.value.body, dict)
    assert limited.value.body["message"] == ERROR
    assert ERROR in limited.value.message

    fake.add_reply(mid_stream_error())
    got: list[str] = []
    with pytest.raises(openai.APIError) as broken:
        read_into(
            got,
            oai.chat.completions.create(model="m", messages=USER, stream=True),
            lambda chunk: "".join(c.delta.content or "" for c in chunk.choices),
        )
    assert broken.value.message == ERROR
    assert "".join(got) == "".join(TEXT_PIECES[:2])

    wrong = openai.OpenAI(base_url=fake.base_url("openai"), api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="gpt-4o-mini", messages=USER)


def test_openai_models(fake: FakeLLMServer, oai: openai.OpenAI) -> None:
    assert [m.id for m in oai.models.list()] == list(DEFAULT_MODELS)
    assert oai.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("no-such-model")


# ---- anthropic -----------------------------------------------------------------------


@pytest.fixture
def claude(fake: FakeLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url("anthropic"), api_key=KEY, max_retries=0)


def test_anthropic_stream(fake: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    fake.add_reply(reply())
    text, thinking = [], []
    with claude.messages.stream(model="claude-fake", max_tokens=100, messages=USER) as s:
        for event in s:
            if event.type == "text":
                text.append(event.text)
            elif event.type == "thinking":
                thinking.append(event.thinking)
        final = s.get_final_message()
    assert "".join(text) == TEXT
    assert "".join(thinking) == REASONING
    [thought, answer] = final.content
    assert thought.type == "thinking"
    assert thought.thinking == REASONING
    assert thought.signature  # a thinking block must carry one to be sent back
    assert answer.type == "text"
    assert answer.text == TEXT
    assert final.stop_reason == "end_turn"


def test_anthropic_not_streamed(fake: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    fake.add_reply(reply())
    message = claude.messages.create(model="claude-fake", max_tokens=100, messages=USER)
    [thought, answer] = message.content
    assert thought.type == "thinking"
    assert thought.thinking == REASONING
    assert answer.type == "text"
    assert answer.text == TEXT


def test_anthropic_errors(fake: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    fake.add_reply(error_reply(429))
    with pytest.raises(anthropic.RateLimitError) as limited:
        claude.messages.create(model="m", max_tokens=5, messages=USER, stream=True)
    assert limited.value.status_code == 429
    assert isinstance(limited.value.body, dict)
    assert limited.value.body["error"] == {"type": "rate_limit_error", "message": ERROR}

    fake.add_reply(mid_stream_error())
    got: list[str] = []

    def text_stream() -> Iterator[str]:
        with claude.messages.stream(model="m", max_tokens=5, messages=USER) as stream:
            yield from stream.text_stream

    with pytest.raises(anthropic.APIStatusError) as broken:
        read_into(got, text_stream(), str)
    assert isinstance(broken.value.body, dict)
    assert broken.value.body["error"]["message"] == ERROR
    assert "".join(got) == "".join(TEXT_PIECES[:2])

    wrong = anthropic.Anthropic(base_url=fake.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(model="m", max_tokens=5, messages=USER)


def test_anthropic_models(fake: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    assert [m.id for m in claude.models.list()] == list(DEFAULT_MODELS)
    assert claude.models.retrieve("claude-sonnet-4-5").id == "claude-sonnet-4-5"
    with pytest.raises(anthropic.NotFoundError):
        claude.models.retrieve("no-such-model")


# ---- google-genai, at its default API version ----------------------------------------


@pytest.fixture
def gemini_client(fake: FakeLLMServer) -> Iterator[Callable[..., genai.Client]]:
    """Makes clients for the fake; they are kept until the test ends (a client that is
    garbage-collected closes its connections under a stream still being read)."""
    made: list[genai.Client] = []

    def make(key: str = KEY, **options: Any) -> genai.Client:
        http = genai_types.HttpOptions(base_url=fake.url, **options)
        made.append(genai.Client(api_key=key, http_options=http))
        return made[-1]

    yield make
    for client in made:
        client.close()


def split_parts(parts: Any) -> tuple[str, str]:
    """(text, thoughts) of a list of Gemini parts."""
    text = "".join(p.text or "" for p in parts if not p.thought)
    return text, "".join(p.text or "" for p in parts if p.thought)


def test_gemini_stream_at_the_default_api_version(
    fake: FakeLLMServer, gemini_client: Callable[..., genai.Client]
) -> None:
    fake.add_reply(reply())
    text, thoughts, finish = [], [], []
    for chunk in gemini_client().models.generate_content_stream(
        model="gemini-2.5-flash", contents="Hello?"
    ):
        candidate = chunk.candidates[0] if chunk.candidates else None
        assert candidate is not None
        assert candidate.content is not None
        t, r = split_parts(candidate.content.parts or [])
        text.append(t)
        thoughts.append(r)
        finish.append(candidate.finish_reason)
    assert "".join(text) == TEXT
    assert "".join(thoughts) == REASONING
    assert [f for f in finish if f] == [genai_types.FinishReason.STOP]
    [request] = fake.requests
    # The SDK's own default, not forced by the test: the v1 API (field notes).
    assert request.path == "/v1/models/gemini-2.5-flash:streamGenerateContent"
    assert request.headers["x-goog-api-key"] == KEY


def test_gemini_not_streamed(
    fake: FakeLLMServer, gemini_client: Callable[..., genai.Client]
) -> None:
    fake.add_reply(reply())
    response = gemini_client().models.generate_content(model="gemini-2.5-flash", contents="Hello?")
    assert response.candidates
    assert response.candidates[0].content is not None
    assert split_parts(response.candidates[0].content.parts) == (TEXT, REASONING)
    assert response.text == TEXT
    assert fake.requests[0].path == "/v1/models/gemini-2.5-flash:generateContent"


def test_gemini_errors(fake: FakeLLMServer, gemini_client: Callable[..., genai.Client]) -> None:
    client = gemini_client()
    fake.add_reply(error_reply(429))
    with pytest.raises(genai_errors.ClientError) as limited:
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="x"))
    assert (limited.value.code, limited.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert limited.value.message == ERROR

    fake.add_reply(error_reply(500))
    with pytest.raises(genai_errors.ServerError) as failed:
        client.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert (failed.value.code, failed.value.message) == (500, ERROR)

    fake.add_reply(mid_stream_error())
    got: list[str] = []
    with pytest.raises(genai_errors.ServerError) as broken:
        read_into(
            got,
            client.models.generate_content_stream(model="m", contents="x"),
            lambda chunk: chunk.text or "",
        )
    assert (broken.value.code, broken.value.message) == (503, ERROR)
    assert "".join(got) == "".join(TEXT_PIECES[:2])

    wrong = gemini_client(key="wrong-key")
    with pytest.raises(genai_errors.ClientError) as rejected:
        wrong.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert (rejected.value.code, rejected.value.status) == (400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("api_version", [None, "v1beta"], ids=["default", "v1beta"])
def test_gemini_models(
    fake: FakeLLMServer, gemini_client: Callable[..., genai.Client], api_version: str | None
) -> None:
    options = {"api_version": api_version} if api_version else {}
    client = gemini_client(**options)
    names = [m.name for m in client.models.list()]
    assert names == [f"models/{m}" for m in DEFAULT_MODELS]
    model = client.models.get(model="gemini-2.5-flash")
    assert model.name == "models/gemini-2.5-flash"
    assert model.supported_actions is not None
    assert "generateContent" in model.supported_actions
    with pytest.raises(genai_errors.ClientError) as missing:
        client.models.get(model="no-such-model")
    assert missing.value.code == 404
    version = api_version or "v1"
    assert [r.path for r in fake.requests] == [
        f"/{version}/models",
        f"/{version}/models/gemini-2.5-flash",
        f"/{version}/models/no-such-model",
    ]

    with pytest.raises(genai_errors.ClientError) as rejected:  # keyed like completions
        list(gemini_client(key="wrong-key", **options).models.list())
    assert (rejected.value.code, rejected.value.status) == (400, "INVALID_ARGUMENT")


# ---- ollama --------------------------------------------------------------------------


@pytest.fixture
def llama(fake: FakeLLMServer) -> ollama.Client:
    return ollama.Client(host=fake.url)


def test_ollama_stream(fake: FakeLLMServer, llama: ollama.Client) -> None:
    fake.add_reply(reply())
    parts = list(llama.chat(model="llama3.2", messages=USER, stream=True))
    assert "".join(p.message.content or "" for p in parts) == TEXT
    assert "".join(p.message.thinking or "" for p in parts) == REASONING
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].done_reason == "stop"


def test_ollama_not_streamed(fake: FakeLLMServer, llama: ollama.Client) -> None:
    fake.add_reply(reply())
    response = llama.chat(model="llama3.2", messages=USER, stream=False)
    assert response.message.content == TEXT
    assert response.message.thinking == REASONING
    assert response.done is True


def test_ollama_errors(fake: FakeLLMServer, llama: ollama.Client) -> None:
    fake.add_reply(error_reply(429))
    with pytest.raises(ollama.ResponseError) as limited:
        llama.chat(model="llama3.2", messages=USER, stream=False)
    assert (limited.value.status_code, limited.value.error) == (429, ERROR)

    fake.add_reply(error_reply(500))
    with pytest.raises(ollama.ResponseError) as failed:
        list(llama.chat(model="llama3.2", messages=USER, stream=True))
    assert (failed.value.status_code, failed.value.error) == (500, ERROR)

    fake.add_reply(mid_stream_error())
    got: list[str] = []
    with pytest.raises(ollama.ResponseError) as broken:
        read_into(
            got,
            llama.chat(model="llama3.2", messages=USER, stream=True),
            lambda part: part.message.content or "",
        )
    assert broken.value.error == ERROR
    assert "".join(got) == "".join(TEXT_PIECES[:2])


def test_ollama_models(fake: FakeLLMServer, llama: ollama.Client) -> None:
    assert [m.model for m in llama.list().models] == list(DEFAULT_MODELS)
    shown = llama.show("llama3.2")
    assert shown.details is not None
    assert shown.details.family == "llama"
    assert shown.capabilities == ["completion"]
    with pytest.raises(ollama.ResponseError) as missing:
        llama.show("no-such-model")
    assert missing.value.status_code == 404
    assert "no-such-model" in missing.value.error
