"""Model aliases: short names (``fast``, ``claude``) for ``provider:model`` names.

A few are built in (:data:`BUILTIN_ALIASES`, each pointing at a model of the catalog);
the user's own, set with :func:`ipyllm.alias` or ``%llm alias``, are kept in
``aliases.json`` in the data directory (``$IPYLLM_HOME``, else the platform's user data
directory, where the history database also lives) and win over the built-in ones.

The file is read again whenever it changes on disk. A file that cannot be read or is not
valid JSON is reported once with a :class:`RuntimeWarning`, and only the built-in
aliases apply until it is fixed or replaced; a file that cannot be written keeps the
change for this process only, with a warning. Resolution itself is in
:func:`ipyllm._registry.parse_model`, the one place every front door goes through.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import warnings
from pathlib import Path
from types import EllipsisType
from typing import overload

from ._errors import InvalidOptionError
from ._settings_events import changed

# Each points at a model of src/ipyllm/_providers/catalog.py (tests/test_aliases.py checks).
BUILTIN_ALIASES: dict[str, str] = {
    "4o-mini": "openai:gpt-4o-mini",
    "4.1": "openai:gpt-4.1",
    "4.1-mini": "openai:gpt-4.1-mini",
    "claude": "anthropic:claude-sonnet-4-5",
    "sonnet": "anthropic:claude-sonnet-4-5",
    "opus": "anthropic:claude-opus-4-1",
    "haiku": "anthropic:claude-haiku-4-5",
    "flash": "gemini:gemini-2.5-flash",
    "flash-lite": "gemini:gemini-2.5-flash-lite",
    "pro": "gemini:gemini-2.5-pro",
    "grok": "xai:grok-4",
    "llama": "ollama:llama3.2",
}

FILENAME = "aliases.json"

_lock = threading.RLock()
# What was read from the file: its path and (mtime, size) when read, and its aliases.
_loaded_from: tuple[Path, tuple[int, int] | None] | None = None
_user: dict[str, str] = {}
# Changes that could not be written: kept for this process, over the file's.
_unsaved: dict[str, str | None] = {}
_warned: set[tuple[Path, tuple[int, int] | None]] = set()


def data_dir() -> Path:
    """``$IPYLLM_HOME``, else the platform's user data directory for ipyllm."""
    home = os.environ.get("IPYLLM_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("ipyllm"))


def alias_path() -> Path:
    """Where the user's aliases are kept."""
    return data_dir() / FILENAME


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _warn_once(path: Path, stamp: tuple[int, int] | None, message: str) -> None:
    if (path, stamp) not in _warned:
        _warned.add((path, stamp))
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _read(path: Path, stamp: tuple[int, int] | None) -> dict[str, str]:
    """The aliases in ``path``: none if it is missing; none, with a warning, if it is
    unreadable or not an object of names to model strings (bad entries are skipped)."""
    if stamp is None:
        return {}
    fallback = (
        "only the built-in aliases apply until it is fixed (ipyllm.alias(NAME, MODEL) replaces it)"
    )
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        _warn_once(path, stamp, f"Cannot read the model aliases in {path} ({exc}); {fallback}.")
        return {}
    entries = data.get("aliases") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        _warn_once(
            path, stamp, f'{path} is not an ipyllm alias file ({{"aliases": {{…}}}}); {fallback}.'
        )
        return {}
    good = {k: v for k, v in entries.items() if _valid_name(k) and _valid_target(v)}
    if len(good) != len(entries):
        bad = ", ".join(repr(k) for k in entries if k not in good)
        _warn_once(path, stamp, f"Skipped the malformed model aliases {bad} in {path}.")
    return good


def _valid_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and name.isprintable()
        and ":" not in name
        and not any(c.isspace() for c in name)
    )


def _valid_target(target: object) -> bool:
    return isinstance(target, str) and ":" in target and target.isprintable()


def _current() -> dict[str, str]:
    """The user's aliases: the file's (read again if it changed), with unsaved changes."""
    global _loaded_from, _user
    path = alias_path()
    stamp = _stamp(path)
    with _lock:
        if _loaded_from != (path, stamp):
            _user = _read(path, stamp)
            _loaded_from = (path, stamp)
        merged = dict(_user)
        for name, target in _unsaved.items():
            if target is None:
                merged.pop(name, None)
            else:
                merged[name] = target
        return merged


