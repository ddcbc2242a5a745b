"""``%%llm`` and ``%llm`` through a real IPython shell (in process, the terminal path),
against the loopback fake server: parsing, interpolation, formats, errors, commands,
and tabs shared with ``Session``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from fake_endpoints import fake_endpoint
from ipyllm._magic.interpolate import interpolate
from ipyllm.testing import FakeLLMServer, Reply
from magic_helpers import cell, usage_error

# configure() and %llm config change process-wide settings: undone after each test.
pytestmark = pytest.mark.usefixtures("restore_provider_settings")


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    """A keyless endpoint on the fake server; returns its ``provider:model``."""
    return fake_endpoint(fake)


def last_prompt(fake: FakeLLMServer) -> str:
    return str(fake.requests[-1].json["messages"][-1]["content"])


# ---- arguments -------------------------------------------------------------------------


def test_options_reach_the_request(ip: InteractiveShell, fake: FakeLLMServer, model: str) -> None:
    fake.add_reply("fine")
    result = cell(ip, f'{model} -t opts -s "Be brief." -T 0.25 -n 64 -o r', "Hello?")
    assert result.success, result.error_in_exec
    body = fake.requests[-1].json
    assert body["model"] == "m"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][-1] == {"role": "user", "content": "Hello?"}
    assert body["temperature"] == 0.25
    assert body["max_tokens"] == 64
    assert ip.user_ns["r"].text == "fine"
    assert ipyllm.manager().tab("opts").text == "fine"


def test_base_url_sends_elsewhere(ip: InteractiveShell, fake: FakeLLMServer, model: str) -> None:
    fake.add_reply("via proxy")
    result = cell(ip, f"{model} --base-url {fake.url}/proxy/v1", "hi")
    assert result.success, result.error_in_exec
    assert fake.requests[-1].path.startswith("/proxy/v1/")


def test_bad_options_are_one_line_usage_errors(ip: InteractiveShell, model: str) -> None:
    assert "invalid float" in usage_error(cell(ip, f"{model} -T hot", "hi"))
    assert "invalid choice" in usage_error(cell(ip, f"{model} -f yaml", "hi"))
    assert "variable name" in usage_error(cell(ip, f"{model} -o 2x", "hi"))
    assert "empty" in usage_error(cell(ip, model, "   "))


# ---- interpolation ---------------------------------------------------------------------


class Frame:
    def __init__(self) -> None:
        self.shape = (3, 4)
        self.rows = ["first", "second"]


def test_interpolation_replaces_existing_names_and_leaves_other_braces() -> None:
    ns: dict[str, Any] = {
        "name": "Ada",
        "df": Frame(),
        "cfg": {"key": "v"},
        "In": ["", "x = 1", "y = 2"],
        "Out": {2: 42},
    }
    assert interpolate("Hi {name}!", ns) == "Hi Ada!"
    assert interpolate("{df.shape} {df.rows[1]} {df.rows[-1]}", ns) == "(3, 4) second second"
    assert interpolate("{cfg['key']} {cfg[\"key\"]}", ns) == "v v"
    assert interpolate("{In[1]} -> {Out[2]}", ns) == "x = 1 -> 42"
    # Not a known name, or not a name at all: as typed, never an error.
    for typed in [
        '{"a": 1, "b": {"c": [1, 2]}}',
        "{}",
        "{missing}",
        "{df.nothing} {df.rows[9]} {Out[7]}",
        "def f():\n    return {x: 1 for x in range(3)}",
        "{ name }",
        "{df.__class__}",
        "{{ jinja }}",
    ]:
        assert interpolate(typed, ns) == typed
    assert interpolate("{{name}} is {name}", ns) == "{name} is Ada"


def test_cells_interpolate_notebook_values_unless_told_not_to(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    ip.user_ns["topic"] = "pelicans"
    ip.run_cell("1 + 1")
    fake.add_reply("ok")
    fake.add_reply("ok")
    out = f"{{Out[{ip.execution_count - 1}]}}"
    body = 'About {topic}: {"limit": {topic}} and ' + out + " {{topic}}"
    assert cell(ip, model, body).success
    assert last_prompt(fake) == 'About pelicans: {"limit": pelicans} and 2 {topic}'
    assert cell(ip, f"{model} --no-interpolate", body).success
    assert last_prompt(fake) == body


# ---- formats and -o ---------------------------------------------------------------------


def test_formats_shape_the_output_variable(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add_reply("Here:\n```python\nprint({'a': 1})\n```\nDone.")
    assert cell(ip, f"{model} -f code -o code", "code please").success
    assert ip.user_ns["code"] == "print({'a': 1})"
    assert "one fenced code block" in fake.requests[-1].json["messages"][0]["content"]

    fake.add_reply('```json\n{"n": [1, 2], "ok": true}\n```')
    assert cell(ip, f"{model} -f json -o data", "json please").success
    assert ip.user_ns["data"] == {"n": [1, 2], "ok": True}

    fake.add_reply("not json at all")
    message = usage_error(cell(ip, f"{model} -f json -o data", "json please"))
    assert "not valid JSON" in message
    assert ip.user_ns["data"].text == "not json at all"  # the Response, not lost

    fake.add_reply("plain words")
    capsys.readouterr()
    assert cell(ip, f"{model} -f text", "text please").success
    out = capsys.readouterr().out
    assert "plain words" in out
    assert f"[{model}" in out  # the footer


# ---- errors --------------------------------------------------------------------------------


def one_line(message: str) -> str:
    assert "\n" not in message, message
    return message


def test_a_missing_key_says_how_to_set_one(ip: InteractiveShell) -> None:
    message = one_line(usage_error(cell(ip, "xai:grok-4", "hi")))
    # With no usable OS keyring (outside scripts/with-keyring.sh) storing one would be
    # refused, so the message says that instead of suggesting %llm keys set.
    assert "%llm keys set xai" in message or "keyring cannot store one" in message
    assert "XAI_API_KEY" in message


def test_an_unknown_provider_lists_the_known_ones(ip: InteractiveShell) -> None:
    message = one_line(usage_error(cell(ip, "nosuch:model", "hi")))
    assert "nosuch" in message
    assert "anthropic" in message


def test_a_401_is_one_line_with_the_fix(
    ip: InteractiveShell, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-magic-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    ipyllm.configure("openai", base_url=fake.base_url("openai"))
    fake.add_reply(status=401, error_message="Incorrect API key provided")
    message = one_line(usage_error(cell(ip, "openai:gpt-5-mini", "hi")))
    assert "Incorrect API key" in message
    assert "OPENAI_API_KEY" in message or "keys" in message
    assert secret not in message


def test_a_mid_stream_error_keeps_the_partial(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add_reply(Reply(["Half", " an", " answer"], error_after=2, status=503))
    capsys.readouterr()
    message = one_line(usage_error(cell(ip, f"{model} -o r", "go")))
    assert "partial answer is kept" in message
    assert "Half an" in capsys.readouterr().out
    assert ip.user_ns["r"].text == "Half an"
    assert ipyllm.manager().tab("llm").status == "error"


# ---- tabs ------------------------------------------------------------------------------


def test_cells_continue_one_tab_and_new_starts_another(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    for text in ("one", "two", "three"):
        fake.add_reply(text)
    cell(ip, model, "first")
    cell(ip, "", "second")  # same tab, same model
    assert [m["content"] for m in fake.requests[-1].json["messages"]] == ["first", "one", "second"]
    cell(ip, "--new", "third")
    assert [m["content"] for m in fake.requests[-1].json["messages"]] == ["third"]
    assert [t.title for t in ipyllm.manager().tabs] == ["llm", "llm (2)"]


def test_a_magic_tab_and_a_session_continue_each_other(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply("from the magic")
    fake.add_reply("from the session")
    fake.add_reply("magic again")
    cell(ip, f"{model} -t shared", "q1")
    session = ipyllm.Session(model, tab="shared")
    assert session.ask("q2").text == "from the session"
    assert [m["content"] for m in fake.requests[-1].json["messages"]] == [
        "q1",
        "from the magic",
        "q2",
    ]
    cell(ip, "-t shared", "q3")
    assert [m["content"] for m in fake.requests[-1].json["messages"]][-2:] == [
        "from the session",
        "q3",
    ]


def test_context_from_other_tabs(ip: InteractiveShell, fake: FakeLLMServer, model: str) -> None:
    fake.add_reply("notes answer")
    fake.add_reply("with context")
    cell(ip, f"{model} -t notes", "remember 42")
    cell(ip, f"{model} -t main -c notes", "what number?")
    prompt = last_prompt(fake)
    assert '<context tab="notes">' in prompt
    assert "remember 42" in prompt
    assert prompt.endswith("what number?")


# ---- %llm commands ------------------------------------------------------------------------


def test_line_commands(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_line_magic("llm", f"default {model}")
    fake.add_reply("x")
    cell(ip, "", "uses the default")
    assert fake.requests[-1].json["model"] == "m"
    capsys.readouterr()
    ip.run_line_magic("llm", "tabs")
    ip.run_line_magic("llm", "keys")
    ip.run_line_magic("llm", "stop")
    ip.run_line_magic("llm", "config ollama base_url=http://127.0.0.1:9/v1")
    out = capsys.readouterr().out
    assert "llm *" in out
    assert model in out
    assert "not needed" in out
    assert "Nothing streams." in out
    assert "ollama: base_url=http://127.0.0.1:9/v1" in out
    assert "tokens" in repr(ip.run_line_magic("llm", "usage")).lower()
    with pytest.raises(UsageError, match="Unknown command"):
        ip.run_line_magic("llm", "frobnicate")
    with pytest.raises(UsageError, match="nosuch"):
        ip.run_line_magic("llm", "default nosuch:x")


def test_config_trait_sets_the_default_model(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    ip.run_line_magic("config", f"LLMMagics.default_model = {model!r}")
    fake.add_reply("configured")
    cell(ip, "", "hi")
    assert ipyllm.manager().tab("llm").model == model


def test_help_documents_every_option_and_command(ip: InteractiveShell) -> None:
    doc = ip.find_cell_magic("llm").__doc__ or ""
    for word in ["--tab", "--new", "--context", "--system", "--temperature", "--max-tokens",
                 "--base-url", "--format", "--output", "--bg", "--no-interpolate",
                 "keys set", "models", "providers", "default", "config", "tabs", "stop",
                 "usage", "history", "chat", "{{name}}"]:  # fmt: skip
        assert word in doc, word


def test_load_ext_loads_nothing_heavy() -> None:
    code = (
        "import sys\nfrom IPython.testing.globalipapp import start_ipython\n"
        "ip = start_ipython()\nbefore = set(sys.modules)\n"
        "ip.run_line_magic('load_ext', 'ipyllm')\n"
        "heavy = [m for m in ('httpx', 'keyring', 'anywidget', 'ipywidgets', 'sqlite3')"
        " if m in sys.modules and m not in before]\nprint(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_models_providers_and_history_commands(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.models = ["served-1", "served-2"]
    provider = model.split(":")[0]
    ipyllm.configure("ollama", base_url=fake.base_url("ollama"))
    capsys.readouterr()
    ip.run_line_magic("llm", f"models {provider}")
    ip.run_line_magic("llm", "providers")
    out = capsys.readouterr().out
    assert f"{provider} (live): served-1, served-2" in out
    ollama = next(line for line in out.splitlines() if line.startswith("ollama "))
    assert fake.base_url("ollama") in ollama
    assert ollama.rstrip().endswith("yes")  # the local server answered
    lmstudio = next(line for line in out.splitlines() if line.startswith("lmstudio "))
    assert lmstudio.rstrip().endswith("no")  # nothing listens on its port here
    fake.add_reply("a findable answer")
    cell(ip, model, "zebra-question")
    past = ip.run_line_magic("llm", "history zebra-question")
    assert "zebra-question" in repr(past)


@pytest.mark.keyring
@pytest.mark.usefixtures("sandbox_keyring")
def test_keys_set_and_delete_go_through_the_keyring(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = f"sk-magic-{uuid.uuid4().hex}"
    monkeypatch.setattr("getpass.getpass", lambda prompt="": secret)
    try:
        ip.run_line_magic("llm", "keys set fireworks")
        assert ipyllm.keys.get("fireworks") == secret
        ip.run_line_magic("llm", "keys")
    finally:
        ip.run_line_magic("llm", "keys delete fireworks")
    out = capsys.readouterr().out
    assert "Saved the fireworks key in the OS keyring (keyring now)." in out
    assert "Deleted the fireworks key from the OS keyring (missing now)." in out
    assert re.search(r"^fireworks\s+keyring$", out, re.MULTILINE)
    assert secret not in out
    assert ipyllm.keys.get("fireworks") is None


def test_ipython_config_sets_the_default_model(tmp_path: Any) -> None:
    (tmp_path / "ipython_config.py").write_text("c.LLMMagics.default_model = 'ollama:llama3.2'\n")
    code = (
        "%load_ext ipyllm\n"
        "print('MODEL', get_ipython().magics_manager.registry['LLMMagics'].state.default_model)"
    )
    done = subprocess.run(
        [sys.executable, "-m", "IPython", f"--profile-dir={tmp_path}", "--no-banner", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    assert "MODEL ollama:llama3.2" in done.stdout, done.stdout + done.stderr


def test_new_uses_a_default_set_since(
    ip: InteractiveShell, fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply("a")
    cell(ip, "demo:demo", "first")
    ip.run_line_magic("llm", f"default {model}")
    fake.add_reply("b")
    cell(ip, "--new", "second")
    assert ipyllm.manager().tab("llm (2)").model == model
