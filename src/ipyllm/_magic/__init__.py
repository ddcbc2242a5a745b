"""The IPython magics: ``%load_ext ipyllm`` registers ``%%llm`` and ``%llm``."""

from __future__ import annotations

from typing import Any


def load(ipython: Any) -> None:
    """Register :class:`LLMMagics` with ``ipython`` (once)."""
    from .magics import LLMMagics

    if "llm" not in ipython.magics_manager.magics["cell"]:
        ipython.register_magics(LLMMagics)
