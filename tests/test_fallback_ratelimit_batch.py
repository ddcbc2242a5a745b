"""Fallback across providers, shared rate limits and Retry-After, and ``ipyllm.batch``,
against the loopback server."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

import ipyllm
from ipyllm import _registry
from ipyllm._manager.tab import Tab
from ipyllm._providers.demo import demo_answer
from ipyllm.testing import FakeLLMServer, Reply
from waiting import wait_until

KEY = "test-key-fallback-0123456789"
ANTHROPIC_KEY = "test-key-anthropic-0123456789"
WAIT = 10.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---- fallback ------------------------------------------------------------------------


@pytest.fixture
def anthropic_on_fake(fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the anthropic provider at the fake server (a fallback model gets no
    api_key/base_url of its own), and put configure() back afterwards."""
    with _registry._lock:
        saved = dict(_registry._overrides.get("anthropic", {}))
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    ipyllm.configure("anthropic", base_url=fake.base_url("anthropic"))
    yield
    with _registry._lock:
        if saved:
            _registry._overrides["anthropic"] = saved
        else:
            _registry._overrides.pop("anthropic", None)
    _registry.retire_stale("anthropic")


def two_models(fake: FakeLLMServer, max_retries: int = 2) -> ipyllm.Session:
    return ipyllm.Session(
        ["openai:m1", "anthropic:m2"],
        api_key=KEY,
        base_url=fake.base_url("openai"),
        max_retries=max_retries,
    )


def served_by(fake: FakeLLMServer) -> list[str]:
    """Which API each request went to, in order."""
    return ["anthropic" if r.path.endswith("/messages") else "openai" for r in fake.requests]


@pytest.mark.usefixtures("anthropic_on_fake")
@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(Reply(status=401), id="401"),
        pytest.param(Reply(status=503), id="503"),
        pytest.param(Reply(["never", " seen"], drop_after=0), id="drop-before-first-token"),
        pytest.param(Reply(status=404), id="404"),
        # Another model may have a larger context: a context-length error falls through.
        pytest.param(
            Reply(
                status=400,
                body=b'{"error": {"message": "This model\'s maximum context length is 8192 '
                b'tokens.", "type": "invalid_request_error", "code": "context_length_exceeded"}}',
            ),
            id="context-length",
        ),
    ],
)
def test_failure_before_the_first_token_falls_through(fake: FakeLLMServer, failure: Reply) -> None:
    fake.add_reply(failure)
    fake.add_reply(Reply(["From ", "Claude."], tokens_in=4, tokens_out=2))
    s = two_models(fake, max_retries=0)
    r = s.ask(unique("which"))
    assert (r.text, r.provider, r.model) == ("From Claude.", "anthropic", "m2")
    assert served_by(fake) == ["openai", "anthropic"]
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert fake.requests[1].headers["x-api-key"] == ANTHROPIC_KEY  # its own key, not KEY
    assert fake.requests[1].json["model"] == "m2"
    turn = s.tab.last
    assert turn is not None
    assert (turn.status, turn.answered_by, turn.model) == ("done", "anthropic:m2", "openai:m1")
    assert (turn.tokens_in, turn.tokens_out) == (4, 2)
    s.tab.close()


@pytest.mark.usefixtures("anthropic_on_fake")
def test_failure_after_the_first_token_does_not_fall_through(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(["Half ", "an ", "answer"], error_after=2, status=503))
    fake.add_reply(Reply("Should not be asked."))
    s = two_models(fake, max_retries=0)
    with pytest.raises(ipyllm.LLMError) as info:
        s.ask(unique("midway"))
    assert info.value.partial == "Half an "
    assert served_by(fake) == ["openai"]
    assert fake.pending_replies == 1
    assert s.tab.status == "error"
    assert s.tab.text == "Half an "
    assert s.last is not None
    assert s.last.text == "Half an "
    assert s.tab.last is not None
    assert s.tab.last.answered_by == "openai:m1"
    s.tab.close()


