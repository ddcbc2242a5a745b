"""A conversation tab: the source of truth for what has streamed so far."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload

from .. import _worker
from .._attachments import PromptInput, split_prompt
from .._errors import ConfigurationError, LLMError, TabBusyError, UnknownTabError
from .._types import Message, ReasoningDelta, Response, TextDelta, ToolCall
from . import cost as pricing
from .attachments import check_attachments_for
from .events import (
    Channel,
    TabDelta,
    TabEvent,
    TabsChanged,
    TabSnapshot,
    TabStatus,
    TabStatusName,
    TabToolCall,
)
from .handle import TurnHandle
from .options import RequestOptions, check_max_history, request_options
from .runner import Sink, TurnPlan, guarded, stop_turn
from .settle import settle_off_loop
from .subscription import Subscription
from .turn import Turn, TurnInfo

if TYPE_CHECKING:
    from typing import Unpack

    from .._engine.provider import Provider
    from .export import ExportFormat
    from .manager import SessionManager
    from .options import SendOptions
    from .ratelimit import RateLimiter

# Turns whose prompt and answer later prompts send along.
_ANSWERED = ("done", "stopped")


class Tab:
    """One conversation. Every view (panel, magic, ``Session``) reads and writes it.

    Text streams into the tab on the manager's worker thread; views subscribe
    to its deltas (:meth:`subscribe`) and take a :meth:`snapshot` when they
    mount. All methods are safe to call from any thread.
    """

    def __init__(
        self,
        manager: SessionManager,
        title: str,
        model: str,
        conversation_id: str | None = None,
        turns: Iterable[Turn] = (),
        *,
        recorded: bool = True,
    ) -> None:
        self.manager = manager
        # Whether its turns go into the history (a batch's prompts, each in a tab of its
        # own that no view lists, do not).
        self.recorded = recorded
        self.id = uuid.uuid4().hex[:8]
        self.title = title
        self.model = model
        self.conversation_id = conversation_id or uuid.uuid4().hex
        self.turns: list[Turn] = list(turns)
        self.closed = False
        self._max_history: int | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        turns = len(self.turns)
        return f"<Tab {self.title!r} id={self.id} model={self.model} turns={turns} {self.status}>"

    # ---- what the tab shows ----------------------------------------------------

    @property
    def last(self) -> Turn | None:
        """The latest turn, or None."""
        with self._lock:
            return self.turns[-1] if self.turns else None

    @property
    def status(self) -> TabStatusName:
        """``idle`` before the first turn, else the latest turn's status."""
        last = self.last
        return last.status if last else "idle"

    @property
    def text(self) -> str:
        """The latest answer so far."""
        last = self.last
        return last.text if last else ""

    @property
    def reasoning(self) -> str:
        """The latest answer's reasoning so far."""
        last = self.last
        return last.reasoning if last else ""

    @property
    def query(self) -> str | None:
        """The latest prompt, as typed."""
        last = self.last
        return last.query if last else None

    @property
    def full_query(self) -> list[Message] | None:
        """The messages actually sent for the latest prompt (history and context included)."""
        last = self.last
        return last.full_query if last else None

    @property
    def error(self) -> str | None:
        """The latest turn's error message, if it failed."""
        last = self.last
        return last.error if last else None

    @property
    def messages(self) -> list[Message]:
        """The conversation so far: the prompt and answer of every finished and stopped
        turn. The next prompt sends it all, or its last :attr:`max_history` turns."""
        with self._lock:
            turns = [t for t in self.turns if t.status in _ANSWERED]
        out: list[Message] = []
        for turn in turns:
            out.extend(turn.exchange())
        return out

    @property
    def max_history(self) -> int | None:
        """How many earlier turns go with each prompt (the latest ones); ``None``: all.

        The system prompt and other tabs' context go along whatever it is. A
        ``max_history`` given to :meth:`send` overrides it for that turn.
        """
        return self._max_history

    @max_history.setter
    def max_history(self, value: int | None) -> None:
        self._max_history = check_max_history(value)
        self.manager.publish(TabsChanged(self.id, "max_history"))

    @property
    def tokens_in(self) -> int:
        """Input tokens over all turns."""
        return sum(t.tokens_in or 0 for t in self.turns)

    @property
    def tokens_out(self) -> int:
        """Output tokens over all turns."""
        return sum(t.tokens_out or 0 for t in self.turns)

    @property
    def cost(self) -> float | None:
        """USD over all settled turns; None if any turn's cost is unknown."""
        costs = [t.cost for t in self.turns if t.settled.is_set()]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    def snapshot(self) -> TabSnapshot:
        """The latest answer and reasoning, consistent with the deltas around it."""
        with self._lock:
            last = self.turns[-1] if self.turns else None
            if last is None:
                return TabSnapshot(self.id, -1, "idle", "", "")
            return TabSnapshot(self.id, last.index, last.status, last.text, last.reasoning)

    def info(self) -> TabInfo:
        """The tab and its turns' metadata (no texts), taken at once under the tab's lock:
        what a view shows around the answers."""
        with self._lock:
            return TabInfo(
                self.id,
                self.title,
                self.model,
                self.status,
                self._max_history,
                tuple(t.info() for t in self.turns),
            )

    def answers(self) -> tuple[TabSnapshot, list[tuple[int, str, str]]]:
        """:meth:`snapshot`, plus ``(index, text, reasoning)`` of every earlier turn."""
        with self._lock:
            past = [(t.index, t.text, t.reasoning) for t in self.turns[:-1]]
            return self.snapshot(), past

    def subscribe(
        self, callback: Callable[[TabEvent], object], *, changes: bool = False
    ) -> Subscription:
        """Deliver this tab's deltas and status changes to ``callback`` on a thread of its own.

        Subscribe first, then take a :meth:`snapshot`, then apply deltas by
        offset: nothing is lost or doubled. With ``changes``, the tab's
        :class:`~ipyllm.events.TabsChanged` (renamed, model, max_history,
        closed) come too. ``subscription.close()`` ends it; so does :meth:`close`.
        """
        return self.manager.bus.subscribe(
            callback, tab=self.id, changes=changes, name=f"ipyllm-tab-{self.id}"
        )

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub``."""
        self.manager.unsubscribe(sub)

    # ---- what the tab does -----------------------------------------------------

    def send(
        self,
        prompt: PromptInput,
        context: Sequence[Tab | str] | None = None,
        *,
        model: str | Sequence[str] | None = None,
        fallback: Sequence[str] = (),
        sink: Sink | None = None,
        options: RequestOptions | None = None,
        **overrides: Unpack[SendOptions],
    ) -> TurnHandle:
        """Start a turn in the background and return its handle.

        ``prompt`` is text, or a list of text and attachments (a matplotlib figure,
        a PIL image, ``ipyllm.Image``, ``ipyllm.File``, an object with
        ``_repr_png_``): docs/notebook-context.md. An attachment a model cannot take
        (this turn's or an earlier one's that goes along) raises
        :class:`~ipyllm.AttachmentError` before anything is sent. ``context`` names
        other tabs whose transcripts go into the query.
        ``model`` (or a list of models, tried in order) overrides the tab's
        model for this turn; ``fallback`` adds models to try after it. The
        request options (:class:`~ipyllm._manager.options.RequestOptions`) come
        as ``options``, as keywords, or both (a keyword that is not ``None``
        wins): ``system``, ``temperature``, ``max_tokens``, ``extra_body``,
        ``headers``, ``api_key``, ``base_url`` and ``allow_insecure_http`` (for
        the first model), ``max_retries``, ``max_history`` (earlier turns sent;
        default :attr:`max_history`, all), and the limits (docs/limits.md)
        ``timeout``, ``connect_timeout``, ``deadline`` (the whole turn, fallback
        models included) and ``max_answer_chars``. An unknown option is a
        :class:`TypeError`; a temperature outside the range of any model's
        provider, a ``max_tokens`` that is not a positive integer, or a limit or
        ``max_history`` out of range raises :class:`~ipyllm.InvalidOptionError`;
        both before anything is sent or recorded.
        """
        opts = request_options("Tab.send()", overrides, options)
        query, attachments = split_prompt(prompt)
        models = _models(model or self.model, fallback)
        plan = TurnPlan(models, opts)
        context_text = self.manager.context_text(context or (), exclude=self)
        with self._lock:
            if self.closed:
                raise UnknownTabError(
                    f"Tab {self.title!r} is closed; open a new one with new_tab()."
                )
            if self.turns and not self.turns[-1].settled.is_set():
                raise TabBusyError(
                    f"Tab {self.title!r} is still answering; wait for it, stop it "
                    "(tab.stop()), or send to another tab."
                )
            content = f"{context_text}\n\n{query}" if context_text else query
            # The turn names the conversation it continues instead of copying it.
            extends = next((t for t in reversed(self.turns) if t.status in _ANSWERED), None)
            kept = self._max_history if opts.max_history is None else opts.max_history
            turn = Turn(
                len(self.turns),
                query,
                None,
                models[0],
                prompt=content,
                extends=extends,
                kept=kept,
                attachments=attachments,
            )
            check_attachments_for(models, turn.full_query)
            self.turns.append(turn)
            # Announced before the first delta can arrive, so views see the new turn first.
            self.manager.publish(TabStatus(self.id, turn.index, "streaming"))
            future = _worker.submit(guarded(TurnWriter(self, turn), plan, sink))
        return TurnHandle(self, turn, future)

    @overload
    def export(self, format: ExportFormat, path: None = None) -> str: ...
    @overload
    def export(self, format: ExportFormat, path: str | os.PathLike[str]) -> Path: ...

    def export(
        self, format: ExportFormat, path: str | os.PathLike[str] | None = None
    ) -> str | Path:
        """The conversation as ``"md"`` (Markdown), ``"ipynb"`` (a Jupyter notebook) or
        ``"json"`` (which :meth:`SessionManager.load` reads back), with each turn's tool
        calls and attachments: docs/notebook-context.md#export.

        Markdown and notebooks are inert (the model's text keeps its formatting, never
        HTML, scripts or images that load) and name attachments without including them;
        the JSON holds everything the next prompt sends, attachments as base64. Without
        ``path`` it returns the text; with one it writes the file (replacing any file
        there, like ``DataFrame.to_csv``) and returns its path.
        """
        from .export import check_format, export_text

        fmt = check_format(format)
        with self._lock:
            turns = list(self.turns)
            text = export_text(self, fmt, turns)
        if path is None:
            return text
        target = Path(path)
        target.write_text(text, encoding="utf-8")
        return target

    def rename(self, title: str) -> None:
        """Give the tab a new title: stripped, 1 to 200 characters, made unique among open
        tabs like ``new_tab``'s (:class:`~ipyllm.InvalidOptionError` otherwise)."""
        self.manager.rename(self, title)

    def set_model(self, model: str) -> None:
        """Use ``model`` (``"provider:model"``) for this tab's next prompts."""
        from .._registry import parse_model

        parse_model(model)  # a bad name fails here, with the list of providers
        self.model = model
        self.manager.publish(TabsChanged(self.id, "model"))

    def pending_calls(self) -> list[ToolCall]:
        """The latest turn's tool calls waiting for the user's approval (``approve="ask"``)."""
        last = self.last
        if last is None:
            return []
        with self._lock:
            return [c for c in last.tool_calls if c.status == "awaiting"]

    def approve(self, call: ToolCall | int | str, run: bool = True) -> None:
        """Answer a tool call waiting for approval: run it (``run=True``) or decline it
        (the model is told the user declined). ``call`` is the :class:`~ipyllm.ToolCall`,
        its index in the turn's calls, or its id. Any thread; a call that no longer
        waits is left as it is."""
        last = self.last
        if last is None:
            return
        with self._lock:
            calls = last.tool_calls
            if isinstance(call, int):
                index = call
            elif isinstance(call, ToolCall):
                index = next((i for i, c in enumerate(calls) if c is call), -1)
            else:
                index = next((i for i, c in enumerate(calls) if c.id == call), -1)
            waiter = last.approvals.get(index)
        if waiter is not None:
            _worker.worker_loop().call_soon_threadsafe(_answer, waiter, bool(run))

    def stop(self) -> None:
        """Stop the answer in progress; the partial text is kept and the turn marked stopped."""
        last = self.last
        if last is not None and not last.settled.is_set():
            stop_turn(last)

    def close(self) -> None:
        """Stop any answer, end every subscription and remove the tab from the manager."""
        self.stop()
        with self._lock:
            self.closed = True
        self.manager.remove(self)  # ends its subscriptions too


