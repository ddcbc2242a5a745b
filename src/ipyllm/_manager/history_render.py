"""What ``ipyllm.history()`` returns: past turns that read as text lines or an HTML table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .._untrusted import escape_html  # titles, models, prompts, answers: never markup

__all__ = ["HistoryEntry", "HistoryList"]

_HEADERS = ("when", "title", "model", "status", "tokens", "cost", "query")


def _when(started_at: float) -> str:
    return datetime.fromtimestamp(started_at).strftime("%Y-%m-%d %H:%M")


def _clip(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _tokens(entry: HistoryEntry) -> str:
    if entry.tokens_in is None and entry.tokens_out is None:
        return ""
    return f"{entry.tokens_in or 0}→{entry.tokens_out or 0}"


def _cost(entry: HistoryEntry) -> str:
    return "" if entry.cost is None else f"${entry.cost:.4f}"


def _cells(entry: HistoryEntry) -> tuple[str, ...]:
    return (
        _when(entry.started_at),
        _clip(entry.title, 24),
        entry.model,
        entry.status,
        _tokens(entry),
        _cost(entry),
        _clip(entry.query, 60),
    )


def _entry_line(entry: HistoryEntry) -> str:
    """Date, title, model and the start of the query, on one line."""
    return (
        f"{_when(entry.started_at)} | {_clip(entry.title, 24)} | {entry.model} | "
        f"{_clip(entry.query, 40)!r}"
    )


def _text_table(entries: Sequence[HistoryEntry]) -> str:
    """A header line and one aligned line per entry."""
    if not entries:
        return "(no history)"
    rows = [_HEADERS, *(_cells(e) for e in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _html_table(entries: Sequence[HistoryEntry]) -> str:
    """A table with every user-supplied string escaped; the answer shows as a tooltip."""
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in _HEADERS)
    body = []
    for entry in entries:
        cells = [f"<td>{escape_html(cell)}</td>" for cell in _cells(entry)[:-1]]
        answer = escape_html(_clip(entry.text, 500), quote=True)
        query = escape_html(_clip(entry.query, 120))
        cells.append(f"<td title=\"{answer}\" style='text-align:left'>{query}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not body:
        body.append(f"<tr><td colspan='{len(_HEADERS)}'>no history</td></tr>")
    return (
        "<table class='ipyllm-history'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of ``ipyllm.history()``: a past turn, newest first."""

    conversation_id: str
    title: str
    turn_index: int
    model: str
    query: str
    text: str
    status: str
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    started_at: float

    def __repr__(self) -> str:
        return f"HistoryEntry({_entry_line(self)})"


class HistoryList(list[HistoryEntry]):
    """Past turns: a table in notebooks, aligned text lines in a terminal."""

    def __repr__(self) -> str:
        return _text_table(self)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return _html_table(self)
