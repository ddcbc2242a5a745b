"""Session behaviour against the loopback server: stop, retries, timeouts, errors."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback

import pytest

import ipyllm
from ipyllm.testing import FakeLLMServer, Reply

KEY = "test-key-session-0123456789"


def session(fake: FakeLLMServer, provider: str = "openai", **kwargs: object) -> ipyllm.Session:
    return ipyllm.Session(
        f"{provider}:m",
        api_key=KEY,
        base_url=fake.base_url(provider),
        **kwargs,  # type: ignore[arg-type]
    )


def test_ask_stream_and_history(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(["Hel", "lo", " there"], tokens_in=7, tokens_out=3))
    s = session(fake)
    assert list(s.stream("Hi")) == ["Hel", "lo", " there"]
    assert s.last is not None
    assert (s.last.text, s.last.tokens_in, s.last.tokens_out) == ("Hello there", 7, 3)
    assert s.last.finish_reason == "stop"
    assert s.last.ttft_s is not None
    assert s.last.elapsed_s is not None
    assert s.last.ttft_s <= s.last.elapsed_s
    fake.add_reply(Reply("Second."))
    r = s.ask("More")
    assert str(r) == "Second."
    assert r._repr_markdown_() == "Second."
    assert fake.requests[-1].json["messages"][-3:] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there"},
        {"role": "user", "content": "More"},
    ]


def test_breaking_out_of_stream_closes_the_connection(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply([f"w{i} " for i in range(200)], delay_s=0.02))
    s = session(fake)
    received = []
    for piece in s.stream("long please"):
        received.append(piece)
        if len(received) == 3:
            break
    assert fake.wait_for_disconnect(5)
    assert s.last is not None
    assert s.last.finish_reason == "stopped"
    assert s.last.text.startswith("".join(received))
    assert s.messages[-1] == {"role": "assistant", "content": s.last.text}


def test_stop_from_another_thread_keeps_the_partial(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply([f"w{i} " for i in range(200)], delay_s=0.02))
    s = session(fake)
    threading.Timer(0.3, s.stop).start()
    started = time.monotonic()
    r = s.ask("long please")
    assert time.monotonic() - started < 3.5  # the whole answer takes 4 s
    assert r.finish_reason == "stopped"
    assert 0 < len(r.text) < len("".join(f"w{i} " for i in range(200)))
    assert fake.wait_for_disconnect(5)


def test_cancelling_astream_closes_the_connection(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply([f"w{i} " for i in range(200)], delay_s=0.02))
    s = session(fake, "anthropic")

    async def consume() -> None:
        async for _ in s.astream("long please"):
            pass

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert fake.wait_for_disconnect(5)
    assert s.last is not None
    assert s.last.finish_reason == "stopped"
    assert s.last.text


def test_aask(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply("async answer"))
    assert asyncio.run(session(fake, "gemini").aask("hi")).text == "async answer"


def test_ask_works_inside_a_running_event_loop(fake: FakeLLMServer) -> None:
    # A notebook cell runs inside the kernel's loop; blocking ask must still work.
    fake.add_reply(Reply("from inside a loop"))
    s = session(fake)

    async def cell() -> str:
        return s.ask("hi").text

    assert asyncio.run(cell()) == "from inside a loop"


def test_retries_server_errors_before_the_first_token(fake: FakeLLMServer) -> None:
    fake.add_reply(status=503)
    fake.add_reply(status=529)
    fake.add_reply(Reply("third time lucky"))
    assert session(fake, "anthropic", max_retries=2).ask("hi").text == "third time lucky"
    assert len(fake.requests) == 3


def test_gives_up_after_max_retries(fake: FakeLLMServer) -> None:
    for _ in range(3):
        fake.add_reply(status=500, error_message="boom")
    with pytest.raises(ipyllm.ServerError, match="boom"):
        session(fake, max_retries=1).ask("hi")
    assert len(fake.requests) == 2


def test_honours_retry_after(fake: FakeLLMServer) -> None:
    fake.add_reply(status=429, headers={"retry-after": "0.6"})
    fake.add_reply(Reply("after waiting"))
    started = time.monotonic()
    assert session(fake).ask("hi").text == "after waiting"
    assert time.monotonic() - started >= 0.6


def test_does_not_wait_for_a_long_retry_after(fake: FakeLLMServer) -> None:
    fake.add_reply(status=429, headers={"retry-after": "3600"})
    started = time.monotonic()
    with pytest.raises(ipyllm.RateLimitError) as info:
        session(fake).ask("hi")
    assert time.monotonic() - started < 2
    assert info.value.retry_after == 3600
    assert "3600" in str(info.value)


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_not_retried(fake: FakeLLMServer, status: int) -> None:
    fake.add_reply(status=status)
    with pytest.raises(ipyllm.LLMError) as info:
        session(fake).ask("hi")
    assert info.value.status == status
    assert len(fake.requests) == 1


def test_never_retries_once_text_was_delivered(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(["one ", "two ", "three"], error_after=2, status=503))
    fake.add_reply(Reply("must not be used"))
    with pytest.raises(ipyllm.ServerError) as info:
        session(fake).ask("hi")
    assert info.value.partial == "one two "
    assert info.value.mid_stream
    assert len(fake.requests) == 1


def test_drop_before_first_token_is_retried(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply("lost", drop_after=0))
    fake.add_reply(Reply("second try"))
    assert session(fake).ask("hi").text == "second try"


def test_drop_mid_stream_raises_with_the_partial(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(["a ", "b ", "c ", "d"], drop_after=2))
    with pytest.raises(ipyllm.StreamError) as info:
        session(fake, "ollama").ask("hi")
    assert info.value.partial == "a b "
    assert "try again" in str(info.value)


def test_idle_timeout(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(["a ", "b"], stall_after=1, stall_s=10))
    started = time.monotonic()
    with pytest.raises(ipyllm.TimeoutError) as info:
        session(fake, timeout=0.5, max_retries=0).ask("hi")
    assert time.monotonic() - started < 5  # the read timeout, not the 10 s stall
    assert info.value.partial == "a "


def test_connection_refused_names_the_url() -> None:
    s = ipyllm.Session("openai:m", api_key=KEY, base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(ipyllm.ConnectionError, match=r"127\.0\.0\.1:9"):
        s.ask("hi")


def test_missing_key_names_both_fixes() -> None:
    s = ipyllm.Session("xai:grok-4", base_url="http://127.0.0.1:9/v1")
    if ipyllm.keys.get("xai"):
        pytest.skip("a real xai key is stored in this machine's keyring")
    with pytest.raises(ipyllm.MissingKeyError) as info:
        s.ask("hi")
    assert "XAI_API_KEY" in str(info.value)
    assert "ipyllm.keys.set" in str(info.value)


def test_a_busy_session_refuses_a_second_prompt(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply([f"w{i} " for i in range(50)], delay_s=0.02))
    s = session(fake)
    stream = s.stream("first")
    next(stream)
    with pytest.raises(ipyllm.TabBusyError, match="still answering"):
        s.ask("second")
    stream.close()


def test_unknown_option_is_a_type_error(fake: FakeLLMServer) -> None:
    with pytest.raises(TypeError, match="temprature"):
        session(fake).ask("hi", temprature=0.2)


def test_one_provider_serves_many_streams_at_once(fake: FakeLLMServer) -> None:
    texts = [f"answer number {i} " * 5 for i in range(12)]
    for text in texts:
        fake.add_reply(Reply(text, delay_s=0.005))
    provider = ipyllm.get_provider("anthropic", api_key=KEY, base_url=fake.base_url("anthropic"))

    async def main() -> list[str]:
        async def one() -> str:
            r = await provider.query_stream(
                [{"role": "user", "content": "hi"}], ipyllm.Options(model="m")
            )
            return r.text

        return await asyncio.gather(*(one() for _ in texts))

    assert sorted(asyncio.run(main())) == sorted(texts)


def test_the_key_never_leaks(fake: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    planted = "sk-planted-SECRET-0123456789abcdef"
    caplog.set_level(logging.DEBUG)
    # A hostile server echoes the key back, in an error body and mid-stream.
    fake.add_reply(status=401, error_message=f"Incorrect API key provided: {planted}")
    fake.add_reply(Reply(["x"], error_after=1, status=500, error_message=f"bad {planted}"))
    s = ipyllm.Session("openai:m", api_key=planted, base_url=fake.base_url("openai"))
    seen = [repr(s), repr(s.provider), str(ipyllm.get_provider("openai", api_key=planted))]
    for _ in range(2):
        with pytest.raises(ipyllm.LLMError) as info:
            s.ask("hi")
        err = info.value
        seen += [str(err), repr(err), "".join(traceback.format_exception(err))]
    assert fake.requests[0].headers["authorization"] == f"Bearer {planted}"  # it was used
    seen += [record.getMessage() for record in caplog.records]
    for text in seen:
        assert planted not in text
    assert "[REDACTED]" in seen[3]


def test_stop_during_astream_ends_it_normally(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply([f"w{i} " for i in range(200)], delay_s=0.02))
    s = session(fake)

    async def main() -> str:
        asyncio.get_running_loop().call_later(0.3, s.stop)
        return "".join([piece async for piece in s.astream("long please")])

    text = asyncio.run(main())
    assert s.last is not None
    assert s.last.finish_reason == "stopped"
    assert text == s.last.text
    assert text
    assert fake.wait_for_disconnect(5)


def test_stop_during_stream_yields_exactly_the_partial(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply([f"w{i} " for i in range(200)], delay_s=0.02))
    s = session(fake)
    threading.Timer(0.3, s.stop).start()
    text = "".join(s.stream("long please"))
    assert s.last is not None
    assert s.last.finish_reason == "stopped"
    assert text == s.last.text
