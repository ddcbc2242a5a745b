"""One question and its answer inside a tab: what was asked, what came back, how it went."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._types import Attachment, Message, Response, ToolCall, user_message
from .events import TabStatusName

if TYPE_CHECKING:
    from .history import TurnRecord


@dataclass(frozen=True, slots=True)
class TurnInfo:
    """A turn's metadata at one moment, without its text (:meth:`Turn.info`)."""

    index: int
    query: str
    model: str  # "provider:model" that answered, else the one asked
    status: TabStatusName
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    ttft_s: float | None
    elapsed_s: float | None
    error: str | None
    text_length: int
    reasoning_length: int
    # Copies of the turn's tool calls at that moment, where its answer starts in its text
    # (after the tool rounds' text), and whether the answer is JSON for a schema.
    tool_calls: tuple[ToolCall, ...] = ()
    answer_from: int = 0
    structured: bool = False
    attachments: tuple[Attachment, ...] = ()  # what went with the query (shared, frozen)


@dataclass(eq=False, init=False)
class Turn:
    """A turn of a tab. Its text grows while it streams; the tab's lock guards it.

    What a turn sent is not copied into it (a copy per turn would make a long
    tab's memory grow with the square of its length): ``extends`` is the turn
    whose conversation it continued, each turn of that chain adding its query
    and answer; ``kept`` is how many of those turns went along (``max_history``;
    ``None``: all); ``prompt`` is the last message (the query, with other tabs'
    context in front of it). :attr:`full_query` builds the list from them. A
    turn given its messages as a list (an old history row) keeps that list.
    ``attachments`` (images, files) went with the query; later prompts send them
    again as part of the history. The history database stores each once, by content
    hash, and :meth:`from_record` brings them back.
    """

    index: int
    query: str
    model: str  # "provider:model" asked for first
    prompt: str  # the last message sent: the query, with any context in front
    attachments: tuple[Attachment, ...] = field(default=(), repr=False)
    extends: Turn | None = field(default=None, repr=False)
    kept: int | None = None
    status: TabStatusName = "streaming"
    answered_by: str | None = None  # "provider:model" that answered (differs after fallback)
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    error: str | None = None
    finish_reason: str | None = None
    started_at: float = 0.0
    ttft_s: float | None = None
    elapsed_s: float | None = None
    response: Response | None = None
    # Set once the turn is done, stopped or failed (and its status is final).
    settled: threading.Event = field(default_factory=threading.Event, repr=False)
    # The asyncio task streaming it, and a stop asked for before that task started;
    # both touched only on the worker loop.
    task: asyncio.Task[Response] | None = field(default=None, repr=False)
    stop_requested: bool = field(default=False, repr=False)
    # Pieces as they arrived; joined when the text is read, and once the turn settles.
    _text: list[str] = field(default_factory=list, repr=False)
    _reasoning: list[str] = field(default_factory=list, repr=False)
    text_length: int = 0
    reasoning_length: int = 0
    _sent: list[Message] | None = field(default=None, repr=False)  # messages given as a list
    # A turn that called tools: the messages of its rounds before the answer (each
    # assistant message with its calls, then the calls' results), every call, and where
    # the final round's text starts in `text` (earlier rounds' text comes before it).
    steps: list[Message] = field(default_factory=list, repr=False)
    tool_calls: list[ToolCall] = field(default_factory=list, repr=False)
    answer_from: int = 0
    data: Any = None  # the validated structured answer (schema=)
    structured: bool = False  # the answer is JSON for a schema
    # Tool calls waiting for the user (approve="ask"), by index; on the worker loop.
    approvals: dict[int, asyncio.Future[bool]] = field(default_factory=dict, repr=False)

    def __init__(
        self,
        index: int,
        query: str,
        full_query: Sequence[Mapping[str, Any]] | None,
        model: str,
        *,
        prompt: str | None = None,
        extends: Turn | None = None,
        kept: int | None = None,
        status: TabStatusName = "streaming",
        attachments: Sequence[Attachment] = (),
    ) -> None:
        self.index = index
        self.query = query
        self.model = model
        self.prompt = query if prompt is None else prompt
        self.attachments = tuple(attachments)
        self.extends = extends
        self.kept = kept
        self.status = status
        self.started_at = time.time()
        self.settled = threading.Event()
        self._text = []
        self._reasoning = []
        self._sent = None if full_query is None else [_message(m) for m in full_query]
        self.steps = []
        self.tool_calls = []
        self.answer_from = 0
        self.data = None
        self.structured = False
        self.approvals = {}

    @property
    def full_query(self) -> list[Message]:
        """The messages sent: the last ``kept`` turns of the conversation it continued
        (all if ``None``), each as the query and the answer, then ``prompt``."""
        if self._sent is not None:
            return [_message(m) for m in self._sent]
        chain: list[Turn] = []
        turn = self.extends
        while turn is not None and (self.kept is None or len(chain) < self.kept):
            chain.append(turn)
            turn = turn.extends
        sent: list[Message] = []
        for turn in reversed(chain):
            sent.extend(turn.exchange())
        sent.append(user_message(self.prompt, self.attachments))
        return sent

    def exchange(self) -> list[Message]:
        """This turn as later prompts send it: the query (with its attachments), the tool
        rounds, the answer."""
        return [
            user_message(self.query, self.attachments),
            *self.steps,
            {"role": "assistant", "content": self.answer},
        ]

    @property
    def answer(self) -> str:
        """The final round's text: the whole text unless the turn called tools."""
        text = self.text
        return text[self.answer_from :] if self.answer_from else text

    @property
    def text(self) -> str:
        """The answer so far."""
        return _joined(self._text)

    @property
    def reasoning(self) -> str:
        """The reasoning so far (``""`` if none)."""
        return _joined(self._reasoning)

    def compact(self) -> None:
        """Keep the text and reasoning as one string each, not their pieces (under the
        tab's lock: a settled turn, or a Response taking the turn's copy)."""
        if len(self._text) > 1:
            self._text = [_joined(self._text)]
        if len(self._reasoning) > 1:
            self._reasoning = [_joined(self._reasoning)]

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

    def info(self) -> TurnInfo:
        """Its metadata now; take it under the tab's lock (``Tab.info`` does)."""
        return TurnInfo(
            self.index,
            self.query,
            self.answered_by or self.model,
            self.status,
            self.tokens_in,
            self.tokens_out,
            self.cost,
            self.ttft_s,
            self.elapsed_s,
            self.error,
            self.text_length,
            self.reasoning_length,
            tuple(dataclasses.replace(c) for c in self.tool_calls),
            self.answer_from,
            self.structured,
            self.attachments,
        )

    def as_response(self) -> Response:
        """The provider's Response if the turn finished, else one built from what arrived."""
        if self.response is not None and self.status == "done":
            return self.response
        provider, _, model = (self.answered_by or self.model).partition(":")
        return Response(
            text=self.answer,
            reasoning=self.reasoning or None,
            model=model,
            provider=provider,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            finish_reason=self.finish_reason,
            ttft_s=self.ttft_s,
            elapsed_s=self.elapsed_s,
            cost=self.cost,
            tool_calls=list(self.tool_calls),
        )

    def record(self, conversation_id: str, title: str) -> TurnRecord:
        """This turn as the history store keeps it: its own messages, and a reference to
        the turn whose conversation it continued."""
        from .history import TurnRecord

        return TurnRecord(
            conversation_id=conversation_id,
            title=title,
            turn_index=self.index,
            model=self.answered_by or self.model,
            query=self.query,
            full_query=None if self._sent is None else [_plain(m) for m in self._sent],
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
            extends=None if self.extends is None else self.extends.index,
            kept=self.kept,
            prompt=None if self.prompt == self.query else self.prompt,
            steps=[dict(m) for m in self.steps] or None,
            tool_calls=[_call_record(c) for c in self.tool_calls] or None,
            answer_from=self.answer_from,
            attachments=list(self.attachments) or None,
        )

    @classmethod
    def from_record(cls, record: TurnRecord, extends: Turn | None = None) -> Turn:
        """A finished turn rebuilt from history; ``extends`` is the turn ``record.extends``
        names (ignored when the record holds its messages as a list)."""
        turn = cls(
            index=record.turn_index,
            query=record.query,
            full_query=record.full_query,
            model=record.model,
            prompt=record.prompt,
            extends=extends,
            kept=record.kept,
            status=record.status,  # type: ignore[arg-type]
            attachments=record.attachments or (),
        )
        turn.answered_by = record.model
        turn.tokens_in = record.tokens_in
        turn.tokens_out = record.tokens_out
        turn.cost = record.cost
        turn.error = record.error
        turn.finish_reason = record.finish_reason
        turn.started_at = record.started_at
        turn.ttft_s = record.ttft_s
        turn.elapsed_s = record.elapsed_s
        turn.append("text", record.text)
        if record.reasoning:
            turn.append("reasoning", record.reasoning)
        turn.steps = [_message(m) for m in record.steps or ()]
        turn.tool_calls = [_call_from_record(c) for c in record.tool_calls or ()]
        turn.answer_from = record.answer_from
        turn.settled.set()
        return turn


