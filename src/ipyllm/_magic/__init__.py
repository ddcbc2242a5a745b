"""The IPython magics: ``%load_ext ipyllm`` registers ``%%llm`` and ``%llm``."""

from __future__ import annotations

from typing import Any


def load(ipython: Any) -> None:
    """Register :class:`LLMMagics` with ``ipython`` (once)."""
    from .magics import LLMMagics

    if "llm" in ipython.magics_manager.magics["cell"]:
        return
    ipython.register_magics(LLMMagics)
    from .errors import ErrorLog

    # Failed cells are kept for %llm fix / explain and {Err}; a cell that succeeds
    # costs the hook one check.
    state = ipython.magics_manager.registry["LLMMagics"].state
    state.errors = ErrorLog(ipython)
    ipython.events.register("post_run_cell", state.errors.record)
