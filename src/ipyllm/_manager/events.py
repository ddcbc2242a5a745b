"""What a tab tells its subscribers: text deltas by offset, and status changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TabStatusName = Literal["idle", "streaming", "done", "stopped", "error"]
Channel = Literal["text", "reasoning"]


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
    change: Literal["opened", "closed", "renamed", "model", "max_history"]


TabEvent = TabDelta | TabStatus
ManagerEvent = TabDelta | TabStatus | TabsChanged
