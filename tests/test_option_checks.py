"""Bad option values and tab titles get one line, before any request or history row.

Every front door is tried (the magic, ``Session``, ``Tab.send``, ``batch``, the panel);
each check counts the loopback server's requests and searches the history for the prompt.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from ipyllm import InvalidOptionError
from ipyllm._manager.manager import SessionManager
from ipyllm._panel.controller import PanelController
from ipyllm.testing import FakeLLMServer

KEY = "test-key-options-0123456789"
LONG = "x" * 10_000


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    """A keyless endpoint on the loopback server (no temperature bound of its own)."""
    name = f"fake{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
    return f"{name}:m"


def close_all_tabs() -> None:
    for tab in ipyllm.manager().tabs:
        tab.close()


@pytest.fixture(autouse=True)
def _no_tabs() -> Iterator[None]:
    # Tests below count the tabs a refusal leaves: none from earlier test modules either.
    close_all_tabs()
    yield
    close_all_tabs()


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex}"


def history_has(prompt: str) -> bool:
    store = ipyllm.manager().history
    assert store.enabled
    assert store.flush()
    return any(entry.query == prompt for entry in store.search(prompt))


def refused(fake: FakeLLMServer, prompt: str, send: Any) -> str:
    """Run ``send()``, which must fail with one line before any request or history row."""
    before = len(fake.requests)
    with pytest.raises((InvalidOptionError, UsageError)) as info:
        send()
    message = str(info.value)
    assert "\n" not in message, message
    assert len(fake.requests) == before
    assert not history_has(prompt)
    return message


# ---- the values ------------------------------------------------------------------------


def test_the_rules_of_temperature_and_max_tokens() -> None:
    for bad in (math.nan, math.inf, -math.inf, -0.5, True, "0.5"):
        with pytest.raises(InvalidOptionError, match="temperature"):
            ipyllm.Options(model="m", temperature=bad)  # type: ignore[arg-type]
    for bad in (0, -5, 2.5, True, "64"):
        with pytest.raises(InvalidOptionError, match="max_tokens"):
            ipyllm.Options(model="m", max_tokens=bad)  # type: ignore[arg-type]
    # Still a ValueError for code that catches that; and sane values pass.
    assert issubclass(InvalidOptionError, ValueError)
    assert issubclass(InvalidOptionError, ipyllm.LLMError)
    assert ipyllm.Options(model="m", temperature=0, max_tokens=1).temperature == 0
    assert ipyllm.Options(model="m", temperature=5.0).temperature == 5.0  # no provider: no top


def test_each_provider_has_its_documented_top_temperature() -> None:
    from ipyllm._registry import effective_spec

    tops = {
        name: effective_spec(name).max_temperature for name in ("openai", "anthropic", "gemini")
    }
    assert tops == {"openai": 2.0, "anthropic": 1.0, "gemini": 2.0}
    assert effective_spec("ollama").max_temperature is None


# ---- %%llm -------------------------------------------------------------------------------


def magic_refused(ip: InteractiveShell, fake: FakeLLMServer, line: str) -> str:
    prompt = unique("refused")

    def send() -> None:
        result = ip.run_cell(f"%%llm {line}\n{prompt}")
        if result.error_in_exec is not None:
            raise result.error_in_exec

    return refused(fake, prompt, send)


def test_bad_cell_options_are_one_line_before_any_request(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    for line, words in [
        (f"{model} -T nan", "finite"),
        (f"{model} -T inf", "finite"),
        (f"{model} -T -1", "out of range"),
        (f"{model} -n -5", "positive integer"),
        (f"{model} -n 0", "positive integer"),
    ]:
        assert words in magic_refused(ip, fake, line), line
    assert all(not t.turns for t in ipyllm.manager().tabs)  # no failed turn either
    # The same cell with sane values is sent, and recorded: the checks above could fail.
    fake.add_reply("ok")
    prompt = unique("accepted")
    assert ip.run_cell(f"%%llm {model} -T 1.5 -n 5\n{prompt}").success
    assert fake.requests[-1].json["temperature"] == 1.5
    assert history_has(prompt)


def test_anthropic_takes_temperatures_up_to_one(
    ip: InteractiveShell, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    line = f"anthropic:claude-sonnet-4-5 --base-url {fake.base_url('anthropic')}"
    message = magic_refused(ip, fake, f"{line} -T 5")
    assert "anthropic" in message
    assert "from 0 to 1" in message
    fake.add_reply("ok")
    assert ip.run_cell(f"%%llm {line} -T 1\nwarm enough").success
    assert fake.requests[-1].json["temperature"] == 1.0


def test_blank_and_huge_tab_titles_are_refused_by_the_magic(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    assert "blank" in magic_refused(ip, fake, f'{model} -t "   "')
    assert "at most 200" in magic_refused(ip, fake, f"{model} -t {LONG}")
    assert [t.title for t in ipyllm.manager().tabs] == []


# ---- Session, Tab.send, batch --------------------------------------------------------------


def test_session_and_tab_send_refuse_bad_values(fake: FakeLLMServer, model: str) -> None:
    prompt = unique("session")
    # A Session's own values are checked when it is made, a call's at the call.
    refused(fake, prompt, lambda: ipyllm.Session(model, temperature=math.nan).ask(prompt))
    good = ipyllm.Session(model)
    refused(fake, prompt, lambda: good.ask(prompt, max_tokens=0))
    refused(fake, prompt, lambda: good.tab.send(prompt, temperature=math.inf))
    assert good.tab.turns == []  # no failed turn either
    assert [t.title for t in ipyllm.manager().tabs] == [good.tab.title]  # nor a tab
    anthropic = ipyllm.Session("anthropic:m", api_key=KEY, base_url=fake.base_url("anthropic"))
    assert "anthropic" in refused(fake, prompt, lambda: anthropic.ask(prompt, temperature=1.5))
    # A fallback to a provider with a lower top is checked too, at either door.
    mixed = ipyllm.Session([model, "anthropic:m"])
    assert "anthropic" in refused(fake, prompt, lambda: mixed.ask(prompt, temperature=1.5))
    message = refused(
        fake, prompt, lambda: ipyllm.Session([model, "anthropic:m"], temperature=1.5).ask(prompt)
    )
    assert "anthropic" in message


def test_session_refuses_blank_and_huge_tab_titles(fake: FakeLLMServer, model: str) -> None:
    for title, words in (("", "blank"), ("  \t ", "blank"), (LONG, "at most 200")):
        with pytest.raises(InvalidOptionError, match=words):
            ipyllm.Session(model, tab=title)
    assert ipyllm.manager().tabs == []


def test_batch_refuses_bad_values(fake: FakeLLMServer, model: str) -> None:
    prompt = unique("batch")
    refused(
        fake, prompt, lambda: ipyllm.batch([prompt], model, temperature=math.nan, progress=False)
    )
    refused(fake, prompt, lambda: ipyllm.batch([prompt], model, max_tokens=-5, progress=False))
    anthropic = {"api_key": KEY, "base_url": fake.base_url("anthropic")}
    message = refused(
        fake,
        prompt,
        lambda: ipyllm.batch([prompt], "anthropic:m", temperature=5, progress=False, **anthropic),
    )
    assert "anthropic" in message


# ---- titles: the manager, rename and the panel ----------------------------------------------


def test_titles_are_stripped_and_checked_in_the_manager(model: str) -> None:
    mgr = ipyllm.manager()
    assert mgr.new_tab("  padded  ", model).title == "padded"
    assert mgr.find(" padded ") is not None  # looked up the way it was stored
    edge = mgr.new_tab("y" * 200, model)
    assert len(edge.title) == 200
    for title in ("", "   ", "z" * 201, LONG):
        with pytest.raises(InvalidOptionError):
            mgr.new_tab(title, model)
    for title in ("", " \n ", LONG):
        with pytest.raises(InvalidOptionError):
            edge.rename(title)
    assert edge.title == "y" * 200
    edge.rename("  renamed ")
    assert edge.title == "renamed"


def test_the_panels_rename_and_new_tab_get_one_line_errors(model: str) -> None:
    class Recording:
        def __init__(self) -> None:
            self.sent: list[dict[str, Any]] = []
            self.tabs: list[Any] = []
            self.providers: list[Any] = []
            self.default_model = ""

        def send(self, content: dict[str, Any], buffers: Any = None) -> None:
            self.sent.append(content)

    manager = SessionManager()
    widget = Recording()
    controller = PanelController(widget, manager)
    try:
        tab = manager.new_tab("kept", model)
        controller.handle(None, {"type": "rename", "tab": tab.id, "title": "  ", "id": "a"})
        controller.handle(None, {"type": "rename", "tab": tab.id, "title": LONG, "id": "b"})
        controller.handle(None, {"type": "new_tab", "title": LONG, "id": "c"})
        errors = {m["reply_to"]: m["message"] for m in widget.sent if m["type"] == "error"}
        assert "blank" in errors["a"]
        assert "at most 200" in errors["b"]
        assert "at most 200" in errors["c"]
        assert all("\n" not in m for m in errors.values())
        assert [t.title for t in manager.tabs] == ["kept"]
    finally:
        controller.close()
        for tab in manager.tabs:
            tab.close()
