"""Every real wire transcript decodes to exactly what the manifest says.

Each file is served by the loopback fake server byte for byte and read through
``Session.ask``: whole, in 1- to 7-byte HTTP chunks, and with CRLF line ends.
A second test feeds the same bytes through an ``httpx.MockTransport`` cut at
hypothesis-chosen points, to show the result does not depend on the split.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ipyllm
from ipyllm import _registry
from ipyllm._engine.provider import Provider
from ipyllm.testing import FakeLLMServer, Reply
from wire_manifest import FAMILY_PROVIDER, MANIFEST, WIRE_DIR

KIND_ERROR = {
    "auth": ipyllm.AuthenticationError,
    "rate_limit": ipyllm.RateLimitError,
    "quota": ipyllm.QuotaExceededError,
    "overloaded": ipyllm.ServerError,
    "server": ipyllm.ServerError,
    "bad_request": ipyllm.BadRequestError,
    "not_found": ipyllm.NotFoundError,
}
KEY = "test-key-0123456789abcdef"
# (chunk_size, crlf): whole, every read size from 1 to 7, and CRLF line ends.
SPLITS = [(None, False), *((n, False) for n in range(1, 8)), (None, True), (5, True)]


def _session(entry: dict[str, Any], base_url: str) -> ipyllm.Session:
    provider = FAMILY_PROVIDER[entry["provider_family"]]
    return ipyllm.Session(f"{provider}:test-model", api_key=KEY, base_url=base_url, max_retries=0)


def _base_url(server: FakeLLMServer, entry: dict[str, Any]) -> str:
    provider = FAMILY_PROVIDER[entry["provider_family"]]
    return server.base_url("openai" if provider in ("openai-compatible", "vllm") else provider)


def check_response(entry: dict[str, Any], response: ipyllm.Response) -> None:
    """The manifest's expectations for a successful stream."""
    assert entry["expected_error"] is None
    assert response.text == entry["expected_text"]
    assert response.reasoning == entry["expected_reasoning"]
    assert response.tokens_in == entry["expected_tokens_in"]
    assert response.tokens_out == entry["expected_tokens_out"]
    assert response.finish_reason == entry["expected_finish_reason"]
    if "expected_reasoning_tokens" in entry and entry["provider_family"] != "openrouter":
        assert response.reasoning_tokens == entry["expected_reasoning_tokens"]
    if "expected_refusal" in entry:
        assert response.refusal == entry["expected_refusal"]
    if "expected_tool_calls" in entry:
        calls = [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
        ]
        assert calls == entry["expected_tool_calls"]
    if "expected_tool_args" in entry:
        assert [json.loads(c.arguments) for c in response.tool_calls] == entry["expected_tool_args"]
    if "expected_structured_output" in entry:
        assert json.loads(response.text) == entry["expected_structured_output"]
    signatures = _recorded_signatures(entry)
    if entry["provider_family"] == "gemini":
        # Each call keeps its own thoughtSignature (the next request must echo it).
        assert [c.signature for c in response.tool_calls] == signatures
    elif entry["provider_family"] == "anthropic" and signatures:
        assert response.reasoning_signature == "".join(s for s in signatures if s)
        assert response.reasoning_signature


def _recorded_signatures(entry: dict[str, Any]) -> list[str | None]:
    """The signatures the recording carries, read straight from its frames: for Gemini,
    each functionCall part's thoughtSignature (None where it has none), in order; for
    Anthropic, the signature_delta pieces."""
    found: list[str | None] = []
    if entry["wire_format"] != "sse" or entry["http_status"] != 200:
        return found
    text = (WIRE_DIR / entry["file"]).read_text("utf-8")
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        try:
            obj = json.loads(line[5:])
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        for candidate in obj.get("candidates") or ():
            for part in (candidate.get("content") or {}).get("parts") or ():
                if "functionCall" in part:
                    found.append(part.get("thoughtSignature"))
        delta = obj.get("delta")
        if isinstance(delta, dict) and delta.get("type") == "signature_delta":
            found.append(delta["signature"])
    return found


