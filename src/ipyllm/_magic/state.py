"""What a ``%%llm`` cell asks for, and what the magic remembers between cells.

Kept free of heavy imports: ``%load_ext ipyllm`` loads this module, and the
session manager, HTTP and widgets load with the first cell.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

FORMATS = ("markdown", "text", "code", "json", "html")
"""What ``-f`` accepts: how a ``%%llm`` answer is shown (and what ``-o`` receives)."""

Approve = Literal["ask", "auto"]
APPROVALS: tuple[Approve, ...] = ("ask", "auto")
"""What ``--approve`` accepts; the first is the magic's default (see :mod:`.approval`)."""


@dataclass
class CellOptions:
    """The parsed options of a ``%%llm`` cell."""

    model: str | None = None
    tab: str | None = None
    new: bool = False
    context: list[str] = field(default_factory=list)
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_history: int | None = None  # earlier turns sent with the prompt; None: all
    base_url: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    deadline: float | None = None
    max_answer_chars: int | None = None
    format: str = "markdown"
    output: str | None = None
    background: bool = False
    interpolate: bool = True
    tools: list[str] = field(default_factory=list)  # names in the notebook's namespace
    approve: Approve = APPROVALS[0]
    max_tool_rounds: int | None = None
    schema: str | None = None  # the name of a type or JSON Schema dict in the namespace


@dataclass
class MagicState:
    """What the magic remembers between cells: the default tab and model."""

    default_model: str | None = None
    default_tab: str | None = None  # id of the tab plain %%llm cells continue
    lock: threading.Lock = field(default_factory=threading.Lock)
