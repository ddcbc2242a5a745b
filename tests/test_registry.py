"""Model strings, base URLs, configure() and register_endpoint()."""

from __future__ import annotations

import pytest

import ipyllm
from ipyllm import _registry


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("anthropic:claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
        ("ollama:llama3.2:3b", ("ollama", "llama3.2:3b")),
        ("openrouter:deepseek/deepseek-r1:free", ("openrouter", "deepseek/deepseek-r1:free")),
        ("claude-haiku-4-5", ("anthropic", "claude-haiku-4-5")),
        ("gpt-4.1-mini", ("openai", "gpt-4.1-mini")),
        ("gemini-2.5-flash", ("gemini", "gemini-2.5-flash")),
        ("grok-4", ("xai", "grok-4")),
        ("glm-4.6", ("zai", "glm-4.6")),
        ("anthropic", ("anthropic", "claude-sonnet-4-5")),
        ("demo", ("demo", "demo")),
    ],
)
def test_parse_model(text: str, expected: tuple[str, str]) -> None:
    assert _registry.parse_model(text) == expected


def test_unknown_model_names_the_fix() -> None:
    with pytest.raises(ipyllm.UnknownProviderError) as info:
        _registry.parse_model("mystery-model")
    assert "provider:model" in str(info.value)
    assert "ollama:mystery-model" in str(info.value)


def test_unknown_provider_lists_choices() -> None:
    with pytest.raises(ipyllm.UnknownProviderError, match="anthropic"):
        ipyllm.get_provider("nosuch")


def test_twelve_providers_and_the_demo() -> None:
    names = set(_registry.provider_names())
    expected = {
        "openai", "anthropic", "gemini", "xai", "openrouter", "fireworks", "ollama",
        "lmstudio", "vllm", "minimax", "zai", "openai-compatible", "demo",
    }  # fmt: skip
    assert expected <= names


def test_base_url_order(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _registry.spec_for("openai")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert _registry.resolve_base_url(spec) == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://proxy.test/v1/")
    assert _registry.resolve_base_url(spec) == "http://proxy.test/v1"
    assert _registry.resolve_base_url(spec, "http://explicit.test/v1") == "http://explicit.test/v1"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0:11434", "http://127.0.0.1:11434"),
        ("localhost", "http://localhost:11434"),
        ("https://ollama.example:443", "https://ollama.example:443"),
        ("10.1.2.3:9999", "http://10.1.2.3:9999"),
    ],
)
def test_ollama_host(monkeypatch: pytest.MonkeyPatch, host: str, url: str) -> None:
    monkeypatch.setenv("OLLAMA_HOST", host)
    assert _registry.resolve_base_url(_registry.spec_for("ollama")) == url


def test_openai_compatible_needs_a_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPATIBLE_BASE_URL", raising=False)
    with pytest.raises(ipyllm.UnknownProviderError, match="base_url"):
        ipyllm.get_provider("openai-compatible")
    provider = ipyllm.get_provider("openai-compatible", base_url="http://127.0.0.1:9/v1")
    assert provider.base_url == "http://127.0.0.1:9/v1"


def test_register_endpoint_is_usable_as_name_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYLAB_KEY", "mylab-secret-123456")
    ipyllm.register_endpoint(
        "mylab", "http://127.0.0.1:9/v1", key_env="MYLAB_KEY", models=["m1", "m2"]
    )
    assert _registry.parse_model("mylab:m2") == ("mylab", "m2")
    assert _registry.parse_model("mylab") == ("mylab", "m1")
    provider = ipyllm.get_provider("mylab")
    assert provider.available_models() == ["m1", "m2"]
    assert "mylab-secret" not in repr(provider)


def test_configure_changes_defaults_and_refreshes_cache() -> None:
    before = ipyllm.get_provider("lmstudio")
    assert ipyllm.get_provider("lmstudio") is before  # cached
    ipyllm.configure("lmstudio", base_url="http://127.0.0.1:5555/v1", models=["a", "b"])
    after = ipyllm.get_provider("lmstudio")
    assert after is not before
    assert after.base_url == "http://127.0.0.1:5555/v1"
    assert after.available_models() == ["a", "b"]
    ipyllm.configure("lmstudio", base_url="http://127.0.0.1:1234/v1", models=["local-model"])


def test_provider_cache_distinguishes_keys_without_storing_them() -> None:
    a = ipyllm.get_provider("openai", api_key="sk-first-key-aaaaaaaaaaaaaaaa")
    b = ipyllm.get_provider("openai", api_key="sk-second-key-bbbbbbbbbbbbbbb")
    assert a is not b
    assert ipyllm.get_provider("openai", api_key="sk-first-key-aaaaaaaaaaaaaaaa") is a
    assert all("sk-first" not in str(k) for k in _registry._cache)