@pytest.mark.usefixtures("anthropic_on_fake")
def test_bad_request_does_not_fall_through(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(status=400, error_message="messages: field required"))
    fake.add_reply(Reply("Should not be asked."))
    s = two_models(fake)  # retries on: a 400 is neither retried nor passed on
    with pytest.raises(ipyllm.BadRequestError, match="field required"):
        s.ask(unique("bad"))
    assert served_by(fake) == ["openai"]
    assert s.tab.status == "error"
    s.tab.close()


@pytest.mark.usefixtures("anthropic_on_fake")
def test_every_model_failing_raises_the_last_error(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(status=401))
    fake.add_reply(Reply(status=529))
    s = two_models(fake, max_retries=0)
    with pytest.raises(ipyllm.ServerError) as info:
        s.ask(unique("nobody"))
    assert info.value.provider == "anthropic"
    assert served_by(fake) == ["openai", "anthropic"]
    assert s.tab.status == "error"
    assert s.tab.error == str(info.value)
    s.tab.close()


@pytest.mark.usefixtures("anthropic_on_fake")
def test_fallback_argument_and_tab_send_model_list(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(status=401))
    fake.add_reply(Reply("Backup."))
    s = ipyllm.Session(
        "openai:m1",
        api_key=KEY,
        base_url=fake.base_url("openai"),
        fallback=["anthropic:m2"],
        max_retries=0,
    )
    assert s.models == ["openai:m1", "anthropic:m2"]
    assert s.ask("x").provider == "anthropic"
    s.tab.close()

    tab = ipyllm.manager().new_tab(unique("fallback"), "openai:m1")
    fake.add_reply(Reply(status=401))
    fake.add_reply(Reply("Via tab."))
    handle = tab.send(
        "y", fallback=["anthropic:m2"], api_key=KEY, base_url=fake.base_url(), max_retries=0
    )
    assert handle.result(WAIT).provider == "anthropic"
    assert tab.last is not None
    assert tab.last.answered_by == "anthropic:m2"
    tab.close()


# ---- rate limits ---------------------------------------------------------------------


@pytest.fixture
def endpoint(fake: FakeLLMServer) -> Iterator[str]:
    """An OpenAI-compatible endpoint on the fake server with a limiter no other test shares
    (a Retry-After block cannot be shortened, so isolation is by name)."""
    name = unique("ep")
    ipyllm.register_endpoint(name, fake.base_url("openai"))
    yield name
    ipyllm.manager().set_rate_limit(name, None, None)


def run_turns(tab: Tab, count: int, done_at: list[float], errors: list[BaseException]) -> None:
    for i in range(count):
        try:
            handle = tab.send(f"{tab.title} #{i}", api_key=KEY, max_retries=0)
            handle.result(WAIT)
            done_at.append(time.monotonic())
        except BaseException as exc:
            errors.append(exc)


def test_rate_limit_spaces_requests_across_tabs(fake: FakeLLMServer, endpoint: str) -> None:
    mgr = ipyllm.manager()
    limiter = mgr.limiter(endpoint, api_key=KEY)
    # A bucket of one request, then 120 rpm: a changed limit keeps its level (1),
    # so the first request goes at once and each later one waits 0.5 s.
    started = time.monotonic()  # before the bucket starts refilling
    mgr.set_rate_limit(endpoint, requests_per_minute=1)
    mgr.set_rate_limit(endpoint, requests_per_minute=120)
    stats = limiter.stats()
    assert stats["requests_per_minute"] == 120
    assert stats["requests_available"] == pytest.approx(1.0, abs=0.05)

    tabs = [mgr.new_tab(unique("limited"), f"{endpoint}:m") for _ in range(2)]
    done_at: list[float] = []
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=run_turns, args=(t, 2, done_at, errors), daemon=True) for t in tabs
    ]
    for t in threads:
        t.start()
    assert wait_until(lambda: limiter.stats()["waiting"] == 1)  # one tab is held
    for t in threads:
        t.join(WAIT)
    assert errors == []
    assert len(done_at) == 4
    assert len(fake.requests) == 4
    offsets = sorted(t - started for t in done_at)
    # Request k may start no earlier than 0.5 s * k after the limit was set (lower
    # bounds only: a loaded machine may make a request later, never earlier).
    for k, offset in enumerate(offsets):
        assert offset >= 0.5 * k - 0.01, offsets
    assert offsets[-1] < 5  # and the limiter let them all through
    for tab in tabs:
        tab.close()


