"""Rate-limit gates keyed by (provider, base URL, key fingerprint), through real loopback
servers: a 429's Retry-After holds back only requests that go the same way, and a limit
set for a provider applies to each of its gates with buckets of its own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

import ipyllm
from ipyllm._keys import fingerprint
from ipyllm.testing import FakeLLMServer

K1 = "sk-gate-one-0123456789abcdef"
K2 = "sk-gate-two-0123456789abcdef"
MODEL = "openai:gpt-4o-mini"
WAIT = 10.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def servers() -> Iterator[tuple[FakeLLMServer, FakeLLMServer]]:
    """Two loopback servers of the same provider (two base URLs)."""
    with FakeLLMServer(idle_timeout=60) as a, FakeLLMServer(idle_timeout=60) as b:
        yield a, b


def with_key(server: FakeLLMServer, key: str) -> int:
    """How many requests ``server`` got with ``key``."""
    return sum(r.headers.get("authorization") == f"Bearer {key}" for r in server.requests)


def test_a_429_holds_back_only_its_own_server_and_key(
    servers: tuple[FakeLLMServer, FakeLLMServer],
) -> None:
    a, b = servers
    mgr = ipyllm.manager()
    tabs = [mgr.new_tab(unique(n), MODEL) for n in ("429", "same", "server", "key")]
    first, same, other_server, other_key = tabs
    a.add_reply(status=429, headers={"retry-after": "2"})
    before = time.monotonic()  # the block starts after this, so it ends >= before + 2
    with pytest.raises(ipyllm.RateLimitError) as info:
        first.send("a", api_key=K1, base_url=a.base_url(), max_retries=0).result(WAIT)
    assert info.value.retry_after == 2
    assert mgr.limiter("openai", api_key=K1, base_url=a.base_url()).blocked_until is not None
    assert mgr.limiter("openai", api_key=K2, base_url=a.base_url()).blocked_until is None
    assert mgr.limiter("openai", api_key=K1, base_url=b.base_url()).blocked_until is None

    sent = time.monotonic()
    held = same.send("same server, same key", api_key=K1, base_url=a.base_url(), max_retries=0)
    free = [
        other_server.send("other server", api_key=K1, base_url=b.base_url(), max_retries=0),
        other_key.send("other key", api_key=K2, base_url=a.base_url(), max_retries=0),
    ]
    for handle in free:
        assert handle.result(WAIT).text == "Hello from the fake server."
    free_done = time.monotonic() - sent
    assert free_done < 1.0  # at once, not after the 2 s Retry-After
    # The held request has not reached its server yet; the others have.
    assert same.status == "streaming"
    assert (with_key(a, K1), with_key(a, K2), with_key(b, K1)) == (1, 1, 1)

    assert held.result(WAIT).text == "Hello from the fake server."
    held_done = time.monotonic() - before
    assert held_done >= 2.0 - 0.01  # it waited the Retry-After out (a lower bound)
    assert held_done < 2.0 + 1.5  # and about that long, not a retry's backoff more
    assert with_key(a, K1) == 2
    for tab in tabs:
        tab.close()


def test_batch_waits_at_the_same_gates_as_tabs(
    servers: tuple[FakeLLMServer, FakeLLMServer],
) -> None:
    a, _ = servers
    mgr = ipyllm.manager()
    tab = mgr.new_tab(unique("429"), MODEL)
    a.add_reply(status=429, headers={"retry-after": "1"})
    before = time.monotonic()
    with pytest.raises(ipyllm.RateLimitError):
        tab.send("x", api_key=K1, base_url=a.base_url(), max_retries=0).result(WAIT)

    started = time.monotonic()
    [other] = ipyllm.batch(
        ["other key"], model=MODEL, api_key=K2, base_url=a.base_url(), progress=False
    )
    assert isinstance(other, ipyllm.Response)
    assert time.monotonic() - started < 0.9  # not held: another key
    [same] = ipyllm.batch(
        ["same key"], model=MODEL, api_key=K1, base_url=a.base_url(), progress=False
    )
    assert isinstance(same, ipyllm.Response)
    held_for = time.monotonic() - before
    assert 1.0 - 0.01 <= held_for < 1.0 + 1.5  # held until the Retry-After ran out
    tab.close()


def test_a_set_limit_applies_to_every_gate_each_with_its_own_bucket(
    servers: tuple[FakeLLMServer, FakeLLMServer],
) -> None:
    a, b = servers
    mgr = ipyllm.manager()
    k1_a = mgr.limiter("openai", api_key=K1, base_url=a.base_url())
    assert mgr.limiter("openai", api_key=K1, base_url=a.base_url()) is k1_a
    mgr.set_rate_limit("openai", requests_per_minute=1, tokens_per_minute=None)
    k2_a = mgr.limiter("openai", api_key=K2, base_url=a.base_url())  # opened after the call
    k1_b = mgr.limiter("openai", api_key=K1, base_url=b.base_url())
    assert len({id(k1_a), id(k2_a), id(k1_b)}) == 3
    for gate in (k1_a, k2_a, k1_b):
        assert gate.requests_per_minute == 1
        assert gate.stats()["requests_available"] == pytest.approx(1.0)

    tab = mgr.new_tab(unique("spent"), MODEL)
    assert tab.send("x", api_key=K1, base_url=a.base_url()).result(WAIT).text
    # The request took K1@a's only slot; the other accounts' buckets are untouched.
    assert k1_a.stats()["requests_available"] == pytest.approx(0.0, abs=0.05)
    assert k2_a.stats()["requests_available"] == pytest.approx(1.0)
    assert k1_b.stats()["requests_available"] == pytest.approx(1.0)

    mgr.set_rate_limit("openai", requests_per_minute=None, tokens_per_minute=6000)
    assert [(g.requests_per_minute, g.tokens_per_minute) for g in (k1_a, k2_a, k1_b)] == [
        (None, 6000)
    ] * 3
    mgr.set_rate_limit("anthropic", requests_per_minute=5)  # another provider's gates only
    assert k1_a.requests_per_minute is None
    with pytest.raises(ipyllm.UnknownProviderError):
        mgr.set_rate_limit("no-such-provider", requests_per_minute=5)
    with pytest.raises(ValueError, match="requests_per_minute"):
        mgr.set_rate_limit("openai", requests_per_minute=0)
    assert (k1_a.requests_per_minute, k1_a.tokens_per_minute) == (None, 6000)  # unchanged
    tab.close()


def test_gates_are_named_by_a_key_fingerprint_never_the_key(
    servers: tuple[FakeLLMServer, FakeLLMServer],
) -> None:
    a, _ = servers
    mgr = ipyllm.manager()
    mgr.limiter("openai", api_key=K1, base_url=a.base_url())
    table = mgr._limiters["openai"]
    names = list(table._gates)
    assert names == [(a.base_url(), fingerprint(K1))]
    shown = repr(mgr._limiters) + repr(names) + repr(table.gates())
    assert K1 not in shown
    assert K1[:12] not in shown
