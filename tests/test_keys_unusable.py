"""No usable OS keyring: ``keys.set`` and ``%llm keys set`` refuse before asking for a
key; ``keys.status()``, ``%llm keys`` and ``%llm providers`` say the keyring is unusable
and what to do; one key-status vocabulary everywhere (Python, the magic, the panel)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import keyring
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from keyring.backend import KeyringBackend
from keyring.backends import fail

import ipyllm
from ipyllm import _registry
from ipyllm._keys import KeyStatus
from ipyllm._panel.state import provider_infos
from keyring_backends import MemoryKeyring

KEY = "sk-unusable-" + "k" * 24  # never typed: the prompt must not even be shown


def _use(backend: KeyringBackend) -> None:
    keyring.set_keyring(backend)
    _registry.key_store().clear_cache()


@pytest.fixture(autouse=True)
def restore_backend() -> Iterator[None]:
    original = keyring.get_keyring()
    yield
    _use(original)


@pytest.fixture
def no_keyring() -> None:
    """keyring's own answer on a headless machine: the failing backend."""
    _use(fail.Keyring())


@pytest.fixture
def memory() -> MemoryKeyring:
    backend = MemoryKeyring()
    _use(backend)
    return backend


@pytest.fixture
def no_prompt(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """getpass and input fail the test if called; the prompts asked are listed."""
    asked: list[str] = []

    def refuse(prompt: str = "", *args: Any, **kwargs: Any) -> str:
        asked.append(prompt)
        raise AssertionError(f"asked for a key although it cannot be stored: {prompt!r}")

    monkeypatch.setattr("getpass.getpass", refuse)
    monkeypatch.setattr("builtins.input", refuse)
    return asked


# ---- refused before the prompt -------------------------------------------------------


@pytest.mark.usefixtures("no_keyring")
def test_keys_set_refuses_before_asking(no_prompt: list[str]) -> None:
    with pytest.raises(ipyllm.KeyringError) as info:
        ipyllm.keys.set("openai")
    assert no_prompt == []
    message = str(info.value)
    assert "Cannot store the openai key" in message
    assert "OPENAI_API_KEY" in message
    assert "gnome-keyring" in message
    assert "Keychain" in message


@pytest.mark.usefixtures("no_keyring")
def test_magic_keys_set_refuses_before_asking(ip: InteractiveShell, no_prompt: list[str]) -> None:
    with pytest.raises(UsageError, match=r"Cannot store the openai key.*OPENAI_API_KEY"):
        ip.run_line_magic("llm", "keys set openai")
    assert no_prompt == []


@pytest.mark.usefixtures("no_keyring")
def test_a_given_key_is_refused_too_and_never_shown() -> None:
    with pytest.raises(ipyllm.KeyringError) as info:
        ipyllm.keys.set("openai", KEY)
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)


@pytest.mark.usefixtures("no_keyring")
def test_panel_set_key_gives_the_same_refusal() -> None:
    store = _registry.key_store()
    with pytest.raises(ipyllm.KeyringError) as from_store:
        store.set("openai", KEY)
    with pytest.raises(ipyllm.KeyringError) as from_api:
        ipyllm.keys.set("openai")
    assert str(from_store.value) == str(from_api.value)
    assert KEY not in str(from_store.value)


def test_a_working_keyring_still_asks(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt: KEY)
    ipyllm.keys.set("openai")
    try:
        assert memory.store[("ipyllm", "openai")] == KEY
        assert ipyllm.keys.status()["openai"] is KeyStatus.KEYRING
    finally:
        ipyllm.keys.delete("openai")


# ---- the listings say so -----------------------------------------------------------


@pytest.mark.usefixtures("no_keyring")
def test_status_reports_the_unusable_keyring_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    report = ipyllm.keys.status()
    assert report["openai"] == "unusable"
    assert report["openai"].text == "keyring unusable"
    assert report["anthropic"] == "env"
    assert report["ollama"] == "none"
    assert report["ollama"].text == "not needed"
    assert not report["openai"]
    assert report["anthropic"]
    problem = report.keyring_problem
    assert problem is not None
    assert problem == ipyllm.keys.keyring_problem()
    assert "unusable" in problem
    assert "environment variable" in problem
    assert "gnome-keyring" in problem
    assert "Keychain" in problem
    assert "Credential Locker" in problem
    shown = report.table()
    assert problem in shown
    assert KEY not in shown
    assert KEY not in repr(report)