def test_retry_after_on_one_tab_holds_the_others(fake: FakeLLMServer, endpoint: str) -> None:
    mgr = ipyllm.manager()
    a = mgr.new_tab(unique("429"), f"{endpoint}:m")
    b = mgr.new_tab(unique("held"), f"{endpoint}:m")
    fake.add_reply(Reply(status=429, headers={"retry-after": "1"}))
    fake.add_reply(Reply("After the wait."))
    started = time.monotonic()
    first = a.send("a", api_key=KEY, max_retries=0)
    with pytest.raises(ipyllm.RateLimitError) as info:
        first.result(WAIT)
    assert info.value.retry_after == 1
    assert a.status == "error"
    assert mgr.limiter(endpoint, api_key=KEY).blocked_until is not None
    second = b.send("b", api_key=KEY, max_retries=0)
    time.sleep(0.4)
    assert len(fake.requests) == 1  # b has not reached the server yet
    assert b.status == "streaming"
    assert second.wait(WAIT)
    assert time.monotonic() - started >= 0.95
    assert (b.status, b.text) == ("done", "After the wait.")
    assert len(fake.requests) == 2
    a.close()
    b.close()


def test_limits_are_per_provider(fake: FakeLLMServer, endpoint: str) -> None:
    other = unique("ep-free")
    ipyllm.register_endpoint(other, fake.base_url("openai"))
    mgr = ipyllm.manager()
    assert mgr.limiter(endpoint, api_key=KEY) is mgr.limiter(endpoint, api_key=KEY)
    assert mgr.limiter(endpoint, api_key=KEY) is not mgr.limiter(other, api_key=KEY)
    mgr.limiter(endpoint, api_key=KEY).block_for(30)  # this endpoint is held for 30 s ...
    tab = mgr.new_tab(unique("free"), f"{other}:m")
    fake.add_reply(Reply("Not held."))
    started = time.monotonic()
    assert tab.send("x", api_key=KEY).wait(WAIT)  # ... the other is not
    assert time.monotonic() - started < 5
    assert tab.text == "Not held."
    tab.close()


def test_a_turn_waiting_for_the_limit_can_be_stopped(fake: FakeLLMServer, endpoint: str) -> None:
    mgr = ipyllm.manager()
    mgr.limiter(endpoint, api_key=KEY).block_for(30)
    tab = mgr.new_tab(unique("waiting"), f"{endpoint}:m")
    handle = tab.send("held", api_key=KEY)
    assert wait_until(lambda: mgr.limiter(endpoint, api_key=KEY).stats()["waiting"] == 1)
    started = time.monotonic()
    tab.stop()
    assert handle.wait(WAIT)
    assert time.monotonic() - started < 5  # not the 30 s block
    assert (tab.status, tab.text) == ("stopped", "")
    assert fake.requests == []  # it never reached the server
    assert mgr.limiter(endpoint, api_key=KEY).stats()["waiting"] == 0  # and left the queue
    tab.close()


# ---- batch ---------------------------------------------------------------------------


def test_batch_returns_results_in_input_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo answers each prompt by quoting it, word by word: a long prompt takes
    # longer, so the short ones finish first.
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.004")
    long = [f"L{i} " + "a " * 60 for i in range(3)]
    short = [f"S{i}" for i in range(3)]
    prompts = [long[0], short[0], long[1], short[1], long[2], short[2]]
    results = ipyllm.batch(prompts, model="demo:demo", concurrency=3, progress=False)
    assert len(results) == len(prompts)
    for prompt, r in zip(prompts, results, strict=True):
        assert isinstance(r, ipyllm.Response), r
        assert r.text == demo_answer(prompt)
        assert r.cost == 0.0
    # The setup did what it meant to: completion order differs from input order.
    elapsed = [r.elapsed_s or 0.0 for r in results if isinstance(r, ipyllm.Response)]
    assert sum(elapsed[0::2]) > sum(elapsed[1::2])


