"""The ``%llm`` subcommands: keys, models, providers, default, config, tabs, stop, usage,
history, chat, export. Each prints a short plain-text answer (and never a key)."""

from __future__ import annotations

import concurrent.futures
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


def _key_text(provider: str) -> str:
    from .._registry import key_status

    status = key_status(provider)
    return {"none": "not needed"}.get(status, status)


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
    from .. import _registry
    from .. import keys as key_api

    if not args:
        rows = [("provider", "key")]
        rows += [(name, _key_text(name)) for name in _registry.provider_names()]
        print(_table(rows))
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
        rows.append((name, base or "", _key_text(name), reachable))
    print(_table(rows))


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


COMMANDS: dict[str, Command] = {
    "keys": keys,
    "models": models,
    "providers": providers,
    "default": default,
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
