"""One question and its answer inside a tab: what was asked, what came back, how it went."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._types import Message, Response
from .events import TabStatusName

if TYPE_CHECKING:
    from .history import TurnRecord


@dataclass(eq=False)
class Turn:
    """A turn of a tab. Its text grows while it streams; the tab's lock guards it."""

    index: int
    query: str
    full_query: list[Message]
    model: str  # "provider:model" asked for first
    status: TabStatusName = "streaming"
    answered_by: str | None = None  # "provider:model" that answered (differs after fallback)
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    error: str | None = None
    finish_reason: str | None = None
    started_at: float = field(default_factory=time.time)
    ttft_s: float | None = None
    elapsed_s: float | None = None
    response: Response | None = None
    # Set once the turn is done, stopped or failed (and its status is final).
    settled: threading.Event = field(default_factory=threading.Event, repr=False)
    # The asyncio task streaming it, and a stop asked for before that task started;
    # both touched only on the worker loop.
    task: asyncio.Task[Response] | None = field(default=None, repr=False)
    stop_requested: bool = field(default=False, repr=False)
    # Pieces as they arrived; joined when the text is read.
    _text: list[str] = field(default_factory=list, repr=False)
    _reasoning: list[str] = field(default_factory=list, repr=False)
    text_length: int = 0
    reasoning_length: int = 0

    @property
    def text(self) -> str:
        """The answer so far."""
        return _joined(self._text)

    @property
    def reasoning(self) -> str:
        """The reasoning so far (``""`` if none)."""
        return _joined(self._reasoning)

    def append(self, channel: str, piece: str) -> int:
        """Add a piece to the text or reasoning; return the offset it starts at."""
        if channel == "text":
            offset = self.text_length
            self._text.append(piece)
            self.text_length += len(piece)
        else:
            offset = self.reasoning_length
            self._reasoning.append(piece)
            self.reasoning_length += len(piece)
        return offset

    def as_response(self) -> Response:
        """The provider's Response if the turn finished, else one built from what arrived."""
        if self.response is not None and self.status == "done":
            return self.response
        provider, _, model = (self.answered_by or self.model).partition(":")
        return Response(
            text=self.text,
            reasoning=self.reasoning or None,
            model=model,
            provider=provider,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            finish_reason=self.finish_reason,
            ttft_s=self.ttft_s,
            elapsed_s=self.elapsed_s,
            cost=self.cost,
        )

    def record(self, conversation_id: str, title: str) -> TurnRecord:
        """This turn as the history store keeps it."""
        from .history import TurnRecord

        return TurnRecord(
            conversation_id=conversation_id,
            title=title,
            turn_index=self.index,
            model=self.answered_by or self.model,
            query=self.query,
            full_query=[{"role": m["role"], "content": m["content"]} for m in self.full_query],
            text=self.text,
            reasoning=self.reasoning or None,
            status=self.status,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            cost=self.cost,
            error=self.error,
            started_at=self.started_at,
            ttft_s=self.ttft_s,
            elapsed_s=self.elapsed_s,
            finish_reason=self.finish_reason,
        )

    @classmethod
    def from_record(cls, record: TurnRecord) -> Turn:
        """A finished turn rebuilt from history."""
        turn = cls(
            index=record.turn_index,
            query=record.query,
            full_query=[_message(m) for m in record.full_query],
            model=record.model,
            status=record.status,  # type: ignore[arg-type]
            answered_by=record.model,
            tokens_in=record.tokens_in,
            tokens_out=record.tokens_out,
            cost=record.cost,
            error=record.error,
            finish_reason=record.finish_reason,
            started_at=record.started_at,
            ttft_s=record.ttft_s,
            elapsed_s=record.elapsed_s,
        )
        turn.append("text", record.text)
        if record.reasoning:
            turn.append("reasoning", record.reasoning)
        turn.settled.set()
        return turn


def _message(raw: dict[str, str]) -> Message:
    role = raw.get("role")
    return {
        "role": role if role in ("system", "assistant") else "user",  # type: ignore[typeddict-item]
        "content": raw.get("content", ""),
    }


def _joined(parts: list[str]) -> str:
    # No collapsing of the list here: another thread may be appending to it.
    return "".join(parts)
