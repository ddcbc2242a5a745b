"""cost_usd: genai-prices' bundled prices, never a guess, never a crash, never the network."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import genai_prices
import pytest
from genai_prices import Usage, calc_price
from genai_prices.data import providers as genai_providers

from ipyllm._manager import cost
from ipyllm._manager.cost import FREE_PROVIDERS, GENAI_PRICES_PROVIDER, cost_usd
from ipyllm._providers.catalog import BUILTIN


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cost._is_priced.cache_clear()
    yield
    cost._is_priced.cache_clear()


def _their_price(provider_id: str, model: str, tokens_in: int, tokens_out: int) -> float:
    usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    return float(calc_price(usage, model_ref=model, provider_id=provider_id).total_price)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "gpt-4o-mini"),
        ("gemini", "gemini-2.5-flash"),
        ("xai", "grok-4"),
        ("openrouter", "anthropic/claude-sonnet-4.5"),
        ("minimax", "MiniMax-M2"),
        ("zai", "glm-4.6"),
    ],
)
def test_known_model_costs_what_genai_prices_says(provider: str, model: str) -> None:
    got = cost_usd(provider, model, 12_345, 6_789)
    assert got is not None
    assert got > 0
    assert got == _their_price(GENAI_PRICES_PROVIDER[provider], model, 12_345, 6_789)


def test_claude_sonnet_price_is_per_million_tokens() -> None:
    # A sanity anchor: $3 in and $15 out per million tokens for Sonnet 4.5 up to
    # 200k input tokens; above that the long-context price applies.
    assert cost_usd("anthropic", "claude-sonnet-4-5", 100_000, 100_000) == pytest.approx(1.8)
    assert cost_usd("anthropic", "claude-sonnet-4-5", 1_000_000, 1_000_000) == pytest.approx(28.5)


def test_zero_tokens_cost_zero_for_a_known_model() -> None:
    assert cost_usd("openai", "gpt-4o-mini", 0, 0) == 0.0


def test_unknown_model_is_none() -> None:
    assert cost_usd("openai", "gpt-does-not-exist", 100, 100) is None
    assert cost_usd("openrouter", "openrouter/auto", 100, 100) is None  # routed: price unknowable
    assert cost_usd("openai", "", 100, 100) is None


def test_unknown_provider_is_none() -> None:
    assert cost_usd("no-such-provider", "gpt-4o-mini", 100, 100) is None
    # An arbitrary endpoint could serve anything at any price.
    assert cost_usd("openai-compatible", "gpt-4o-mini", 100, 100) is None


@pytest.mark.parametrize(("tokens_in", "tokens_out"), [(None, 9), (9, None), (None, None), (-1, 5)])
def test_missing_or_bad_counts_are_none(tokens_in: int | None, tokens_out: int | None) -> None:
    assert cost_usd("anthropic", "claude-sonnet-4-5", tokens_in, tokens_out) is None


@pytest.mark.parametrize("provider", ["demo", "ollama", "lmstudio", "vllm"])
def test_offline_and_local_providers_are_free(provider: str) -> None:
    assert cost_usd(provider, "whatever-model", 1000, 1000) == 0.0
    assert cost_usd(provider, "whatever-model", None, None) == 0.0  # free whatever the count


def test_every_catalog_provider_is_priced_free_or_deliberately_unpriced() -> None:
    names = {spec.name for spec in BUILTIN}
    unpriced = names - GENAI_PRICES_PROVIDER.keys() - FREE_PROVIDERS
    assert unpriced == {"openai-compatible"}


def test_every_mapped_id_exists_in_genai_prices() -> None:
    ids = {p.id for p in genai_providers}
    assert set(GENAI_PRICES_PROVIDER.values()) <= ids


def test_a_genai_prices_failure_is_none_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("price table exploded")

    monkeypatch.setattr(genai_prices, "calc_price", broken)
    with caplog.at_level(logging.DEBUG, logger="ipyllm"):
        assert cost_usd("anthropic", "claude-sonnet-4-5", 100, 100) is None
    assert "price table exploded" in caplog.text


def test_a_failure_after_the_model_is_known_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cost_usd("openai", "gpt-4o-mini", 1, 1) is not None  # now cached as known

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("bad usage")

    monkeypatch.setattr(genai_prices, "calc_price", broken)
    assert cost_usd("openai", "gpt-4o-mini", 1, 1) is None


def test_unknown_model_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(usage: Any, model_ref: str, **kwargs: Any) -> Any:
        calls.append(model_ref)
        return calc_price(usage, model_ref, **kwargs)

    monkeypatch.setattr(genai_prices, "calc_price", counting)
    for _ in range(3):
        assert cost_usd("openai", "gpt-not-real", 10, 10) is None
    assert calls == ["gpt-not-real"]


def test_no_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cost_usd("gemini", "gemini-2.5-pro", 300_000, 1000) is not None


def test_pricing_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for provider, model in [
        ("anthropic", "claude-haiku-4-5"),
        ("gemini", "gemini-2.5-pro"),
        ("fireworks", "accounts/fireworks/models/qwen3-235b-a22b"),
        ("openai", "unknown-model-x"),
    ]:
        cost_usd(provider, model, 1000, 1000)
    assert cost_usd("openai", "gpt-5-mini", 1000, 1000) is not None
    assert attempts == []


def test_importing_cost_does_not_import_genai_prices() -> None:
    code = (
        "import sys, ipyllm._manager.cost; "
        "assert 'genai_prices' not in sys.modules, 'imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