def test_batch_failure_stays_in_its_slot(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply("one"))
    fake.add_reply(Reply(status=401))
    fake.add_reply(Reply("three"))
    results = ipyllm.batch(
        ["p1", "p2", "p3"],
        model="openai:m",
        concurrency=1,  # one at a time: the server's replies go to the prompts in order
        progress=False,
        api_key=KEY,
        base_url=fake.base_url("openai"),
        max_retries=0,
    )
    assert isinstance(results[0], ipyllm.Response)
    assert results[0].text == "one"
    assert isinstance(results[1], ipyllm.AuthenticationError)
    assert isinstance(results[2], ipyllm.Response)
    assert results[2].text == "three"
    assert [r.json["messages"][-1]["content"] for r in fake.requests] == ["p1", "p2", "p3"]


def test_batch_respects_concurrency(fake: FakeLLMServer) -> None:
    for _ in range(6):
        fake.add_reply(Reply(["a", "b", "c", "d"], delay_s=0.1))  # 0.4 s or more each
    out: list[list[ipyllm.Response | ipyllm.LLMError]] = []
    started = time.monotonic()
    worker = threading.Thread(
        target=lambda: out.append(
            ipyllm.batch(
                [f"p{i}" for i in range(6)],
                model="openai:m",
                concurrency=3,
                progress=False,
                api_key=KEY,
                base_url=fake.base_url("openai"),
            )
        ),
        daemon=True,
    )
    worker.start()
    assert wait_until(lambda: len(fake.requests) >= 1, 5)
    # No request ends within 0.4 s of its arrival, so until then at most `concurrency`
    # requests can have arrived; with 3 allowed, 3 do.
    window_end = time.monotonic() + 0.25
    seen = []
    while time.monotonic() < window_end:
        seen.append(len(fake.requests))
        time.sleep(0.005)
    assert max(seen) == 3, seen
    worker.join(WAIT)
    assert out
    assert all(isinstance(r, ipyllm.Response) and r.text == "abcd" for r in out[0])
    assert len(fake.requests) == 6
    assert time.monotonic() - started >= 0.8  # two waves of at least 0.4 s


def test_batch_rejects_zero_concurrency() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        ipyllm.batch(["x"], model="demo:demo", concurrency=0, progress=False)


@pytest.mark.usefixtures("restore_provider_settings")
def test_batch_takes_prompts_with_attachments(fake: FakeLLMServer) -> None:
    from attachment_samples import TINY_PDF, png

    name = unique("imgs")
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"], attachments={"image"})
    image = ipyllm.Image(png(20, 10))
    # A kind the endpoint does not take (any prompt's) is refused before any request.
    with pytest.raises(ipyllm.AttachmentError):
        ipyllm.batch(
            ["plain", ["Read this.", ipyllm.File(TINY_PDF)]], model=f"{name}:m", progress=False
        )
    with pytest.raises(ipyllm.AttachmentError):
        ipyllm.batch([["What is", 42]], model=f"{name}:m", progress=False)
    assert fake.requests == []
    fake.add_reply(Reply("one"))
    fake.add_reply(Reply("two"))
    results = ipyllm.batch(
        ["Just text.", ["What is", image, "in this picture?"]],
        model=f"{name}:m",
        concurrency=1,
        progress=False,
    )
    assert [r.text for r in results if isinstance(r, ipyllm.Response)] == ["one", "two"]
    first, second = (r.json["messages"][-1]["content"] for r in fake.requests)
    assert first == "Just text."
    assert [p["type"] for p in second] == ["image_url", "text"]
    assert second[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert second[1]["text"] == "What is\n\nin this picture?"
