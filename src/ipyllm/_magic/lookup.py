"""Tools and schemas named on the ``%%llm`` line, found in the notebook's namespace.

``--tools get_weather,plot``, ``--schema City`` and ``-a fig`` name values the
notebook defined (``-a`` also takes a file's path, and ``_`` for the last output). They are
looked up by the rules of ``{name}`` in a prompt (a name, or
``module.name`` read from the module's own variables: nothing is evaluated),
before any tab or request exists; a name that finds nothing, or finds the wrong
kind of value, is a one-line ``UsageError`` that names it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .interpolate import MISSING, resolve

if TYPE_CHECKING:
    from .._types import Attachment

_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_TOOLS_RULE = "--tools takes the names of functions defined in the notebook, comma-separated"
_SCHEMA_RULE = (
    "--schema takes the name of a class defined in the notebook (a pydantic model, a "
    "dataclass or a TypedDict) or of a dict holding a JSON Schema"
)
_ATTACH_RULE = (
    "-a takes a variable of the notebook (a figure, a PIL image, ipyllm.Image / ipyllm.File, "
    "anything with _repr_png_), _ for the last output, or a file's path"
)


def split_names(text: str | None) -> list[str]:
    """``"a, b,c"`` as ``["a", "b", "c"]`` (``[]`` for None)."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def find_tools(names: list[str], namespace: Mapping[str, Any]) -> list[Callable[..., Any]]:
    """The functions ``names`` name in ``namespace``, in order."""
    found: list[Callable[..., Any]] = []
    for name in names:
        value = _find(name, namespace, "--tools", "function", _TOOLS_RULE, callable)
        if not callable(value):
            raise UsageError(f"--tools: {name} is {_kind(value)}, not a function; {_TOOLS_RULE}.")
        found.append(value)
    return found


def find_attachments(items: list[str], namespace: Mapping[str, Any]) -> list[Attachment]:
    """What each ``-a`` names, as an attachment: a value of ``namespace`` (a str or path
    value naming a file: that file), else an existing file (``ipyllm.File``, which sends
    an image as an image)."""
    from .._attachments import File, to_attachment
    from .._errors import AttachmentError

    found: list[Attachment] = []
    for item in items:
        value = resolve(item, namespace) if _NAME.fullmatch(item) else MISSING
        try:
            if value is MISSING:
                path = Path(item).expanduser()
                if not path.is_file():
                    raise UsageError(_no_attachment(item, namespace))
                found.append(File(path).attachment)
            elif isinstance(value, str | os.PathLike) and Path(value).expanduser().is_file():
                found.append(File(value).attachment)
            else:
                found.append(to_attachment(value))
        except AttachmentError as exc:
            what = "the last output" if item == "_" else item
            raise UsageError(f"-a {item}: {what} cannot be attached: {exc}") from None
    return found


def _no_attachment(item: str, namespace: Mapping[str, Any]) -> str:
    names = [n for n in namespace if not n.startswith("_")]
    close = difflib.get_close_matches(item, names, n=1) if _NAME.fullmatch(item) else []
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"-a: no variable or file named {item}{hint}; {_ATTACH_RULE}."


def find_schema(name: str, namespace: Mapping[str, Any]) -> Any:
    """The type or JSON Schema dict ``name`` names in ``namespace`` (the request options
    check that it is one, and say what else it may be)."""
    return _find(name, namespace, "--schema", "class or dict", _SCHEMA_RULE, _schema_like)


def _find(
    name: str,
    namespace: Mapping[str, Any],
    option: str,
    kind: str,
    rule: str,
    fits: Callable[[Any], bool],
) -> Any:
    if not _NAME.fullmatch(name):
        raise UsageError(f"{option}: {name!r} is not a name; {rule}.")
    value = resolve(name, namespace)
    if value is not MISSING:
        return value
    # Suggest only values of the right kind: a typo's neighbours are many otherwise.
    names = [n for n, v in namespace.items() if not n.startswith("_") and fits(v)]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(f"{option}: no {kind} named {name} in the notebook{hint}; {rule}.")


def _schema_like(value: Any) -> bool:
    return isinstance(value, type | dict)


def _kind(value: Any) -> str:
    article = "an" if type(value).__name__[:1].lower() in "aeiou" else "a"
    return f"{article} {type(value).__name__}"