@pytest.mark.usefixtures("no_keyring")
def test_magic_keys_and_providers_report_the_unusable_keyring(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    ip.run_line_magic("llm", "keys")
    keys_out = capsys.readouterr().out
    assert re.search(r"^openai\s+keyring unusable$", keys_out, re.M), keys_out
    assert re.search(r"^ollama\s+not needed$", keys_out, re.M), keys_out
    problem = ipyllm.keys.keyring_problem()
    assert problem is not None
    assert problem in keys_out

    ip.run_line_magic("llm", "providers")
    providers_out = capsys.readouterr().out
    assert re.search(r"^openai\s.*\skeyring unusable", providers_out, re.M), providers_out
    assert problem in providers_out


@pytest.mark.usefixtures("no_keyring")
def test_a_missing_key_says_the_keyring_cannot_store_one() -> None:
    with pytest.raises(ipyllm.MissingKeyError) as info:
        _registry.key_store().require("openai")
    message = str(info.value)
    assert message.startswith("No API key for openai.")
    assert "cannot store" in message
    assert "OPENAI_API_KEY" in message
    assert "%llm keys set" not in message  # storing one would be refused


@pytest.mark.usefixtures("memory")
def test_a_working_keyring_has_no_problem(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    report = ipyllm.keys.status()
    assert report.keyring_problem is None
    assert ipyllm.keys.keyring_problem() is None
    assert report["openai"] == "missing"
    assert report["openai"].text == "missing"
    capsys.readouterr()
    ip.run_line_magic("llm", "keys")
    out = capsys.readouterr().out
    assert re.search(r"^openai\s+missing$", out, re.M), out
    assert "unusable" not in out


# ---- one vocabulary ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "no_keyring"])
def test_one_vocabulary_in_python_the_magic_and_the_panel(
    backend: str,
    request: pytest.FixtureRequest,
    ip: InteractiveShell,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request.getfixturevalue(backend)
    monkeypatch.setenv("XAI_API_KEY", KEY)
    report = ipyllm.keys.status()
    capsys.readouterr()
    ip.run_line_magic("llm", "keys")
    keys_rows = dict(
        line.split(None, 1) for line in capsys.readouterr().out.split("\n\n")[0].splitlines()[1:]
    )
    assert keys_rows == {name: status.text for name, status in report.items()}
    panel = {p["name"]: p["key"] for p in provider_infos()}
    assert panel == {name: status.value for name, status in report.items()}
    assert {KeyStatus(code).text for code in panel.values()} <= {s.text for s in KeyStatus}
    ip.run_line_magic("llm", "providers")
    providers_out = capsys.readouterr().out
    for name, status in report.items():
        assert re.search(rf"^{re.escape(name)}\s.*\s{status.text}\b", providers_out, re.M)
    assert KEY not in keys_rows.values()
    assert KEY not in providers_out


def test_the_words_and_codes() -> None:
    assert {s.value: s.text for s in KeyStatus} == {
        "keyring": "keyring",
        "env": "env",
        "missing": "missing",
        "none": "not needed",
        "unusable": "keyring unusable",
    }
    # Codes compare (and print) as before; only a key that is there is true.
    assert KeyStatus.ENV == "env"
    assert str(KeyStatus.NOT_NEEDED) == "none"
    assert repr({"openai": KeyStatus.MISSING}) == "{'openai': 'missing'}"
    assert [s for s in KeyStatus if s] == [KeyStatus.KEYRING, KeyStatus.ENV]


def test_the_panel_renders_the_same_words() -> None:
    """js/src/format.ts keyStatusText shows KeyStatus.text for every code."""
    from pathlib import Path

    source = (Path(__file__).parents[1] / "js" / "src" / "format.ts").read_text()
    body = source.split("export function keyStatusText", 1)[1].split("\n}\n", 1)[0]
    for status in KeyStatus:
        if status.value != status.text:
            assert f'case "{status.value}":\n      return "{status.text}";' in body, status


def test_unknown_commands_still_refused(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="keys set P"):
        ip.run_line_magic("llm", "keys frobnicate")