def check_error(entry: dict[str, Any], err: ipyllm.LLMError) -> None:
    """The manifest's expectations for a failure."""
    assert entry["expected_error"] is not None, f"unexpected {err!r}"
    assert type(err) is KIND_ERROR[entry["expected_error_kind"]], repr(err)
    assert entry["expected_error"].lower() in str(err).lower()
    if entry.get("expected_error_strict"):
        assert entry["expected_error_strict"].lower() in str(err).lower()
    assert err.status in (entry["http_status"], None) or entry.get("partial_before_error")
    assert err.partial == entry["expected_text"]
    if "expected_retry_after_s" in entry:
        assert isinstance(err, ipyllm.RateLimitError)
        assert err.retry_after == pytest.approx(entry["expected_retry_after_s"])
    if entry.get("partial_before_error"):
        assert err.mid_stream
        assert err.response is not None
        assert err.response.reasoning == entry["expected_reasoning"]
        if entry["expected_tokens_in"] is not None:
            assert err.response.tokens_in == entry["expected_tokens_in"]
            assert err.response.tokens_out == entry["expected_tokens_out"]
    assert KEY not in str(err)
    assert KEY not in repr(err)


@pytest.mark.parametrize(("chunk_size", "crlf"), SPLITS, ids=lambda v: str(v))
@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["file"])
def test_transcript_through_session(
    fake: FakeLLMServer, entry: dict[str, Any], chunk_size: int | None, crlf: bool
) -> None:
    if crlf and entry["wire_format"] != "sse":
        pytest.skip("CRLF line ends only matter to SSE")
    fake.add_reply(
        Reply.from_transcript(WIRE_DIR / entry["file"], chunk_size=chunk_size, crlf=crlf)
    )
    session = _session(entry, _base_url(fake, entry))
    try:
        response = session.ask("Hello")
    except ipyllm.LLMError as err:
        check_error(entry, err)
        assert session.messages == []  # a failed turn leaves the history as it was
    else:
        check_response(entry, response)
        # Compare role and content only: the message may carry more (tool calls, reasoning).
        last = session.messages[-1]
        assert (last["role"], last["content"]) == ("assistant", entry["expected_text"])
    assert len(fake.requests) == 1


def _split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    return [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True) if b > a]


class _Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> Any:
        for piece in self.pieces:
            yield piece


def _ask_split(entry: dict[str, Any], pieces: list[bytes]) -> ipyllm.Response | ipyllm.LLMError:
    spec = _registry.effective_spec(FAMILY_PROVIDER[entry["provider_family"]])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            entry["http_status"], headers=entry["response_headers"], stream=_Pieces(pieces)
        )

    provider = Provider(
        spec,
        _registry._adapter(spec.adapter),
        base_url="http://wire.test/v1",
        api_key=KEY,
        transport_factory=lambda: httpx.MockTransport(handler),
    )
    options = ipyllm.Options(model="test-model")
    try:
        return asyncio.run(provider.query_stream([], options, max_retries=0))
    except ipyllm.LLMError as err:
        return err


STREAMS = [e for e in MANIFEST if e["wire_format"] == "sse"]


@pytest.mark.parametrize("entry", STREAMS, ids=lambda e: e["file"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=40), crlf=st.booleans())
def test_any_split_gives_the_same_answer(
    entry: dict[str, Any], cuts: list[int], crlf: bool
) -> None:
    body = (WIRE_DIR / entry["file"]).read_bytes()
    if crlf:
        body = re.sub(rb"(?<!\r)\n", b"\r\n", body)
    result = _ask_split(entry, _split(body, cuts))
    if isinstance(result, ipyllm.LLMError):
        check_error(entry, result)
    else:
        check_response(entry, result)
