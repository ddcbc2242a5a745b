"""``ipyllm.usage()``: tokens and cost by tab and by model."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._untrusted import escape_html  # titles, models, prompts, answers: never markup

if TYPE_CHECKING:
    from .tab import Tab


@dataclass
class UsageRow:
    """Totals for one tab or one model."""

    name: str
    turns: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = 0.0  # None once any turn's price is unknown

    def add(self, tokens_in: int | None, tokens_out: int | None, cost: float | None) -> None:
        """Count one turn."""
        self.turns += 1
        self.tokens_in += tokens_in or 0
        self.tokens_out += tokens_out or 0
        self.cost = None if self.cost is None or cost is None else self.cost + cost


@dataclass
class UsageSummary:
    """What ``ipyllm.usage()`` returns; renders as tables in a notebook."""

    by_tab: list[UsageRow] = field(default_factory=list)
    by_model: list[UsageRow] = field(default_factory=list)
    total: UsageRow = field(default_factory=lambda: UsageRow("total"))

    def __repr__(self) -> str:
        lines = [f"{'':24} {'turns':>5} {'tokens in':>10} {'tokens out':>10} {'cost USD':>10}"]
        for title, rows in (("by tab", self.by_tab), ("by model", self.by_model)):
            lines.append(title)
            lines += [_line(row) for row in rows]
        lines.append(_line(self.total))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{h}</th>" for h in ("", "turns", "tokens in", "tokens out", "cost (USD)")
        )
        head = f"<tr>{head}</tr>"
        parts = ["<table>", head]
        for title, rows in (("by tab", self.by_tab), ("by model", self.by_model)):
            parts.append(f'<tr><th colspan="5" style="text-align:left">{title}</th></tr>')
            parts += [_html_row(row) for row in rows]
        parts += [_html_row(self.total), "</table>"]
        return "".join(parts)


def _cost(cost: float | None) -> str:
    return "unknown" if cost is None else f"{cost:.4f}"


def _line(row: UsageRow) -> str:
    name = row.name if len(row.name) <= 24 else row.name[:23] + "…"
    return f"{name:24} {row.turns:5} {row.tokens_in:10} {row.tokens_out:10} {_cost(row.cost):>10}"


def _html_row(row: UsageRow) -> str:
    cells = [escape_html(row.name), row.turns, row.tokens_in, row.tokens_out, _cost(row.cost)]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def summarize(tabs: Iterable[Tab]) -> UsageSummary:
    """Add up every settled turn of ``tabs``."""
    summary = UsageSummary()
    models: dict[str, UsageRow] = {}
    for tab in tabs:
        row = UsageRow(tab.title)
        for turn in list(tab.turns):
            if not turn.settled.is_set():
                continue
            model = turn.answered_by or turn.model
            for target in (row, models.setdefault(model, UsageRow(model)), summary.total):
                target.add(turn.tokens_in, turn.tokens_out, turn.cost)
        summary.by_tab.append(row)
    summary.by_model = sorted(models.values(), key=lambda r: r.name)
    return summary
