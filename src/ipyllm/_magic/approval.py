"""Who answers the tool calls of a ``%%llm`` cell that wait for approval (``--approve ask``).

The person who ran the cell did not write code that passes ``tools=``; they
named functions on a magic line, so each call is put to them before it runs
unless the cell says ``--approve auto``.

- In a notebook, the cell's live view (the compact chat panel) shows each waiting
  call with Run and Deny. The click reaches the tab from the comm's thread (a
  kernel subshell while the cell is busy), so the cell only keeps waiting.
- Where no live view shows (terminal IPython), the cell asks with ``input()`` on
  the main thread, between its waits for the answer: the prompt ``Session``
  uses for ``approve="ask"`` from code, so both front doors ask alike.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._manager.tab import Tab
    from .._types import ToolCall


def shows_live_view(shell: Any) -> bool:
    """Whether a ``%%llm`` cell in ``shell`` shows the live panel (a kernel with a front
    end) rather than printing its answer (terminal IPython)."""
    return getattr(shell, "kernel", None) is not None


class TerminalApprover:
    """Asks, on the thread that calls :meth:`ask`, about each of ``tab``'s waiting calls."""

    def __init__(self, tab: Tab) -> None:
        self._asked: list[ToolCall] = []  # the calls put to the user (Session's prompt)
        self.tab = tab
        self._no_input = False
        self._declined: list[ToolCall] = []

    def waiting(self) -> bool:
        """Whether a call waits for an answer that was not given yet."""
        asked = self._declined if self._no_input else self._asked
        return any(all(c is not a for a in asked) for c in self.tab.pending_calls())

    def ask(self) -> None:
        """Ask about every call waiting now. With no input to read (stdin closed), this
        and every later call is declined, and the cell says so once: nothing runs unseen."""
        if not self._no_input:
            try:
                from .._session import ask_with_input

                ask_with_input(self.tab, self._asked)
                return
            except EOFError:
                self._no_input = True
                print(
                    "\nipyllm: no input to ask with, so the tool calls are declined. "
                    "Use --approve auto to let tools run unattended.",
                    file=sys.stderr,
                )
        for call in self.tab.pending_calls():
            if all(call is not d for d in self._declined):
                self._declined.append(call)
                self.tab.approve(call, run=False)
