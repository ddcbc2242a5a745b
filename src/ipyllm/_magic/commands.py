"""The ``%llm`` subcommands (``COMMANDS``: help, keys, models, providers, default, alias,
config, tabs, stop, usage, history, chat, export, fix, explain). Each prints a short
plain-text answer (and never a key); ``%llm help`` lists them from their docstrings."""

from __future__ import annotations

import concurrent.futures
import difflib
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._errors import LLMError, TimeoutError, redact
from .assist import explain, fix
from .state import MagicState

if TYPE_CHECKING:
    from .._manager.export import ExportFormat

Command = Callable[[Any, list[str], MagicState], Any]


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _key_text(provider: str, keyring_problem: str | None = None) -> str:
    """``provider``'s key status in the words of ``ipyllm.keys.status()`` (one vocabulary)."""
    from ..keys import provider_status

    return provider_status(provider, keyring_problem).text


def _one_arg(args: list[str], usage: str) -> str:
    if len(args) != 1:
        raise UsageError(f"Usage: {usage}")
    return args[0]


def _live_models(provider: str, timeout: float) -> list[str]:
    from .. import _worker, get_provider

    future = _worker.submit(get_provider(provider).list_models())
    try:
        return future.result(timeout)
    except TimeoutError:  # the request's own (a builtin TimeoutError too): keep its message
        raise
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"{provider} did not list its models within {timeout:g} s.") from None


def keys(shell: Any, args: list[str], state: MagicState) -> None:
    """``keys`` | ``keys set PROVIDER`` | ``keys delete PROVIDER``."""
    from .. import keys as key_api

    if not args:
        print(key_api.status().table())  # the keyring's problem, if any, under the table
        return
    action, rest = args[0], args[1:]
    if action == "set":
        provider = _one_arg(rest, "%llm keys set PROVIDER")
        key_api.set(provider)
        print(f"Saved the {provider} key in the OS keyring ({_key_text(provider)} now).")
    elif action == "delete":
        provider = _one_arg(rest, "%llm keys delete PROVIDER")
        key_api.delete(provider)
        print(f"Deleted the {provider} key from the OS keyring ({_key_text(provider)} now).")
    else:
        raise UsageError(f"Unknown '%llm keys {action}'; use keys, keys set P, keys delete P.")


def models(shell: Any, args: list[str], state: MagicState) -> None:
    """``models [PROVIDER]``: the known list (what ``configure`` set, else the catalog's),
    and the live one for a named provider."""
    from .. import _registry

    names = args or _registry.provider_names()
    for name in names:
        spec = _registry.effective_spec(name)
        print(f"{name}: {', '.join(spec.models) or spec.default_model or '(any)'}")
        if args:
            try:
                live = _live_models(name, timeout=10.0)
                print(f"{name} (live): {', '.join(live) or '(none)'}")
            except LLMError as exc:
                print(f"{name} (live): unavailable: {redact(str(exc))}")


def providers(shell: Any, args: list[str], state: MagicState) -> None:
    """``providers``: name, base URL, key status, and whether a local server answers."""
    from .. import _registry
    from ..keys import keyring_problem

    problem = keyring_problem()
    rows = [("provider", "base URL", "key", "reachable")]
    for name in _registry.provider_names():
        spec = _registry.effective_spec(name)
        try:
            base = _registry.resolve_base_url(spec)
        except LLMError:
            base = "(not set)"
        reachable = ""
        if spec.local:
            try:
                _live_models(name, timeout=1.0)
                reachable = "yes"
            except Exception:
                reachable = "no"
        rows.append((name, base or "", _key_text(name, problem or ""), reachable))
    print(_table(rows))
    if problem:
        print(f"\n{problem}")


def default(shell: Any, args: list[str], state: MagicState) -> None:
    """``default [MODEL]``: show or set the model of new ``%%llm`` tabs."""
    from .. import _registry

    if args:
        model = _one_arg(args, "%llm default PROVIDER:MODEL")
        _registry.parse_model(model)
        state.default_model = model
        print(f"New %%llm tabs use {model}.")
    else:
        print(state.default_model or _registry.default_model())


