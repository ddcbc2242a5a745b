"""The offline demo provider: no key, no network, a fixed answer at a realistic pace."""

from __future__ import annotations

import time

import pytest

import ipyllm
from ipyllm._providers.demo import demo_answer


def test_demo_says_it_is_the_demo_and_echoes_the_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0")
    s = ipyllm.Session("demo")
    pieces = list(s.stream("What is a pelican?"))
    assert len(pieces) > 20  # it streams, in word-sized pieces
    text = "".join(pieces)
    assert text == demo_answer("What is a pelican?")
    assert "offline demo" in text
    assert "What is a pelican?" in text
    assert s.last is not None
    assert s.last.finish_reason == "stop"
    assert s.last.tokens_out == len(pieces)
    assert ipyllm.Session("demo").ask("What is a pelican?").text == text  # deterministic


def test_demo_paces_its_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.01")
    s = ipyllm.Session("demo")
    arrivals = [time.monotonic() for _ in s.stream("hi")]
    # A lower bound only: pacing must be there; a slow machine cannot fail this.
    assert arrivals[-1] - arrivals[0] >= 0.01 * (len(arrivals) - 1) * 0.9


def test_demo_is_the_default_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    if any(ipyllm.keys.status().values()):
        pytest.skip("this machine has a provider key stored")
    assert ipyllm.default_model() == "demo:demo"
    monkeypatch.setenv("IPYLLM_MODEL", "anthropic:claude-haiku-4-5")
    assert ipyllm.default_model() == "anthropic:claude-haiku-4-5"


def test_default_model_picks_a_provider_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-test-key-123456")
    model = ipyllm.default_model()
    assert model.split(":")[0] in ("anthropic", "openai", "gemini")
    if not ipyllm.keys.get("anthropic") and not ipyllm.keys.get("openai"):
        assert model == "gemini:gemini-2.5-flash"
