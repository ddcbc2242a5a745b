"""What a tab tells its subscribers: text deltas by offset, and status changes.

Users import these from :mod:`ipyllm.events`, the name every class here gives as
its module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._types import ToolCallStatus

TabStatusName = Literal["idle", "streaming", "done", "stopped", "error"]
Channel = Literal["text", "reasoning"]
TabsChange = Literal["opened", "closed", "renamed", "model", "max_history"]


@dataclass(frozen=True, slots=True)
class TabDelta:
    """``text`` belongs at character ``offset`` of turn ``turn``'s answer (or reasoning)."""

    tab_id: str
    turn: int
    offset: int
    text: str
    channel: Channel = "text"


@dataclass(frozen=True, slots=True)
class TabStatus:
    """Turn ``turn`` of the tab changed status (``streaming``, ``done``, ``stopped``, ``error``)."""

    tab_id: str
    turn: int
    status: TabStatusName


@dataclass(frozen=True, slots=True)
class TabSnapshot:
    """The tab's current answer, taken atomically with respect to deltas.

    A view that subscribes first, then takes a snapshot, then applies deltas by
    offset (ignoring what it already has) never doubles or drops a character.
    """

    tab_id: str
    turn: int  # -1 when the tab has no turn yet
    status: TabStatusName
    text: str
    reasoning: str


@dataclass(frozen=True, slots=True)
class TabsChanged:
    """The manager's list of tabs changed: a tab was opened, closed, renamed, re-modelled
    or given another ``max_history``."""

    tab_id: str
    change: TabsChange


@dataclass(frozen=True, slots=True)
class TabToolCall:
    """Tool call ``index`` (counted over the turn's rounds) of turn ``turn`` appeared or
    changed: it was asked for, waits for the user's approval (``status="awaiting"``),
    runs, returned (``result``: the text sent back to the model), failed (``error``) or
    was declined."""

    tab_id: str
    turn: int
    index: int
    id: str | None
    name: str
    arguments: str
    status: ToolCallStatus
    result: str | None = None
    error: str | None = None
    elapsed_s: float | None = None


TabEvent = TabDelta | TabStatus | TabToolCall
ManagerEvent = TabDelta | TabStatus | TabToolCall | TabsChanged

# Reprs and pickles name the public module, where these are importable; its namespace
# also holds every name the annotations use, so typing.get_type_hints still works.
for _cls in (TabDelta, TabStatus, TabSnapshot, TabToolCall, TabsChanged):
    _cls.__module__ = "ipyllm.events"
del _cls