def alias(shell: Any, args: list[str], state: MagicState) -> None:
    """``alias [NAME [MODEL | --remove]]``: list the model aliases, or show, set or remove
    one.

    ``%llm alias`` lists every alias (built-in and yours); ``%llm alias NAME`` shows
    what NAME stands for; ``%llm alias NAME MODEL`` sets it, kept for later sessions;
    ``%llm alias NAME --remove`` removes it. An alias goes wherever a model does
    (``%%llm fast``, ``%llm default fast``)."""
    from .._aliases import alias as set_alias
    from .._aliases import alias_path, user_aliases

    if not args:
        mine = user_aliases()
        rows = [("alias", "model", "source")]
        rows += [(n, m, "yours" if n in mine else "built-in") for n, m in set_alias().items()]
        print(_table(rows))
        print(f"Yours are kept in {alias_path()}.")
        return
    usage = "%llm alias [NAME [MODEL | --remove]]"
    if len(args) > 2:
        raise UsageError(f"Usage: {usage}")
    name = args[0]
    if len(args) == 1:
        target = set_alias(name)
        print(f"{name} → {target}" if target else f"{name!r} is not an alias (%llm alias lists).")
    elif args[1] in ("--remove", "-r"):
        set_alias(name, None)
        print(f"Removed the alias {name!r}.")
    else:
        set_alias(name, args[1])
        print(f"{name} → {set_alias(name)}")


def config(shell: Any, args: list[str], state: MagicState) -> None:
    """``config PROVIDER base_url=URL [default_model=M] [models=a,b]``."""
    from .. import configure

    if not args:
        raise UsageError("Usage: %llm config PROVIDER base_url=URL [default_model=M] [models=a,b]")
    provider = args[0]
    settings: dict[str, Any] = {}
    for item in args[1:]:
        key, sep, value = item.partition("=")
        if not sep or key not in ("base_url", "default_model", "models"):
            raise UsageError(f"Cannot set {item!r}; use base_url=…, default_model=… or models=a,b.")
        settings[key] = value.split(",") if key == "models" else value
    configure(provider, **settings)
    print(f"{provider}: " + ", ".join(f"{k}={v}" for k, v in settings.items()))


def tabs(shell: Any, args: list[str], state: MagicState) -> None:
    """``tabs``: every open tab, its model, turns and status."""
    from .. import manager

    rows = [("tab", "model", "turns", "status")]
    for tab in manager().tabs:
        mark = " *" if tab.id == state.default_tab else ""
        rows.append((tab.title + mark, tab.model, str(len(tab.turns)), tab.status))
    print(_table(rows) if len(rows) > 1 else "No tabs yet.")


def stop(shell: Any, args: list[str], state: MagicState) -> None:
    """``stop [TAB]``: stop that tab's answer, or every answer in progress."""
    from .. import manager

    mgr = manager()
    targets = [mgr.tab(args[0])] if args else [t for t in mgr.tabs if t.status == "streaming"]
    for tab in targets:
        tab.stop()
    print(f"Stopped {', '.join(t.title for t in targets)}." if targets else "Nothing streams.")


def usage(shell: Any, args: list[str], state: MagicState) -> Any:
    """``usage``: tokens and cost by tab and model."""
    from .. import usage as summary

    return summary()


def history(shell: Any, args: list[str], state: MagicState) -> Any:
    """``history [SEARCH]``: past turns, newest first."""
    from .. import history as past

    return past(" ".join(args) or None)


def chat(shell: Any, args: list[str], state: MagicState) -> Any:
    """``chat``: open the chat panel."""
    from .. import chat as show

    return show()


def export(shell: Any, args: list[str], state: MagicState) -> None:
    """``export TAB PATH``: write the tab's conversation to PATH, as Markdown, a notebook or
    JSON by its extension (.md, .ipynb, .json); an existing file is replaced."""
    from pathlib import Path

    from .. import manager

    if len(args) != 2:
        raise UsageError("Usage: %llm export TAB PATH (PATH ending in .md, .ipynb or .json)")
    name, path = args
    formats: dict[str, ExportFormat] = {".md": "md", ".ipynb": "ipynb", ".json": "json"}
    fmt = formats.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"Cannot export to {path!r}: end its name in .md, .ipynb or .json.")
    tab = manager().tab(name)
    try:
        written = tab.export(fmt, path)
    except OSError as exc:
        raise UsageError(f"Cannot write {path!r}: {exc.strerror or exc}.") from None
    n = len(tab.turns)
    print(f"Exported {tab.title!r} ({n} turn{'' if n == 1 else 's'}) to {written}.")


