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

Where the caller collects attachments (a ``%%llm`` cell body), a value that
displays as a picture is attached instead of pasted, as ``-a name`` would attach
it: a matplotlib figure or axes, a PIL image, ``ipyllm.Image`` / ``ipyllm.File``,
or an object whose class defines ``_repr_png_`` or ``_repr_jpeg_`` (not the data
that is described). Which values these are is told from the class alone; then
making the attachment runs the object's own rendering (``savefig``,
``_repr_png_``). The text gets ``[image: name]`` in its place; a value that
cannot be attached after all is pasted as text.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from types import GetSetDescriptorType, MappingProxyType, MemberDescriptorType
from typing import TYPE_CHECKING, Any

from .describe import DEFAULT_MAX_CHARS, describe, is_data

if TYPE_CHECKING:
    from .._types import Attachment

_REF = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[-?\d+\]|\[(?:'[^'\]]*'|\"[^\"\]]*\")\])*"
_PATTERN = re.compile(r"\{\{(?P<escaped>" + _REF + r")\}\}|\{(?P<ref>" + _REF + r")\}")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+)\]|\['([^'\]]*)'\]|\[\"([^\"\]]*)\"\]")
_MISSING = object()
MISSING = _MISSING
"""What :func:`resolve` returns for a reference that names nothing."""

# `type`'s own descriptors, read directly so that no metaclass can intercept them.
_MRO = type.__dict__["__mro__"]
_NAMESPACE = type.__dict__["__dict__"]
_NAME = type.__dict__["__name__"]
# Classes whose instances display as a picture: (module prefix, class name).
_PICTURES = {("matplotlib.", "FigureBase"), ("matplotlib.", "_AxesBase"), ("PIL.", "Image")}
_PLACEHOLDER = {"image": "image", "pdf": "PDF", "text": "file"}


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


def attachable(value: Any) -> bool:
    """Whether ``{name}`` attaches ``value`` rather than pasting it (told from its class:
    no code of the value runs)."""
    from .._attachments import File, Image
    from .._types import Attachment

    cls = type(value)
    if issubclass(cls, Image | File | Attachment):
        return True
    if is_data(value):
        return False
    for klass in _mro(cls):
        own = _NAMESPACE.__get__(klass)
        module = own.get("__module__")
        if isinstance(module, str):
            name = _NAME.__get__(klass)
            if any(module.startswith(m) and name == n for m, n in _PICTURES):
                return True
        if "_repr_png_" in own or "_repr_jpeg_" in own:
            return True
    return False


def interpolate(
    prompt: str,
    namespace: Mapping[str, Any],
    max_chars: int = DEFAULT_MAX_CHARS,
    attachments: list[Attachment] | None = None,
) -> str:
    """``prompt`` with every reference to an existing value replaced by ``str(value)`` (a
    description for data), each cut at ``max_chars`` characters. With ``attachments``,
    a picture (:func:`attachable`) is appended to it instead, once per reference, and
    ``[image: ref]`` takes its place in the text."""
    placed: dict[str, str] = {}

    def attach(ref: str, value: Any) -> str | None:
        from .._attachments import to_attachment

        if ref in placed:
            return placed[ref]
        try:
            att = to_attachment(value)
        except Exception:  # not a picture after all (a _repr_png_ that returns None)
            return None
        assert attachments is not None
        if att not in attachments:  # the axes of a figure already attached, say
            attachments.append(att)
        placed[ref] = f"[{_PLACEHOLDER.get(att.kind, att.kind)}: {ref}]"
        return placed[ref]

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "{" + match.group("escaped") + "}"
        value = resolve(match.group("ref"), namespace)
        if value is _MISSING:
            return match.group(0)
        if attachments is not None and attachable(value):
            placeholder = attach(match.group("ref"), value)
            if placeholder is not None:
                return placeholder
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
