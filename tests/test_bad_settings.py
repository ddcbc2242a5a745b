"""Bad settings get one line, before any request or history row (issue 9, part 7):
base URLs must be ``http(s)`` with a host, model names must not be empty."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from IPython.core.error import UsageError

import ipyllm
from ipyllm import _registry
from ipyllm._magic.magics import LLMMagics
from ipyllm.testing import FakeLLMServer

# configure() and %llm config change process-wide settings: undone after each test.
pytestmark = pytest.mark.usefixtures("restore_provider_settings")


BAD_URLS = [
    "",
    "   ",
    "javascript:alert(1)",
    "localhost:8000",
    "ftp://files.example/v1",
    "http://",
    "https:///v1",
    "http://host:99999/v1",
    "http://host\n.example/v1",
    "http://[not-ipv6/v1",
]


def one_line(err: BaseException) -> str:
    message = str(err)
    assert message
    assert "\n" not in message
    return message


@pytest.mark.parametrize("url", BAD_URLS)
def test_configure_refuses_a_bad_base_url_and_changes_nothing(url: str) -> None:
    before = ipyllm.get_provider("lmstudio").base_url
    with pytest.raises(ipyllm.ConfigurationError) as info:
        ipyllm.configure("lmstudio", base_url=url, models=["still-not-applied"])
    assert "ipyllm.configure('lmstudio')" in one_line(info.value)
    assert isinstance(info.value, ipyllm.LLMError)
    provider = ipyllm.get_provider("lmstudio")
    assert provider.base_url == before
    assert "still-not-applied" not in provider.available_models()


@pytest.mark.parametrize("url", BAD_URLS)
def test_register_endpoint_refuses_a_bad_base_url(url: str) -> None:
    name = f"bad{uuid.uuid4().hex[:8]}"
    with pytest.raises(ipyllm.ConfigurationError):
        ipyllm.register_endpoint(name, url)
    assert name not in _registry.provider_names()


@pytest.mark.parametrize("url", BAD_URLS)
def test_session_refuses_a_bad_base_url_before_opening_a_tab(url: str) -> None:
    tabs = len(ipyllm.manager().tabs)
    with pytest.raises(ipyllm.ConfigurationError, match="the base_url argument"):
        ipyllm.Session("demo", base_url=url)
    assert len(ipyllm.manager().tabs) == tabs


def test_a_bad_base_url_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "javascript:alert(1)")
    with pytest.raises(ipyllm.ConfigurationError) as info:
        ipyllm.get_provider("openai")
    assert "the OPENAI_BASE_URL environment variable" in one_line(info.value)
    monkeypatch.setenv("OLLAMA_HOST", "my host")
    with pytest.raises(ipyllm.ConfigurationError, match="OLLAMA_HOST"):
        _registry.resolve_base_url(_registry.effective_spec("ollama"))


def test_good_base_urls_are_kept_without_the_trailing_slash(fake: FakeLLMServer) -> None:
    name = f"good{uuid.uuid4().hex[:8]}"
    ipyllm.register_endpoint(name, fake.base_url("openai") + "/", models=["m"])
    assert ipyllm.get_provider(name).base_url == fake.base_url("openai")
    ipyllm.configure(name, base_url="HTTPS://Example.COM:8443/v1/")
    assert ipyllm.get_provider(name).base_url == "HTTPS://Example.COM:8443/v1"


def test_a_bad_per_turn_base_url_leaves_no_turn(fake: FakeLLMServer) -> None:
    tab = ipyllm.manager().new_tab(model="demo")
    try:
        with pytest.raises(ipyllm.ConfigurationError):
            tab.send("hi", base_url="javascript:alert(1)")
        assert tab.turns == []  # so nothing for the history to save
        assert fake.requests == []
    finally:
        tab.close()


@pytest.mark.parametrize("text", ["demo:", "demo: ", " openai:  ", "openai:\n"])
def test_parse_model_refuses_an_empty_model_after_the_colon(text: str) -> None:
    with pytest.raises(ipyllm.ConfigurationError) as info:
        _registry.parse_model(text)
    assert "No model after" in one_line(info.value)


def test_parse_model_refuses_control_characters() -> None:
    with pytest.raises(ipyllm.ConfigurationError, match="control"):
        _registry.parse_model("openai:gpt\x00-4o")


def test_parse_model_still_takes_a_bare_provider_and_colons_in_names() -> None:
    assert _registry.parse_model("demo") == ("demo", "demo")
    assert _registry.parse_model("ollama:llama3.2:3b") == ("ollama", "llama3.2:3b")
    assert _registry.parse_model("openai: gpt-4o ") == ("openai", "gpt-4o")


@pytest.mark.parametrize(
    "settings",
    [
        {"models": [""]},
        {"models": ["a", ""]},
        {"models": ["a", "  "]},
        {"models": "abc"},  # a str would become ['a', 'b', 'c']
        {"default_model": ""},
        {"default_model": " "},
    ],
)
def test_configure_refuses_empty_model_names(settings: dict[str, Any]) -> None:
    before = ipyllm.get_provider("lmstudio").available_models()
    with pytest.raises(ipyllm.ConfigurationError) as info:
        ipyllm.configure("lmstudio", **settings)
    one_line(info.value)
    assert ipyllm.get_provider("lmstudio").available_models() == before


@pytest.mark.parametrize(
    "settings", [{"models": [""]}, {"models": ["m", ""]}, {"default_model": ""}]
)
def test_register_endpoint_refuses_empty_model_names(settings: dict[str, Any]) -> None:
    name = f"bad{uuid.uuid4().hex[:8]}"
    with pytest.raises(ipyllm.ConfigurationError):
        ipyllm.register_endpoint(name, "http://127.0.0.1:9/v1", **settings)
    assert name not in _registry.provider_names()


# -- the magic turns each into a one-line UsageError ----------------------------------
# LLMMagics is driven without a global IPython shell: other modules start that one.


@pytest.fixture
def magics() -> LLMMagics:
    return LLMMagics(shell=None)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("config openai base_url=", "is empty"),
        ("config openai base_url=javascript:alert(1)", "http:// or https://"),
        ("config openai models=", "empty"),
        ("config openai models=a,", "empty"),
        ("default demo:", "No model after 'demo:'"),
    ],
)
def test_magic_commands_refuse_bad_values_in_one_line(
    magics: LLMMagics, line: str, says: str
) -> None:
    before = ipyllm.get_provider("openai").base_url
    with pytest.raises(UsageError) as info:
        magics.llm(line)
    assert type(info.value) is UsageError
    assert says in one_line(info.value)
    assert ipyllm.get_provider("openai").base_url == before
    assert magics.state.default_model is None


def test_magic_base_url_option_is_checked_before_the_turn(magics: LLMMagics) -> None:
    magics.shell = SimpleNamespace(user_ns={})  # only the namespace for {braces} is read
    tabs = {tab.id for tab in ipyllm.manager().tabs}
    try:
        with pytest.raises(UsageError) as info:
            magics.llm("demo --base-url javascript:alert(1)", "hello")
        assert "the base_url argument" in one_line(info.value)
        new = [tab for tab in ipyllm.manager().tabs if tab.id not in tabs]
        assert all(tab.turns == [] for tab in new)
    finally:
        for tab in ipyllm.manager().tabs:
            if tab.id not in tabs:
                tab.close()