def help_command(shell: Any, args: list[str], state: MagicState) -> None:
    """``help [COMMAND]``: the line commands and the main ``%%llm`` options, or one
    command in full."""
    if not args:
        print(help_text())
        return
    name = _one_arg(args, "%llm help [COMMAND]")
    command = COMMANDS.get(name)
    if command is None:
        raise UsageError(unknown_command(name))
    doc = _plain(inspect.getdoc(command) or name)
    print(f"%llm {doc}\n\nEvery command: %llm help. The whole guide: {_GUIDE}.")


_GUIDE = "docs/magics.md"
# The %%llm options `%llm help` lists (every one: %%llm?), by their argparse dest.
_MAIN_OPTIONS = (
    "model", "tab", "new", "context", "system", "temperature", "max_tokens", "format",
    "output", "attach", "tools", "schema", "bg", "no_interpolate",
)  # fmt: skip


def _plain(text: str) -> str:
    return text.replace("``", "")


def _summary(name: str, command: Command) -> tuple[str, str]:
    """A command's usage and what it does, from the first paragraph of its docstring
    (``usage``: what it does)."""
    doc = inspect.getdoc(command) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    usage, sep, what = first.partition("``: ")
    if not sep:
        return _plain(first).rstrip(".") or name, ""
    return _plain(usage), _clip(_plain(what).rstrip("."), 80)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: text.rfind(" ", 0, width - 1)] + " …"


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    width = min(24, max((len(u) for u, what in rows if what), default=0))
    return [f"  {u.ljust(width)}  {what}".rstrip() for u, what in rows]


def _option_rows() -> list[tuple[str, str]]:
    from .magics import LLMMagics

    parser = LLMMagics.llm.parser
    by_dest = {action.dest: action for action in parser._actions}
    rows = []
    for dest in _MAIN_OPTIONS:
        action = by_dest.get(dest)
        if action is None:
            continue
        if not action.option_strings:
            rows.append((action.metavar or dest.upper(), action.help or ""))
            continue
        names = ", ".join(action.option_strings)
        if action.metavar:
            names += f" {action.metavar}"
        what = action.help or ""
        if action.choices:
            what = f"{'|'.join(map(str, action.choices))}: {what}"
        rows.append((names, _clip(what, 72)))
    return rows


def help_text() -> str:
    """``%llm help``: every command of :data:`COMMANDS` (one line each, from its
    docstring) and the main options of ``%%llm``."""
    commands = _rows([_summary(name, command) for name, command in COMMANDS.items()])
    return "\n".join(
        [
            "%llm COMMAND [ARGS]: manage keys, models and tabs (%llm help COMMAND: one in full).",
            *commands,
            "",
            "%%llm [options] [MODEL]: the cell's text is the prompt. The main options:",
            *_rows(_option_rows()),
            "",
            f"Every option: %%llm?   The whole guide: {_GUIDE}.",
        ]
    )


def unknown_command(name: str) -> str:
    """The message for ``%llm NAME`` when no command has that name."""
    close = difflib.get_close_matches(name, list(COMMANDS), n=1)
    hint = f" Did you mean '%llm {close[0]}'?" if close else ""
    return f"Unknown command '{name}'.{hint} See %llm help (a prompt goes in a %%llm cell)."


COMMANDS: dict[str, Command] = {
    "help": help_command,
    "keys": keys,
    "models": models,
    "providers": providers,
    "default": default,
    "alias": alias,
    "config": config,
    "tabs": tabs,
    "stop": stop,
    "usage": usage,
    "history": history,
    "chat": chat,
    "export": export,
    "fix": fix,
    "explain": explain,
}
