"""``%llm fix`` and ``%llm explain``: ask about the notebook's last error.

Both send the failing cell's source and its traceback (:mod:`.errors`) on the
tab plain ``%%llm`` cells continue, so a follow-up ``%%llm`` cell can ask more.
``fix`` asks for the corrected cell as code and offers it as the next cell
(``set_next_input``: a new cell below in a notebook, the next prompt in a
terminal); ``explain`` answers in prose.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from .state import CellOptions, MagicState

_FIX = (
    "This notebook cell failed. Fix it: reply with the whole corrected cell as one "
    "fenced code block, and nothing else."
)
_EXPLAIN = "This notebook cell failed. Explain briefly what went wrong and how to fix it."


def fix(shell: Any, args: list[str], state: MagicState) -> None:
    """``fix [N]``: send the last error (or cell N's) and offer the fix as the next cell."""
    _ask(shell, args, state, "fix")


def explain(shell: Any, args: list[str], state: MagicState) -> None:
    """``explain [N]``: send the last error (or cell N's) and show the explanation."""
    _ask(shell, args, state, "explain")


def _ask(shell: Any, args: list[str], state: MagicState, command: str) -> None:
    from .cell import run_cell

    if len(args) > 1 or (args and not args[0].isdigit()):
        raise UsageError(f"Usage: %llm {command} [N] (N: the execution count of the failed cell)")
    count = int(args[0]) if args else None
    error = state.errors.find(count) if state.errors is not None else None
    if error is None:
        which = f"cell {count} raised none that ipyllm kept" if count else "no error yet"
        raise UsageError(f"Nothing to {command}: {which} (it keeps the last few errors).")
    ask = _FIX if command == "fix" else _EXPLAIN
    opts = CellOptions(
        format="code" if command == "fix" else "markdown",
        interpolate=False,  # a traceback's braces are not references
        insert="below" if command == "fix" else None,
    )
    run_cell(shell, opts, f"{ask}\n\n{error}", state)
