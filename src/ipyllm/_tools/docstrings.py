"""A tool's description and its parameters' descriptions, read from its docstring.

Three common styles are understood, which is what notebook functions use in practice:
Google (``Args:`` with indented ``name (type): text`` entries), NumPy (``Parameters``
underlined with dashes, ``name : type`` entries with indented text) and Sphinx
(``:param name: text``). Anything else is description text, as written.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

# Google-style section headers whose entries name parameters.
_GOOGLE_PARAMS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
# Any Google-style header ("Returns:", "Raises:", "Example:"…): a line of one or two
# capitalised words and a colon, with nothing after it.
_GOOGLE_HEADER = re.compile(r"^([A-Z][A-Za-z]*(?: [A-Za-z]+)?):\s*$")
# ``name (type): text`` or ``name: text``; ``*args`` and ``**kwargs`` are named too.
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}([A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
# NumPy-style sections whose entries name parameters.
_NUMPY_PARAMS = {"parameters", "other parameters", "keyword arguments"}
_NUMPY_RULE = re.compile(r"^\s*-{3,}\s*$")
# ``name : type`` (or a bare ``name``; ``x, y : int`` names two).
_NUMPY_ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_]\w*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s*(?::.*)?$")
# ``:param name: text`` or ``:param type name: text``; other fields end the description.
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?\*{0,2}([A-Za-z_]\w*)\s*:\s*(.*)$")
_SPHINX_FIELD = re.compile(r"^:[A-Za-z]+(?:\s[^:]*)?:")


@dataclass(slots=True)
class Docstring:
    """What a docstring says: ``description`` (the text before its first section, summary
    and body) and ``params`` (each documented parameter's text, one line)."""

    description: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Read a Google, NumPy or Sphinx-style docstring; see the module docstring."""
    if not doc or not doc.strip():
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    result = Docstring()
    end = len(lines)  # where the description stops: the first section of any style
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if _is_numpy_header(lines, i):
            end = min(end, i)
            i = _numpy_section(lines, i, result.params)
        elif (header := _GOOGLE_HEADER.match(line)) and _indented_after(lines, i):
            end = min(end, i)
            i = _google_section(lines, i, header.group(1).lower(), result.params)
        elif _SPHINX_FIELD.match(stripped) and not line[:1].isspace():
            end = min(end, i)
            i = _sphinx_field(lines, i, result.params)
        else:
            i += 1
    result.description = "\n".join(lines[:end]).strip()
    return result


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indented_after(lines: list[str], i: int) -> bool:
    """A Google header is followed by indented entries; a prose line ending in a colon
    ("For example:") followed by unindented text is not a header."""
    return i + 1 < len(lines) and _indent(lines[i + 1]) > _indent(lines[i])


def _is_numpy_header(lines: list[str], i: int) -> bool:
    return (
        i + 1 < len(lines)
        and bool(lines[i].strip())
        and not lines[i][:1].isspace()
        and bool(_NUMPY_RULE.match(lines[i + 1]))
    )


def _block(lines: list[str], i: int, indent: int) -> tuple[list[str], int]:
    """The lines from ``i`` indented deeper than ``indent`` (blank lines included, when
    more such lines follow), and the index after them."""
    out: list[str] = []
    j = i
    while j < len(lines):
        line = lines[j]
        if line.strip() and _indent(line) <= indent:
            break
        out.append(line.strip())
        j += 1
    return out, j


def _join(parts: list[str]) -> str:
    # One line per parameter: providers show it as a property's description.
    return " ".join(p for p in parts if p)


def _google_section(lines: list[str], i: int, name: str, params: dict[str, str]) -> int:
    base = _indent(lines[i])
    _, end = _block(lines, i + 1, base)
    if name not in _GOOGLE_PARAMS:
        return end
    j = i + 1
    while j < end:
        line = lines[j]
        entry = _GOOGLE_ENTRY.match(line.strip())
        rest, j = _block(lines, j + 1, _indent(line))
        if entry:
            params[entry.group(1)] = _join([entry.group(2), *rest])
    return end


def _numpy_section(lines: list[str], i: int, params: dict[str, str]) -> int:
    name = lines[i].strip().lower()
    j = i + 2
    # The section runs to the next header (a line followed by a rule) or the end.
    while j < len(lines) and not _is_numpy_header(lines, j):
        line = lines[j]
        if not line.strip():
            j += 1
            continue
        entry = _NUMPY_ENTRY.match(line.strip()) if not line[:1].isspace() else None
        rest, j = _block(lines, j + 1, _indent(line))
        if entry and name in _NUMPY_PARAMS:
            for param in entry.group(1).split(","):
                params[param.strip().lstrip("*")] = _join(rest)
    return j


def _sphinx_field(lines: list[str], i: int, params: dict[str, str]) -> int:
    line = lines[i].strip()
    rest, end = _block(lines, i + 1, _indent(lines[i]))
    entry = _SPHINX_PARAM.match(line)
    if entry:
        params[entry.group(1)] = _join([entry.group(2), *rest])
    return end
