"""Names that forgive: model aliases (built-in and the user's, kept in the data directory),
"did you mean" for near misses, and one resolution for every front door."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import ipyllm
from fake_endpoints import fake_endpoint
from ipyllm import _aliases, _registry
from ipyllm._panel.state import provider_infos
from ipyllm._providers.catalog import BUILTIN

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

from ipyllm.testing import FakeLLMServer

pytestmark = pytest.mark.usefixtures("restore_provider_settings")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory of this test's own, and no change kept only in memory after it."""
    monkeypatch.setenv("IPYLLM_HOME", str(tmp_path))
    yield tmp_path
    _aliases._unsaved.clear()


@pytest.fixture
def endpoint(fake: FakeLLMServer) -> str:
    """A keyless endpoint on the fake server; returns its name (its model is ``m``)."""
    return fake_endpoint(fake).removesuffix(":m")


def _forget_loaded() -> None:
    """As a new process would: nothing read yet."""
    _aliases._loaded_from = None
    _aliases._user = {}


# ---- near misses --------------------------------------------------------------------


def test_a_near_miss_suggests_the_catalog_model_before_any_request(fake: FakeLLMServer) -> None:
    with pytest.raises(ipyllm.UnknownProviderError) as info:
        ipyllm.Session("gtp-5-mini")
    message = str(info.value)
    assert message.startswith("Unknown model 'gtp-5-mini'. Did you mean 'openai:gpt-5-mini'")
    assert "provider:model" in message
    assert "%llm models" in message
    assert fake.requests == []


@pytest.mark.parametrize(
    ("typo", "nearest"),
    [
        ("gemni-2.5-pro", "gemini:gemini-2.5-pro"),
        ("opnai:gpt-5", "openai:gpt-5"),
        ("sonet", "sonnet"),
        ("gpt5", "openai:gpt-5"),
    ],
)
def test_near_misses_with_and_without_a_provider(typo: str, nearest: str) -> None:
    assert _registry.suggest_models(typo)[0] == nearest
    with pytest.raises(ipyllm.UnknownProviderError, match=f"Did you mean '{nearest}'"):
        _registry.parse_model(typo)


def test_a_name_far_from_any_keeps_the_plain_message() -> None:
    with pytest.raises(ipyllm.UnknownProviderError) as info:
        _registry.parse_model("mystery-model")
    assert "Did you mean" not in str(info.value)
    assert "Cannot tell which provider serves 'mystery-model'" in str(info.value)


def test_a_bare_catalog_model_goes_to_the_one_provider_that_lists_it() -> None:
    assert _registry.parse_model("llama3.2") == ("ollama", "llama3.2")
    assert _registry.parse_model("gpt-oss:20b") == ("ollama", "gpt-oss:20b")


