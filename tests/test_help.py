"""``%llm help``, the unknown-command message, the ``%%llm?`` usage lines, and ``%llm chat``
/ ``ipyllm.chat()`` where no notebook front end can show the panel (issue 14)."""

from __future__ import annotations

import inspect

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from ipyllm._magic.commands import COMMANDS
from ipyllm._panel.widget import NO_FRONTEND


def help_output(ip: InteractiveShell, capsys: pytest.CaptureFixture[str], line: str) -> str:
    capsys.readouterr()
    ip.run_line_magic("llm", line)
    return capsys.readouterr().out


def test_help_lists_every_command_of_the_table(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    out = help_output(ip, capsys, "help")
    lines = out.splitlines()
    for name in COMMANDS:  # the table as it is now, commands other work adds included
        assert any(line.startswith(f"  {name}") for line in lines), (name, out)
    # One line each, from the docstring: its usage and what it does, no RST markup.
    tabs_line = "tabs every open tab, its model, turns and status"
    assert any(line.split() == tabs_line.split() for line in lines), out
    assert "``" not in out
    # The main cell options, the usage of both forms, and where to read more.
    for word in ["%%llm [options] [MODEL]", "%llm COMMAND", "-t, --tab", "-s, --system",
                 "-f, --format", "-o, --output", "--tools", "%%llm?",
                 "docs/magics.md"]:  # fmt: skip
        assert word in out, word


def test_help_lists_a_command_added_to_the_table(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def shout(shell: object, args: list[str], state: object) -> None:
        """``shout WORD``: say WORD loudly.

        More about it, shown only by ``%llm help shout``."""

    monkeypatch.setitem(COMMANDS, "shout", shout)
    out = help_output(ip, capsys, "help")
    assert any(line.split() == ["shout", "WORD", "say", "WORD", "loudly"]
               for line in out.splitlines()), out  # fmt: skip
    assert "More about it" not in out
    assert "More about it, shown only by %llm help shout." in help_output(ip, capsys, "help shout")


def test_help_of_one_command_shows_its_docstring(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipyllm._magic.commands import keys

    out = help_output(ip, capsys, "help keys")
    assert out.startswith("%llm keys")
    assert (inspect.getdoc(keys) or "").replace("``", "") in out
    out = help_output(ip, capsys, "help models")
    assert "and the live one for a named provider" in out  # the whole docstring, not cut
    assert "%llm help" in out


def test_unknown_command_suggests_the_nearest(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("llm", "kyes")
    message = str(info.value)
    assert message.startswith("Unknown command 'kyes'.")
    assert "Did you mean '%llm keys'?" in message
    assert "See %llm help" in message
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("llm", "frobnicate")
    assert "Did you mean" not in str(info.value)
    assert "See %llm help" in str(info.value)
    with pytest.raises(UsageError, match=r"Unknown command 'hepl'\. Did you mean '%llm help'"):
        ip.run_line_magic("llm", "help hepl")
    with pytest.raises(UsageError, match="%llm help"):
        ip.run_line_magic("llm", "")


def test_usage_lines_show_the_cell_and_the_line_form(ip: InteractiveShell) -> None:
    # %%llm? and %llm? print this docstring: ours, then argparse's usage and options.
    doc = ip.find_cell_magic("llm").__doc__ or ""
    assert ip.find_line_magic("llm").__doc__ == doc
    usage = doc[doc.index("::\n\n  %%llm [options]") :].splitlines()
    assert usage[2] == "  %%llm [options] [MODEL]"
    assert usage[3].startswith("  %llm COMMAND [ARGS]")
    assert "  %llm [" not in doc  # the cell options never under the line form
    assert "%%llm [options] [MODEL]\n    Explain" in doc
    assert "%llm help [COMMAND]" in doc
    assert "  MODEL " in doc  # the positional, as the usage names it


def test_argument_errors_still_parse(ip: InteractiveShell) -> None:
    result = ip.run_cell("%%llm demo --frob\nhi")
    assert isinstance(result.error_in_exec, UsageError)
    assert "unrecognized arguments: --frob" in str(result.error_in_exec)


def test_chat_in_a_terminal_prints_what_works_instead(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert getattr(ip, "kernel", None) is None  # the tests' shell: terminal IPython
    capsys.readouterr()
    result = ip.run_cell("%llm chat")
    assert result.success, result.error_in_exec
    assert result.result is None
    out = capsys.readouterr().out
    assert out.strip() == NO_FRONTEND
    assert "ChatPanel" not in out
    for word in ["JupyterLab", "Notebook 7", "VS Code", "%%llm", "ipyllm.Session"]:
        assert word in NO_FRONTEND, word
    assert "\n" not in NO_FRONTEND
    assert ipyllm.chat() is None
    assert capsys.readouterr().out.strip() == NO_FRONTEND
    result = ip.run_cell("import ipyllm\nipyllm.chat()")
    assert result.success
    assert result.result is None
    assert capsys.readouterr().out.strip() == NO_FRONTEND
