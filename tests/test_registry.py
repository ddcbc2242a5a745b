"""Model strings, base URLs, configure() and register_endpoint(): the one table of effective
provider specs every reader sees, and the provider cache keyed by it."""

from __future__ import annotations

import asyncio
import gc
import uuid
import warnings
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import ipyllm
from ipyllm import _registry
from ipyllm._manager.manager import SessionManager
from ipyllm._panel.controller import PanelController
from ipyllm._panel.state import provider_infos
from ipyllm._providers.catalog import BUILTIN
from ipyllm.testing import FakeLLMServer, Reply
from waiting import wait_until

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from ipyllm import Provider


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
    spec = _registry.effective_spec("openai")
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
    assert _registry.resolve_base_url(_registry.effective_spec("ollama")) == url


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


# ---- one table of effective specs: configure() is seen by every reader ---------------


class PanelModel:
    """Plays the panel widget: the traits a controller sets, and what it sends."""

    def __init__(self) -> None:
        self.tabs: list[dict[str, Any]] = []
        self.providers: list[dict[str, Any]] = []
        self.default_model = ""
        self.sent: list[dict[str, Any]] = []

    def send(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.sent.append(content)


def picker(name: str) -> dict[str, Any]:
    """``name``'s entry in the providers trait of a fresh panel (the model picker)."""
    manager = SessionManager()
    model = PanelModel()
    controller = PanelController(model, manager)
    try:
        return next(p for p in model.providers if p["name"] == name)
    finally:
        controller.close()


@pytest.mark.usefixtures("restore_provider_settings")
def test_configured_models_and_default_model_reach_every_reader(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    ipyllm.configure("ollama", models=["llama3.2", "qwen3:8b"], default_model="qwen3:8b")
    assert ipyllm.Session("ollama").model == "ollama:qwen3:8b"
    assert _registry.parse_model("ollama") == ("ollama", "qwen3:8b")
    assert _registry.effective_spec("ollama").default_model == "qwen3:8b"
    assert ipyllm.get_provider("ollama").available_models() == ["llama3.2", "qwen3:8b"]
    entry = picker("ollama")
    assert entry["models"] == ["llama3.2", "qwen3:8b"]
    assert entry["default_model"] == "qwen3:8b"
    assert {p["name"]: p for p in provider_infos()}["ollama"]["models"] == entry["models"]
    capsys.readouterr()
    ip.run_line_magic("llm", "models")
    out = capsys.readouterr().out
    assert "ollama: llama3.2, qwen3:8b\n" in out
    assert "gemma3" not in out  # the catalog's list is replaced, not added to


@pytest.mark.usefixtures("restore_provider_settings")
def test_the_default_model_is_the_configured_one(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789abcdef")
    ipyllm.configure("anthropic", default_model="claude-haiku-4-5")
    expected = "anthropic:claude-haiku-4-5"
    assert ipyllm.default_model() == expected
    assert ipyllm.Session().model == expected
    assert SessionManager().new_tab().model == expected
    manager = SessionManager()
    model = PanelModel()
    PanelController(model, manager).close()
    assert model.default_model == expected
    capsys.readouterr()
    ip.run_line_magic("llm", "default")
    assert capsys.readouterr().out.strip() == expected


@pytest.mark.usefixtures("restore_provider_settings")
def test_configure_settings_on_top_of_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "10.1.2.3:9999")
    ipyllm.configure("ollama", base_url="http://127.0.0.1:7777")
    # configure()'s base URL wins over the environment's, which wins over the default.
    assert _registry.resolve_base_url(_registry.effective_spec("ollama")) == (
        "http://127.0.0.1:7777"
    )
    ipyllm.configure("openrouter", headers={"X-Team": "lab"})
    headers = _registry.effective_spec("openrouter").headers
    assert headers == {"X-Title": "ipyllm", "X-Team": "lab"}  # added to the row's
    assert BUILTIN[[s.name for s in BUILTIN].index("openrouter")].headers == {"X-Title": "ipyllm"}


def test_key_status_lives_in_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _registry.key_status("ollama") == "none"
    monkeypatch.setenv("XAI_API_KEY", "xai-test-0123456789abcdef")
    assert _registry.key_status("xai") == "env"
    with pytest.raises(ipyllm.UnknownProviderError):
        _registry.key_status("nosuch")


# ---- the provider cache: one object per effective configuration ----------------------


@pytest.fixture
def endpoint(fake: FakeLLMServer) -> str:
    """A keyless endpoint on the loopback server; returns its name."""
    name = f"cache{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
    return name


def clients(provider: Provider) -> list[httpx.AsyncClient]:
    with provider._clients_lock:
        return list(provider._clients.values())


def test_a_configure_that_changes_nothing_keeps_the_provider(endpoint: str) -> None:
    before = ipyllm.get_provider(endpoint)
    ipyllm.configure(endpoint, models=["m"])  # what the row says already
    assert ipyllm.get_provider(endpoint) is before
    ipyllm.configure(endpoint, deadline=30)  # a limit is part of the configuration
    after = ipyllm.get_provider(endpoint)
    assert after is not before
    assert after.limits.deadline == 30


def test_configure_closes_the_replaced_providers_client(fake: FakeLLMServer, endpoint: str) -> None:
    fake.add_reply(Reply("one"))
    assert ipyllm.Session(f"{endpoint}:m").ask("hi").text == "one"  # on the worker loop
    old = ipyllm.get_provider(endpoint)
    [client] = clients(old)
    assert not client.is_closed
    ipyllm.configure(endpoint, models=["m", "n"])
    assert wait_until(lambda: client.is_closed, timeout=5)
    assert clients(old) == []
    new = ipyllm.get_provider(endpoint)
    assert new is not old
    assert new.available_models() == ["m", "n"]
    fake.add_reply(Reply("two"))
    assert ipyllm.Session(f"{endpoint}:m").ask("again").text == "two"
    assert [c.is_closed for c in clients(new)] == [False]


def test_a_stream_in_flight_keeps_its_connection_until_it_ends(
    fake: FakeLLMServer, endpoint: str
) -> None:
    pieces = ["alpha ", "beta ", "gamma ", "delta"]
    fake.add_reply(Reply(pieces, delay_s=0.05))
    session = ipyllm.Session(f"{endpoint}:m")
    old = ipyllm.get_provider(endpoint)
    gc.collect()  # what earlier tests left is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stream = session.stream("hi")
        first = next(stream)
        [client] = clients(old)
        ipyllm.register_endpoint(endpoint, fake.base_url("openai"), models=["m", "x"])
        assert not client.is_closed  # busy: closed when its stream ends, not cut
        assert first + "".join(stream) == "".join(pieces)
        assert wait_until(lambda: client.is_closed, timeout=5)
        del stream, session, old  # a connection left open would warn when collected
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_retired_provider_still_answers_and_keeps_no_connection(
    fake: FakeLLMServer, endpoint: str
) -> None:
    fake.models = ["alpha-1"]
    old = ipyllm.get_provider(endpoint)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(old.list_models()) == ["alpha-1"]
        [client] = clients(old)
        ipyllm.configure(endpoint, models=["m", "n"])  # its loop is not running: closed now
        assert client.is_closed
        assert loop.run_until_complete(old.list_models()) == ["alpha-1"]
        assert clients(old) == []  # a retired provider closes each client after use
    finally:
        loop.close()