def test_an_unknown_well_formed_model_of_a_known_provider_is_still_sent(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef0123")
    ipyllm.configure("openai", base_url=fake.base_url("openai"))
    fake.add_reply("from a model of tomorrow")
    response = ipyllm.Session("openai:gpt-9-ultra").ask("hi")
    assert response.text == "from a model of tomorrow"
    assert fake.requests[-1].json["model"] == "gpt-9-ultra"


# ---- built-in aliases ---------------------------------------------------------------


def test_builtin_aliases_point_at_catalog_models() -> None:
    catalog = {f"{spec.name}:{m}" for spec in BUILTIN for m in spec.models}
    for name, target in _aliases.BUILTIN_ALIASES.items():
        assert target in catalog, name
        assert name not in _registry.provider_names()


def test_claude_resolves_by_its_builtin_alias() -> None:
    assert _registry.parse_model("claude") == ("anthropic", "claude-sonnet-4-5")
    assert _registry.parse_model("haiku") == ("anthropic", "claude-haiku-4-5")
    assert ipyllm.alias("claude") == "anthropic:claude-sonnet-4-5"
    assert ipyllm.alias()["flash"] == "gemini:gemini-2.5-flash"


# ---- the user's aliases -------------------------------------------------------------


def test_a_user_alias_resolves_in_a_session(endpoint: str, fake: FakeLLMServer) -> None:
    ipyllm.alias("fast", f"{endpoint}:m")
    assert ipyllm.alias("fast") == f"{endpoint}:m"
    fake.add_reply("quick answer")
    session = ipyllm.Session("fast")
    assert (session.provider_name, session.model_name) == (endpoint, "m")
    assert session.ask("hi").text == "quick answer"
    assert fake.requests[-1].json["model"] == "m"


def test_an_alias_is_stored_resolved_and_may_name_another_alias() -> None:
    ipyllm.alias("mine", "claude")
    assert ipyllm.alias("mine") == "anthropic:claude-sonnet-4-5"
    ipyllm.alias("dflt", "gemini")  # a provider alone: its default model
    assert ipyllm.alias("dflt") == "gemini:gemini-2.5-flash"


def test_a_user_alias_wins_over_a_builtin_and_removing_it_restores_it() -> None:
    ipyllm.alias("claude", "anthropic:claude-opus-4-1")
    assert _registry.parse_model("claude") == ("anthropic", "claude-opus-4-1")
    ipyllm.alias("claude", None)
    assert _registry.parse_model("claude") == ("anthropic", "claude-sonnet-4-5")
    with pytest.raises(ipyllm.InvalidOptionError, match="built-in"):
        ipyllm.alias("claude", None)


@pytest.mark.parametrize("name", ["", "a b", "x:y", "openai", "demo"])
def test_bad_alias_names_are_refused(name: str) -> None:
    with pytest.raises(ipyllm.InvalidOptionError):
        ipyllm.alias(name, "openai:gpt-5")


def test_an_alias_to_an_unknown_model_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ipyllm.UnknownProviderError, match="openai:gpt-5-mini"):
        ipyllm.alias("fast", "gtp-5-mini")
    assert "fast" not in ipyllm.alias()


def test_removing_an_unknown_alias_says_so() -> None:
    with pytest.raises(ipyllm.InvalidOptionError, match="no alias 'nope'"):
        ipyllm.alias("nope", None)


def test_aliases_persist_across_a_fresh_load(home: Path) -> None:
    ipyllm.alias("fast", "openai:gpt-5-mini")
    saved = json.loads((home / "aliases.json").read_text("utf-8"))
    assert saved["aliases"] == {"fast": "openai:gpt-5-mini"}
    assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]  # written atomically
    _forget_loaded()
    assert _registry.parse_model("fast") == ("openai", "gpt-5-mini")
    ipyllm.alias("fast", None)
    _forget_loaded()
    assert "fast" not in ipyllm.alias()
    with pytest.raises(ipyllm.UnknownProviderError):
        _registry.parse_model("fast")


def test_another_process_writing_the_file_is_seen(home: Path) -> None:
    assert "late" not in ipyllm.alias()
    (home / "aliases.json").write_text(json.dumps({"aliases": {"late": "xai:grok-4"}}))
    assert _registry.parse_model("late") == ("xai", "grok-4")


