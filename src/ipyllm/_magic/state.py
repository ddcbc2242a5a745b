"""What a ``%%llm`` cell asks for, and what the magic remembers between cells.

Kept free of heavy imports: ``%load_ext ipyllm`` loads this module, and the
session manager, HTTP and widgets load with the first cell.
"""

from __future__ import annotations

import threading
from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .errors import ErrorLog

FORMATS = ("markdown", "text", "code", "json", "html")
"""What ``-f`` accepts: how a ``%%llm`` answer is shown (and what ``-o`` receives)."""

Insert = Literal["below", "replace"]
"""Where ``-f code`` puts the answer's code: a new cell below, or this cell."""

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
    attach: list[str] = field(default_factory=list)  # -a: names or paths, in order
    schema: str | None = None  # the name of a type or JSON Schema dict in the namespace
    insert: Insert | None = None  # where the code of a complete answer goes (-f code)
    value_chars: int | None = None  # the cap of one {value} in the prompt; None: the default


@dataclass
class MagicState:
    """What the magic remembers between cells: the default tab and model, the cap of a
    ``{value}`` and the recent errors."""

    default_model: str | None = None
    default_tab: str | None = None  # id of the tab plain %%llm cells continue
    value_chars: int | None = None  # LLMMagics.value_chars; None: describe's default
    errors: ErrorLog | None = None  # set when the extension loads
    lock: threading.Lock = field(default_factory=threading.Lock)

    def namespace(self, user_ns: MutableMapping[str, Any]) -> Mapping[str, Any]:
        """What ``{references}`` may name: the notebook's variables, then ``Err`` (the
        recent errors, once there is one; a variable of that name wins)."""
        if self.errors is None or self.errors.latest is None:
            return user_ns
        return ChainMap(user_ns, {"Err": self.errors})