def turns_from_records(records: Iterable[TurnRecord]) -> list[Turn]:
    """Turns rebuilt from a conversation's records (by turn_index), each linked to the
    turn it extends, so that every ``full_query`` is what was sent."""
    turns: dict[int, Turn] = {}
    for record in records:
        extends = None
        if record.extends is not None and record.extends < record.turn_index:
            extends = turns.get(record.extends)
        turns[record.turn_index] = Turn.from_record(record, extends)
    return list(turns.values())


def _message(raw: Mapping[str, Any]) -> Message:
    role = raw.get("role")
    message: Message = {
        "role": role if role in ("system", "assistant", "tool") else "user",
        "content": raw.get("content", ""),
    }
    for key in _MESSAGE_EXTRAS:
        if key in raw:
            message[key] = raw[key]  # type: ignore[literal-required]
    return message


_MESSAGE_EXTRAS = (
    "tool_calls", "tool_call_id", "name", "is_error", "reasoning", "reasoning_signature",
    "attachments",
)  # fmt: skip


def _plain(message: Message) -> dict[str, Any]:
    return dict(message)


_CALL_FIELDS = ("id", "name", "arguments", "status", "error", "elapsed_s")


def _call_record(call: ToolCall) -> dict[str, Any]:
    """A tool call as history keeps it: its result as the text the model was sent."""
    record = {name: getattr(call, name) for name in _CALL_FIELDS}
    record["result"] = None
    if call.status == "done":
        from .._tools import result_text

        record["result"] = result_text(call.result)
    return record


def _call_from_record(record: Mapping[str, Any]) -> ToolCall:
    call = ToolCall(record.get("id"), record.get("name"), str(record.get("arguments") or ""))
    call.status = record.get("status") or "requested"
    call.result = record.get("result")
    call.error = record.get("error")
    call.elapsed_s = record.get("elapsed_s")
    return call


def _joined(parts: list[str]) -> str:
    # No collapsing of the list here: another thread may be appending to it.
    return "".join(parts)
