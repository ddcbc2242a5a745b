"""A notebook value as prompt text, never longer than a cap.

``{df}`` in a ``%%llm`` cell must not paste a million-row frame into the
request. A pandas or polars ``DataFrame`` or ``Series`` and a numpy array are
described instead: shape, dtypes, null counts and a few first and last rows as
a Markdown table. Any other value is its ``str()``, as before. Either way the
text is cut at ``max_chars`` with a note saying how much was left out.

pandas, polars and numpy are recognised by the exact type's module and name,
so describing never imports them: a notebook without them pays nothing, and a
subclass (whose methods could be anything) falls back to ``str()``.
"""

from __future__ import annotations

import sys
from typing import Any

from .._untrusted import code_fence

DEFAULT_MAX_CHARS = 8000
"""The most characters one ``{value}`` puts into a prompt, unless set otherwise."""

_ROWS = 5  # first and last rows shown
_COLUMNS = 20  # columns shown in a wide frame
_CELL = 40  # characters of one table cell


def describe(value: Any, max_chars: int = DEFAULT_MAX_CHARS, name: str = "") -> str:
    """``value`` as prompt text of at most ``max_chars`` characters (plus the cut note);
    ``name`` is the reference as typed (``df``), shown in a data description."""
    kind = _kind(value)
    text = _DESCRIBERS[kind](value, name) if kind else str(value)
    return clip(text, max_chars)


def is_data(value: Any) -> bool:
    """Whether ``value`` is data that :func:`describe` describes (a frame, a series, an
    array) rather than its ``str()``."""
    return _kind(value) is not None


def clip(text: str, max_chars: int) -> str:
    """``text`` cut at ``max_chars`` characters, with a note saying how much was cut."""
    if len(text) <= max_chars:
        return text
    return (
        f"{text[:max_chars]}\n[… cut by ipyllm: {len(text) - max_chars:,} of {len(text):,} "
        "characters left out]"
    )


def _kind(value: Any) -> str | None:
    """``"pandas.DataFrame"``, ``"numpy.ndarray"``… for the exact types described."""
    cls = type(value)
    package = cls.__module__.partition(".")[0]
    kind = f"{package}.{cls.__name__}"
    if kind not in _DESCRIBERS:
        return None
    module = sys.modules.get(package)  # loaded already, since the value exists
    return kind if module is not None and getattr(module, cls.__name__, None) is cls else None


def _title(what: str, name: str) -> str:
    return f"{what} `{name}`" if name else what


def _cell(value: Any) -> str:
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _pandas_frame(df: Any, name: str) -> str:
    rows, cols = df.shape
    shown = df.iloc[:, :_COLUMNS]
    nulls = shown.isna().sum()
    parts = [
        f"{_title('pandas DataFrame', name)}: {rows:,} rows × {cols:,} columns",
        _table(
            ["column", "dtype", "nulls"],
            [[c, shown[c].dtype, f"{int(nulls[c]):,}"] for c in shown.columns],
        ),
    ]
    if cols > _COLUMNS:
        parts.append(f"(the first {_COLUMNS} of {cols:,} columns)")
    parts += _pandas_rows(shown, rows, lambda part: [[i, *r] for i, r in part.iterrows()])
    return "\n\n".join(parts)


def _pandas_series(s: Any, name: str) -> str:
    parts = [
        f"{_title('pandas Series', name)} {s.name!r}: {len(s):,} values, dtype {s.dtype}, "
        f"{int(s.isna().sum()):,} nulls"
    ]
    parts += _pandas_rows(s, len(s), lambda part: [[i, v] for i, v in part.items()])
    return "\n\n".join(parts)


def _pandas_rows(data: Any, rows: int, to_rows: Any) -> list[str]:
    header = ["index", *(data.columns if hasattr(data, "columns") else ["value"])]
    return _head_and_tail(data, rows, header, to_rows)


def _polars_frame(df: Any, name: str) -> str:
    rows, cols = df.shape
    shown = df.select(df.columns[:_COLUMNS])
    nulls = shown.null_count().row(0)
    parts = [
        f"{_title('polars DataFrame', name)}: {rows:,} rows × {cols:,} columns",
        _table(
            ["column", "dtype", "nulls"],
            [[c, t, f"{n:,}"] for c, t, n in zip(shown.columns, shown.dtypes, nulls, strict=True)],
        ),
    ]
    if cols > _COLUMNS:
        parts.append(f"(the first {_COLUMNS} of {cols:,} columns)")
    parts += _head_and_tail(shown, rows, list(shown.columns), lambda part: part.rows())
    return "\n\n".join(parts)


def _polars_series(s: Any, name: str) -> str:
    parts = [
        f"{_title('polars Series', name)} {s.name!r}: {len(s):,} values, dtype {s.dtype}, "
        f"{s.null_count():,} nulls"
    ]
    parts += _head_and_tail(s, len(s), ["value"], lambda part: [[v] for v in part.to_list()])
    return "\n\n".join(parts)


def _head_and_tail(data: Any, rows: int, header: list[str], to_rows: Any) -> list[str]:
    """Every row as a table when there are few, else the first and the last ``_ROWS``
    (pandas and polars both slice with ``head``/``tail``)."""
    if rows <= 2 * _ROWS:
        return ["All rows:\n\n" + _table(header, to_rows(data))]
    return [
        f"First {_ROWS} rows:\n\n" + _table(header, to_rows(data.head(_ROWS))),
        f"Last {_ROWS} rows:\n\n" + _table(header, to_rows(data.tail(_ROWS))),
    ]


def _numpy_array(a: Any, name: str) -> str:
    numpy = sys.modules["numpy"]
    shape = " × ".join(f"{n:,}" for n in a.shape) or "scalar"
    head = f"{_title('numpy array', name)}: shape {shape}, dtype {a.dtype}"
    if a.dtype.kind in "fc":
        head += f", {int(numpy.isnan(a).sum()):,} NaN"
    # array2string summarises past `threshold` items: a few from each end of each axis.
    values = numpy.array2string(a, threshold=2 * _ROWS * 5, edgeitems=3, max_line_width=100)
    return f"{head}\n\n{code_fence(values)}"


_DESCRIBERS: dict[str, Any] = {
    "pandas.DataFrame": _pandas_frame,
    "pandas.Series": _pandas_series,
    "polars.DataFrame": _polars_frame,
    "polars.Series": _polars_series,
    "numpy.ndarray": _numpy_array,
}
