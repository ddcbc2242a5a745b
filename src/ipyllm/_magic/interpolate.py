"""Putting notebook values into a prompt without breaking the braces of JSON and code.

``{name}``, ``{obj.attr}``, ``{items[0]}``, ``{d['key']}``, ``{In[3]}`` and
``{Out[3]}`` are replaced by ``str(value)`` when they name something that
exists in the user's namespace. Anything else in braces stays exactly as typed
(``{"a": 1}``, ``{}``, ``def f(): return {x: 1}``), never an error.
``{{name}}`` keeps ``{name}`` literally: an escape for a reference you do not
want replaced.

Nothing is evaluated, and no code of the objects on the way runs:

- ``{a.b}`` follows ``b`` only where it is stored on ``a`` itself: a key of
  ``a``'s own ``__dict__`` (for a module, its variables; for a class, its own
  namespace) or a ``__slots__`` slot. Properties and other descriptors,
  inherited class attributes, ``__getattr__`` and ``__getattribute__`` are
  never consulted, and no name starting with ``__`` is followed.
- ``{x[k]}`` follows only into a ``dict``, ``list`` or ``tuple`` (subclasses
  included), read with the built-in type's own lookup: an overridden
  ``__getitem__`` or ``__missing__`` never runs. Other containers (a
  DataFrame, a Series, an array) are not indexed.

The one call made is ``str(value)`` on the value found, as ``print`` would,
except for a pandas or polars frame or series and a numpy array, which are
described (shape, dtypes, nulls, a few rows: :mod:`.describe`). Either way the
text is cut at ``max_chars``, with a note saying how much was cut. If that
raises, the braces stay as typed and one line on stderr (shown in the cell, in
a notebook and in a terminal) says which reference was kept.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from types import GetSetDescriptorType, MappingProxyType, MemberDescriptorType
from typing import Any

from .describe import DEFAULT_MAX_CHARS, describe

_REF = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[-?\d+\]|\[(?:'[^'\]]*'|\"[^\"\]]*\")\])*"
_PATTERN = re.compile(r"\{\{(?P<escaped>" + _REF + r")\}\}|\{(?P<ref>" + _REF + r")\}")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+)\]|\['([^'\]]*)'\]|\[\"([^\"\]]*)\"\]")
_MISSING = object()
MISSING = _MISSING
"""What :func:`resolve` returns for a reference that names nothing."""

# `type`'s own descriptors, read directly so that no metaclass can intercept them.
_MRO = type.__dict__["__mro__"]
_NAMESPACE = type.__dict__["__dict__"]


def _mro(cls: type) -> tuple[type, ...]:
    return _MRO.__get__(cls)  # type: ignore[no-any-return]


def _own_dict(value: Any) -> dict[str, Any] | MappingProxyType[str, Any] | None:
    """``value.__dict__`` read through the genuine C slot; None if it has none or a class
    on the way shadows ``__dict__`` with something else (a property could run)."""
    for klass in _mro(type(value)):
        entry = _NAMESPACE.__get__(klass).get("__dict__", _MISSING)
        if entry is _MISSING:
            continue
        if type(entry) in (GetSetDescriptorType, MemberDescriptorType):
            found = entry.__get__(value, type(value))
            # A dict subclass is read with dict.get below; a class's namespace is a
            # read-only proxy of a real dict.
            if issubclass(type(found), dict) or type(found) is MappingProxyType:
                return found  # type: ignore[no-any-return]  # the descriptor is untyped
        return None
    return None


def _attribute(value: Any, name: str) -> Any:
    if name.startswith("__"):
        return _MISSING  # no dunder walking
    own = _own_dict(value)
    if own is not None:
        if type(own) is MappingProxyType:
            found = own.get(name, _MISSING)
        else:
            found = dict.get(own, name, _MISSING)
        if found is not _MISSING:
            return found
    for klass in _mro(type(value)):
        entry = _NAMESPACE.__get__(klass).get(name, _MISSING)
        if entry is not _MISSING:
            # A slot's descriptor is C code that reads the slot and nothing else.
            if type(entry) is MemberDescriptorType:
                return entry.__get__(value, type(value))
            return _MISSING
    return _MISSING


def _item(value: Any, key: int | str) -> Any:
    # issubclass on the exact type, not isinstance: isinstance may read a __class__ property.
    cls = type(value)
    if issubclass(cls, dict):
        return dict.get(value, key, _MISSING)  # never __missing__ or an override
    if type(key) is int and issubclass(cls, list | tuple):
        sequence = list if issubclass(cls, list) else tuple
        return sequence.__getitem__(value, key)
    return _MISSING


def resolve(ref: str, namespace: Mapping[str, Any]) -> Any:
    """The value ``ref`` names in ``namespace``, or :data:`MISSING` if it names nothing."""
    head = re.match(r"[A-Za-z_]\w*", ref)
    assert head is not None  # the pattern guarantees it
    if head.group() not in namespace:
        return _MISSING
    value = namespace[head.group()]
    for step in _STEP.finditer(ref, head.end()):
        attr, index, key1, key2 = step.groups()
        try:
            if attr is not None:
                value = _attribute(value, attr)
            elif index is not None:
                value = _item(value, int(index))
            else:
                value = _item(value, key1 if key1 is not None else key2)
        except Exception:  # an unset slot, an index out of range
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def interpolate(
    prompt: str, namespace: Mapping[str, Any], max_chars: int = DEFAULT_MAX_CHARS
) -> str:
    """``prompt`` with every reference to an existing value replaced by ``str(value)`` (a
    description for data), each cut at ``max_chars`` characters."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "{" + match.group("escaped") + "}"
        value = resolve(match.group("ref"), namespace)
        if value is _MISSING:
            return match.group(0)
        try:
            return describe(value, max_chars, match.group("ref"))
        except Exception as exc:
            typed = match.group(0).replace("\n", "\\n")
            problem = type(exc).__name__
            print(
                f"ipyllm: kept {typed} as typed: str() of its value raised {problem}.",
                file=sys.stderr,
            )
            return match.group(0)

    return _PATTERN.sub(substitute, prompt)