@dataclass(frozen=True, slots=True)
class TabInfo:
    """A tab's metadata at one moment (:meth:`Tab.info`)."""

    id: str
    title: str
    model: str
    status: TabStatusName
    max_history: int | None
    turns: tuple[TurnInfo, ...]


class TurnWriter:
    """What the runner may do to the one turn it streams: append pieces, then finish.

    :meth:`Tab.send` hands one out per turn; it is used on the worker loop only.
    """

    def __init__(self, tab: Tab, turn: Turn) -> None:
        self.tab = tab
        self.turn = turn
        self._lock = tab._lock  # the tab's own lock: the writer is part of the tab
        self._bus = tab.manager.bus

    def gate_for(self, provider: Provider) -> RateLimiter:
        """The rate-limit gate a request through ``provider`` waits at."""
        return self.tab.manager.limiter_for(provider)

    def append(self, channel: Channel, piece: str) -> None:
        """Store ``piece`` once in the turn and publish it, tagged with its offset."""
        self.append_many([TextDelta(piece) if channel == "text" else ReasoningDelta(piece)])

    def append_many(self, deltas: Sequence[TextDelta | ReasoningDelta]) -> None:
        """Store a network read's deltas in the turn under one lock acquisition, and
        publish one :class:`TabDelta` per run of the same channel, tagged with its offset."""
        if not deltas:
            return
        turn = self.turn
        runs: list[tuple[Channel, int, str]] = []
        with self._lock:
            start = 0
            kind = type(deltas[0])
            for i in range(1, len(deltas) + 1):
                if i < len(deltas) and type(deltas[i]) is kind:
                    continue
                channel: Channel = "text" if kind is TextDelta else "reasoning"
                run = deltas[start:i]
                piece = run[0].text if len(run) == 1 else "".join([d.text for d in run])
                runs.append((channel, turn.append(channel, piece), piece))
                if i < len(deltas):
                    start, kind = i, type(deltas[i])
            if turn.ttft_s is None:
                # Provisional (the provider's Response replaces it); kept if the turn stops.
                turn.ttft_s = time.time() - turn.started_at
        tab_id = self.tab.id
        if self._bus.listening(tab_id):
            publish, index = self._bus.publish, turn.index
            for channel, offset, piece in runs:
                publish(TabDelta(tab_id, index, offset, piece, channel))

    def lengths(self) -> tuple[int, int]:
        """How long the turn's text and reasoning are now."""
        with self._lock:
            return self.turn.text_length, self.turn.reasoning_length

    def start_answer(self, offset: int) -> None:
        """The final round's text starts at ``offset`` (a new round began)."""
        with self._lock:
            self.turn.answer_from = offset

    def add_calls(self, calls: Sequence[ToolCall]) -> int:
        """Record a round's tool calls in the turn; the index of the first."""
        with self._lock:
            first = len(self.turn.tool_calls)
            self.turn.tool_calls.extend(calls)
        for i in range(len(calls)):
            self.call_changed(first + i)
        return first

    def call_streaming(self, index: int, call: ToolCall) -> None:
        """Tell the tab's subscribers of tool call ``index`` while its arguments arrive."""
        if self._bus.listening(self.tab.id):
            self._bus.publish(self._call_event(index, call))

    def call_changed(self, index: int) -> None:
        """Tell the tab's subscribers what tool call ``index`` is now."""
        with self._lock:
            event = self._call_event(index, self.turn.tool_calls[index])
        self._bus.publish(event)

    def _call_event(self, index: int, call: ToolCall) -> TabToolCall:
        return TabToolCall(
            self.tab.id,
            self.turn.index,
            index,
            call.id,
            call.name or "",
            call.arguments,
            call.status,
            None if call.status != "done" else _result_preview(call.result),
            call.error,
            call.elapsed_s,
        )

    async def await_approval(self, index: int) -> bool:
        """Wait (on the worker loop) until the user runs or declines tool call ``index``
        (:meth:`Tab.approve`); its status is ``awaiting`` meanwhile."""
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        with self._lock:
            self.turn.approvals[index] = waiter
            self.turn.tool_calls[index].status = "awaiting"
        self.call_changed(index)
        try:
            return await waiter
        finally:
            with self._lock:
                self.turn.approvals.pop(index, None)
                call = self.turn.tool_calls[index]
                if call.status == "awaiting":  # answered (or stopped): it waits no more
                    call.status = "requested"

    def add_step(self, messages: Sequence[Message]) -> None:
        """Keep a finished round's messages (the calls and their results) in the turn."""
        with self._lock:
            self.turn.steps.extend(messages)

    def joined(self) -> tuple[str, str]:
        """The turn's text and reasoning so far, each kept from now on as one string (the
        same object returned here), so a Response built from it shares the turn's copy."""
        turn = self.turn
        with self._lock:
            turn.compact()
            return turn.text, turn.reasoning

    async def finish(
        self, status: TabStatusName, response: Response | None, error: LLMError | None
    ) -> None:
        """Settle the turn. The caller's task waits while the settle thread prices and
        records it, so the loop (every other stream) never waits for that."""
        ended = time.time()
        self.turn.task = None  # nothing streams into it any more: let the task go
        await settle_off_loop(lambda: self._settle(status, response, error, ended))

    def _settle(
        self,
        status: TabStatusName,
        response: Response | None,
        error: LLMError | None,
        ended: float,
    ) -> None:
        tab, turn = self.tab, self.turn
        try:
            with self._lock:
                turn.status = status
                if response is not None:
                    turn.response = response
                    turn.tokens_in = response.tokens_in
                    turn.tokens_out = response.tokens_out
                    turn.finish_reason = response.finish_reason
                    turn.ttft_s = response.ttft_s if response.ttft_s is not None else turn.ttft_s
                    turn.elapsed_s = response.elapsed_s
                if error is not None:
                    turn.error = str(error)
                    if turn.text_length == 0 and turn.tokens_out is None:
                        turn.cost = 0.0  # refused before any output: nothing was generated
                if status == "stopped":
                    turn.finish_reason = "stopped"
                if turn.elapsed_s is None:
                    turn.elapsed_s = ended - turn.started_at
                turn.compact()
            if turn.cost is None:
                # Priced here, the one place for every outcome: a free provider (the
                # demo, local servers) costs 0.0 even when stopped, and usage seen
                # before a stream broke is priced like a finished turn's. Outside the
                # lock: the first price imports genai-prices.
                provider, _, model = (turn.answered_by or turn.model).partition(":")
                price = pricing.cost_usd(provider, model, turn.tokens_in, turn.tokens_out)
                with self._lock:
                    turn.cost = price
            if response is not None:
                response.cost = turn.cost
            # Announce and record before settling: whoever waits on `settled` may send
            # the next prompt (whose "streaming" must not overtake this "done" on the
            # way to the views) or flush the history at once (which must then hold it).
            tab.manager.publish(TabStatus(tab.id, turn.index, status))
            if tab.recorded:
                tab.manager.history.record(turn.record(tab.conversation_id, tab.title))
        finally:
            turn.settled.set()  # whatever happened above, nobody waits forever


def _answer(waiter: asyncio.Future[bool], run: bool) -> None:
    if not waiter.done():
        waiter.set_result(run)


def _result_preview(result: object) -> str:
    from .._tools import result_text

    return result_text(result)


def _models(model: str | Sequence[str], fallback: Sequence[str]) -> list[str]:
    models = [model] if isinstance(model, str) else list(model)
    models += [m for m in fallback if m not in models]
    if not models:
        raise ConfigurationError("No model given: pass model='provider:model'.")
    return models