def user_aliases() -> dict[str, str]:
    """The user's own aliases (set with :func:`alias`), by name."""
    return _current()


def all_aliases() -> dict[str, str]:
    """Every alias, built-in and the user's (which win), sorted by name."""
    merged = {**BUILTIN_ALIASES, **_current()}
    return dict(sorted(merged.items()))


def lookup(name: str) -> str | None:
    """The ``provider:model`` that alias ``name`` stands for, or ``None``."""
    user = _current()
    if name in user:
        return user[name]
    return BUILTIN_ALIASES.get(name)


def _save(changes: dict[str, str | None]) -> None:
    """Apply ``changes`` (``None`` removes) to the file, written atomically; if it cannot
    be written, keep them for this process and warn."""
    global _loaded_from, _user
    path = alias_path()
    with _lock:
        new = _current()
        for name, target in changes.items():
            if target is None:
                new.pop(name, None)
            else:
                new[name] = target
        body = json.dumps({"version": 1, "aliases": dict(sorted(new.items()))}, indent=2) + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".aliases-", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(body)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            _unsaved.update(changes)
            warnings.warn(
                f"Cannot save the model aliases to {path} ({exc.strerror or exc}); "
                "the change holds for this session only.",
                RuntimeWarning,
                stacklevel=4,
            )
            return
        for name in changes:
            _unsaved.pop(name, None)
        _user = {k: v for k, v in new.items() if k not in _unsaved}
        _loaded_from = (path, _stamp(path))


@overload
def alias() -> dict[str, str]: ...
@overload
def alias(name: str) -> str | None: ...
@overload
def alias(name: str, model: str | None) -> None: ...


def alias(
    name: str | None = None, model: str | EllipsisType | None = ...
) -> dict[str, str] | str | None:
    """Short names for models.

    ``alias()`` returns every alias (built-in and yours) as ``{name: "provider:model"}``;
    ``alias("fast")`` what ``fast`` stands for (``None`` if it is not an alias);
    ``alias("fast", "openai:gpt-5-mini")`` sets it, kept in ``aliases.json`` in the
    data directory for later sessions; ``alias("fast", None)`` removes it (a built-in
    alias you had replaced comes back). A name has no spaces or ``:`` and is not a
    provider's name; the model is checked and stored as ``provider:model``. Every
    place that takes a model name takes an alias: ``Session("fast")``, ``%%llm fast``,
    ``%llm default fast``, ``Tab.set_model("fast")`` and the panel's model picker.
    """
    if name is None:
        if not isinstance(model, EllipsisType):
            raise InvalidOptionError(
                "ipyllm.alias(): name the alias to set, e.g. alias('fast', MODEL)."
            )
        return all_aliases()
    name = _check_name(name)
    if isinstance(model, EllipsisType):
        return lookup(name)
    if model is None:
        if name not in _current():
            if name in BUILTIN_ALIASES:
                raise InvalidOptionError(
                    f"{name!r} is a built-in alias ({BUILTIN_ALIASES[name]}); it cannot be "
                    f"removed, but ipyllm.alias({name!r}, MODEL) points it elsewhere."
                )
            raise InvalidOptionError(f"There is no alias {name!r}; ipyllm.alias() lists them.")
        _save({name: None})
        changed()
        return None
    from . import _registry

    if not isinstance(model, str):
        raise InvalidOptionError(
            f"ipyllm.alias({name!r}, …): the model must be a str, not {type(model).__name__}."
        )
    provider, model_name = _registry.parse_model(model, aliases=model.strip() != name)
    _save({name: f"{provider}:{model_name}"})
    changed()
    return None


def _check_name(name: object) -> str:
    from . import _registry

    if not isinstance(name, str):
        raise InvalidOptionError(f"An alias name must be a str, not {type(name).__name__}.")
    stripped = name.strip()
    if not _valid_name(stripped):
        raise InvalidOptionError(
            f"Alias name {name!r} must be non-empty, with no spaces, ':' or control characters."
        )
    if stripped in _registry.provider_names():
        raise InvalidOptionError(
            f"{stripped!r} is a provider's name (its default model); choose another alias name."
        )
    return stripped