@pytest.mark.parametrize(
    "content", ["{not json", "[1, 2]", json.dumps({"aliases": "fast"}), "\xff\xfe"]
)
def test_a_corrupt_file_warns_and_falls_back_to_the_builtins(home: Path, content: str) -> None:
    (home / "aliases.json").write_text(content, encoding="latin-1")
    _forget_loaded()
    with pytest.warns(RuntimeWarning, match="aliases"):
        assert _registry.parse_model("claude") == ("anthropic", "claude-sonnet-4-5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once is enough
        assert ipyllm.alias() == dict(sorted(_aliases.BUILTIN_ALIASES.items()))
    ipyllm.alias("fast", "openai:gpt-5-mini")  # replaces the broken file
    _forget_loaded()
    assert ipyllm.alias("fast") == "openai:gpt-5-mini"


def test_a_malformed_entry_is_skipped_with_a_warning(home: Path) -> None:
    entries = {"good": "openai:gpt-5", "bad": 3, "a b": "openai:gpt-5"}
    (home / "aliases.json").write_text(json.dumps({"aliases": entries}))
    _forget_loaded()
    with pytest.warns(RuntimeWarning, match="'bad'"):
        aliases = ipyllm.alias()
    assert aliases["good"] == "openai:gpt-5"
    assert "bad" not in aliases


def test_an_unwritable_data_dir_keeps_the_alias_for_this_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("IPYLLM_HOME", str(blocker / "sub"))  # cannot be a directory
    with pytest.warns(RuntimeWarning, match="this session only"):
        ipyllm.alias("fast", "openai:gpt-5-mini")
    assert _registry.parse_model("fast") == ("openai", "gpt-5-mini")


# ---- every front door ---------------------------------------------------------------


def test_a_user_alias_resolves_in_a_cell(
    ip: InteractiveShell, fake: FakeLLMServer, endpoint: str
) -> None:
    ipyllm.alias("mycell", f"{endpoint}:m")
    fake.add_reply("from the alias")
    result = ip.run_cell("%%llm mycell -t aliased\nHello?")
    assert result.success, result.error_in_exec
    assert fake.requests[-1].json["model"] == "m"
    assert ipyllm.manager().tab("aliased").text == "from the alias"


def test_a_near_miss_in_a_cell_is_one_line_with_the_suggestion(ip: InteractiveShell) -> None:
    from IPython.core.error import UsageError

    result = ip.run_cell("%%llm gtp-5-mini\nHello?")
    assert isinstance(result.error_in_exec, UsageError)
    assert "Did you mean 'openai:gpt-5-mini'" in str(result.error_in_exec)


def test_default_and_set_model_take_an_alias(
    ip: InteractiveShell, fake: FakeLLMServer, endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ipyllm.alias("mydefault", f"{endpoint}:m")
    ip.run_line_magic("llm", "default mydefault")
    assert "mydefault" in capsys.readouterr().out
    fake.add_reply("via the default")
    result = ip.run_cell("%%llm -t via-default\nHi")
    assert result.success, result.error_in_exec
    assert fake.requests[-1].json["model"] == "m"
    tab = ipyllm.manager().new_tab(model="claude")
    tab.set_model("mydefault")
    with pytest.raises(ipyllm.UnknownProviderError, match="Did you mean"):
        tab.set_model("mydefualt")


def test_alias_commands(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_line_magic("llm", "alias fast openai:gpt-5-mini")
    assert capsys.readouterr().out == "fast → openai:gpt-5-mini\n"
    ip.run_line_magic("llm", "alias")
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["alias", "model", "source"]
    assert ["fast", "openai:gpt-5-mini", "yours"] in rows
    assert ["claude", "anthropic:claude-sonnet-4-5", "built-in"] in rows
    assert "aliases.json" in out
    ip.run_line_magic("llm", "alias fast")
    assert capsys.readouterr().out == "fast → openai:gpt-5-mini\n"
    ip.run_line_magic("llm", "alias fast --remove")
    assert "Removed" in capsys.readouterr().out
    assert "fast" not in ipyllm.alias()
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="Did you mean"):
        ip.run_line_magic("llm", "alias fast gtp-5-mini")


def test_the_picker_data_holds_the_aliases_by_provider(endpoint: str) -> None:
    ipyllm.alias("pick-me", f"{endpoint}:m")
    by_name = {p["name"]: p for p in provider_infos()}
    assert {
        "name": "pick-me",
        "model": f"{endpoint}:m",
        "label": f"pick-me → {endpoint}:m",
        "builtin": False,
    } in by_name[endpoint]["aliases"]
    claude = [a for a in by_name["anthropic"]["aliases"] if a["name"] == "claude"]
    assert claude == [
        {
            "name": "claude",
            "model": "anthropic:claude-sonnet-4-5",
            "label": "claude → anthropic:claude-sonnet-4-5",
            "builtin": True,
        }
    ]
    assert by_name["demo"]["aliases"] == []
