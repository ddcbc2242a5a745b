"""A ``%%llm`` answer while it streams: a compact panel in a notebook, printed text in a
terminal.

In a notebook the chat panel's one-turn view shows the text, each tool call and
its Run / Deny buttons; the kernel side has nothing to do until the turn settles.
In a terminal, :meth:`LiveOutput.poll` (called by the waiting cell every 0.1 s,
on the main thread) prints what arrived, a line per tool call once it has a
result, and asks about calls that wait for approval.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from . import calls
from .approval import TerminalApprover, shows_live_view

if TYPE_CHECKING:
    from .._manager.tab import Tab
    from .._manager.turn import Turn


class LiveOutput:
    """The live view of one turn; :meth:`finish` replaces it by the static answer."""

    def __init__(self, turn: Turn, approver: TerminalApprover | None = None) -> None:
        self.turn = turn
        self.approver = approver  # in a terminal, when the cell asks before a tool runs
        self.printed = 0
        self.reported = 0  # tool calls printed, in order
        self.line_start = True  # whether the terminal's cursor is at the start of a line
        self.panel: Any = None  # with the display below, in a notebook; None in a terminal
        self.display: Any = None

    @classmethod
    def start(cls, shell: Any, tab: Tab, turn: Turn, ask: bool = False) -> LiveOutput:
        """Show the live view of ``turn``; ``ask``: tool calls wait for the user."""
        if not shows_live_view(shell):
            return cls(turn, TerminalApprover(tab) if ask else None)
        from IPython.display import display

        from .._panel.widget import ChatPanel

        live = cls(turn)
        live.panel = ChatPanel(tab=tab, compact=True, turn=turn.index)
        bundle = live.panel._repr_mimebundle_()
        data, metadata = bundle if bundle is not None else ({}, {})
        live.display = display(data, metadata=metadata, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        return live

    def poll(self) -> None:
        """In a terminal, print what arrived since the last call and ask about any call
        waiting for approval."""
        if self.panel is not None:
            return
        self._print(final=False)
        if self.approver is not None and self.approver.waiting():
            self._end_line()
            self.approver.ask()
            self.line_start = True  # the answer to input() ended its line

    def finish(self, final: dict[str, Any], footer: str) -> None:
        """Replace the live view by the static answer (notebook) or end the text (terminal)."""
        if self.panel is not None:
            self.display.update(final, raw=True)
            self.panel.close()
            return
        self._print(final=True)
        self._write(f"\n\n[{footer}]\n")

    def _print(self, final: bool) -> None:
        turn = self.turn
        text = turn.text  # read before the steps: see _round_ends
        ends = _round_ends(turn)
        while self.reported < len(turn.tool_calls):
            call = turn.tool_calls[self.reported]
            if not final and not calls.is_final(call):
                break  # in order, each once it has its outcome
            # A call comes after the text of its round, and before the next round's.
            self._text_until(text, ends[self.reported] if self.reported < len(ends) else len(text))
            self._end_line()
            self._write(f"{calls.line(call)}\n")
            self.reported += 1
        self._text_until(text, len(text))

    def _text_until(self, text: str, end: int) -> None:
        if end > self.printed:
            chunk = text[self.printed : end]
            if self.reported and self.line_start and chunk.startswith("\n\n"):
                chunk = chunk[1:]  # the blank line between rounds follows a call's line
            self._write(chunk)
            self.printed = end

    def _end_line(self) -> None:
        if not self.line_start:
            self._write("\n")

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
        if text:
            self.line_start = text.endswith("\n")


def _round_ends(turn: Turn) -> list[int]:
    """For each call of a finished round, where that round's text ends in ``turn.text``.

    The runner adds a round's messages to the steps before the next round streams,
    and puts a blank line between two rounds' texts when both have text; a call not
    in the steps yet belongs to the round streaming now, whose text is complete.
    """
    ends: list[int] = []
    offset = 0
    for message in list(turn.steps):
        if message["role"] != "assistant":
            continue
        if message["content"]:
            offset += len(message["content"]) + (2 if offset else 0)
        ends += [offset] * len(message.get("tool_calls") or [])
    return ends
