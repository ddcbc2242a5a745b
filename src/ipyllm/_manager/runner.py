"""Running one turn on the worker loop: fallback across models, deltas into the tab,
rounds of tool calls, and the structured answer checked against its schema."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _registry, _worker
from .._engine.limits import DEFAULT_LIMITS
from .._errors import (
    AuthenticationError,
    ConnectionError,
    ContextLengthError,
    LLMError,
    MissingKeyError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamError,
    TimeoutError,
)
from .._types import Message, ReasoningDelta, Response, TextDelta, ToolCall, ToolCallDelta
from .options import DEFAULT_MAX_TOOL_ROUNDS, RequestOptions, stream_request
from .tool_loop import assistant_message, run_calls, skip_calls

if TYPE_CHECKING:
    from .tab import TurnWriter
    from .turn import Turn

log = logging.getLogger("ipyllm")

Sink = Callable[[TextDelta | ReasoningDelta], object]

# Failures before the first token after which the next model is worth a try.
_FALL_THROUGH = (
    AuthenticationError,
    MissingKeyError,
    RateLimitError,
    ServerError,
    ConnectionError,
    TimeoutError,
    StreamError,
    NotFoundError,
    ContextLengthError,  # the next model may have a larger context
)


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """How to answer a turn: which models in order, and the request options.

    Every front door (Session, the magic, the panel) sends through Tab.send, which
    builds the plan before the turn exists: a bad value costs no request and leaves
    no history row. The temperature is checked against each model's provider's
    range here, fallbacks included.
    """

    models: list[str]
    options: RequestOptions = field(default_factory=RequestOptions)

    def __post_init__(self) -> None:
        self.options.check_models(self.models)


def _estimate_tokens(messages: list[Message], max_tokens: int | None) -> int:
    # About four characters a token; enough for a client-side budget. An attachment
    # counts as ~1,000 (an image is 765-1,600 at OpenAI's and Anthropic's rates).
    chars = sum(len(m["content"]) for m in messages)
    attached = sum(len(m.get("attachments") or ()) for m in messages)
    return chars // 4 + attached * 1_000 + (max_tokens or 256)


ROUNDS_LIMIT = "max_tool_rounds"
"""The finish reason of a turn whose model still asked for tools after the last round."""


async def run_turn(writer: TurnWriter, plan: TurnPlan, sink: Sink | None) -> Response:
    """Stream ``writer``'s turn, trying ``plan.models`` in order until one answers; run
    the tools it asks for and stream again, round after round, until it answers."""
    batch = ReadBatch(writer, sink)
    output = plan.options.output
    writer.turn.structured = output is not None
    try:
        response = await _run_rounds(writer, plan, batch)
    finally:
        batch.flush()  # whatever ended the turn, the tab holds every piece before it settles
    if output is not None:
        output.fill(response)
        writer.turn.data = response.data
    return response


async def _run_rounds(writer: TurnWriter, plan: TurnPlan, batch: ReadBatch) -> Response:
    options = plan.options
    limit = DEFAULT_MAX_TOOL_ROUNDS if options.max_tool_rounds is None else options.max_tool_rounds
    messages = writer.turn.full_query  # built once per turn, from the turns it continues
    models = plan.models
    rounds: list[Response] = []
    while True:
        response = await _run_models(writer, models, options, batch, messages)
        rounds.append(response)
        calls = response.tool_calls
        if not calls or not options.tool_list:
            if calls:
                writer.add_calls(calls)  # shown, not run: no tools were offered
            break
        if len(rounds) > limit:
            skip_calls(writer, calls, f"Not run: the turn reached max_tool_rounds={limit}.")
            response.finish_reason = ROUNDS_LIMIT
            break
        step = [assistant_message(response), *await run_calls(writer, calls, options)]
        writer.add_step(step)
        messages = [*messages, *step]
        models = [writer.turn.answered_by or models[0]]  # the model that began goes on
        batch.new_round()
    return _combined(rounds, writer)


def _combined(rounds: list[Response], writer: TurnWriter) -> Response:
    """The turn's Response: the last round's answer, the usage of every round, every call."""
    last = rounds[-1]
    if len(rounds) == 1:
        return last
    first = rounds[0]
    last.tokens_in = _sum(r.tokens_in for r in rounds)
    last.tokens_out = _sum(r.tokens_out for r in rounds)
    last.reasoning_tokens = _sum(r.reasoning_tokens for r in rounds)
    last.ttft_s = first.ttft_s if first.ttft_s is not None else last.ttft_s
    last.elapsed_s = _sum(r.elapsed_s for r in rounds)
    last.tool_calls = list(writer.turn.tool_calls)
    return last


def _sum(values: object) -> Any:
    known = [v for v in values if v is not None]  # type: ignore[attr-defined]
    return sum(known) if known else None


class ReadBatch:
    """Hands the runner's deltas to the turn one network read at a time.

    The reader calls :meth:`on_chunk` per delta; the first of a read schedules
    :meth:`flush` for when the worker loop finishes its current step, by which
    time the read is decoded. The turn then takes them under one lock
    acquisition (:meth:`TurnWriter.append_many`), and the sink gets each, in order.
    """

    __slots__ = (
        "calls",
        "calls_from",
        "delivered",
        "pending",
        "scheduled",
        "separate",
        "sink",
        "starts",
        "writer",
    )

    def __init__(self, writer: TurnWriter, sink: Sink | None) -> None:
        self.writer = writer
        self.sink = sink
        self.pending: list[TextDelta | ReasoningDelta] = []
        self.scheduled = False
        self.delivered = False
        # Where this round's text and reasoning start in the turn's, and the channels
        # whose first piece this round must be set apart from the round before.
        self.starts = (0, 0)
        self.separate: set[type] = set()
        # This round's tool calls as their pieces arrive (by the stream's index), and
        # the turn's count of calls before them: their index in the turn's calls.
        self.calls: dict[int, ToolCall] = {}
        self.calls_from = 0

    def new_round(self) -> None:
        """The next round of a tool loop begins: its text follows the last round's after
        a blank line, and the engine's answer is this round's text alone."""
        self.flush()
        self.calls = {}
        self.calls_from = len(self.writer.turn.tool_calls)
        text, reasoning = self.writer.lengths()
        self.starts = (text, reasoning)
        self.separate = {k for k, n in ((TextDelta, text), (ReasoningDelta, reasoning)) if n}
        self.writer.start_answer(text)

    def on_chunk(self, delta: TextDelta | ReasoningDelta | ToolCallDelta) -> None:
        if type(delta) is ToolCallDelta:
            return self._tool_piece(delta)
        if self.separate and type(delta) in self.separate:
            self._set_apart(delta)  # type: ignore[arg-type]
        self.pending.append(delta)  # type: ignore[arg-type]
        if not self.scheduled:
            self.scheduled = self.delivered = True
            _worker.call_when_idle(self.flush)

    def _tool_piece(self, delta: ToolCallDelta) -> None:
        """A piece of a tool call: views see its arguments grow (the call is the turn's
        once the round's answer is complete)."""
        self.flush()  # the text before the call goes first
        call = self.calls.get(delta.index)
        if call is None:
            call = self.calls[delta.index] = ToolCall(delta.id, delta.name, "")
        call.id = call.id or delta.id
        call.name = call.name or delta.name
        call.arguments += delta.arguments
        position = list(self.calls).index(delta.index)
        self.writer.call_streaming(self.calls_from + position, call)

    def _set_apart(self, delta: TextDelta | ReasoningDelta) -> None:
        kind = type(delta)
        self.separate.discard(kind)
        self.pending.append(kind("\n\n"))
        text, reasoning = self.starts
        if kind is TextDelta:
            self.starts = (text + 2, reasoning)
            self.writer.start_answer(text + 2)
        else:
            self.starts = (text, reasoning + 2)

    def answer(self) -> tuple[str, str]:
        """This round's text and reasoning so far, pending deltas included: the engine's
        Response and partial text are read from here, so the turn keeps the one copy."""
        self.flush()
        text, reasoning = self.writer.joined()
        start_text, start_reasoning = self.starts
        if start_text:
            text = text[start_text:]
        if start_reasoning:
            reasoning = reasoning[start_reasoning:]
        return text, reasoning

    def flush(self) -> None:
        """Hand the pending deltas over now (also called at the turn's end)."""
        self.scheduled = False
        pending = self.pending
        if not pending:
            return
        self.pending = []
        self.writer.append_many(pending)
        sink = self.sink
        if sink is not None:
            for delta in pending:
                sink(delta)


async def _run_models(
    writer: TurnWriter,
    models: list[str],
    options: RequestOptions,
    batch: ReadBatch,
    messages: list[Message],
) -> Response:
    turn = writer.turn
    on_chunk = batch.on_chunk
    last_error: LLMError | None = None
    loop = asyncio.get_running_loop()
    started = loop.time()  # one deadline for the round, whichever model answers
    budget = options.deadline if options.deadline is not None else DEFAULT_LIMITS.deadline
    for i, model in enumerate(models):
        provider_name, model_name = _registry.parse_model(model)
        turn.answered_by = f"{provider_name}:{model_name}"
        try:
            provider = _registry.get_provider(
                provider_name,
                options.api_key if i == 0 else None,
                options.base_url if i == 0 else None,
                allow_insecure_http=bool(options.allow_insecure_http) and i == 0,
            )
            if options.deadline is None:
                budget = provider.limits.deadline  # configure()'s, for this model's provider
            response = await stream_request(
                provider,
                messages,
                model_name,
                options,
                on_chunk,
                gate=writer.gate_for(provider),
                deadline_from=started,
                estimated_tokens=_estimate_tokens(messages, options.max_tokens),
                answer=batch.answer,
            )
        except LLMError as err:
            last_error = err
            if batch.delivered or i == len(models) - 1 or not isinstance(err, _FALL_THROUGH):
                raise
            if loop.time() - started >= budget:
                raise  # no time left for the next model
            log.info("%s failed before its first token (%s); trying %s", model, err, models[i + 1])
            continue
        return response
    assert last_error is not None  # the loop either returned or raised
    raise last_error


def stop_turn(turn: Turn) -> None:
    """Stop ``turn`` from any thread. The stop happens on the worker loop, where the
    turn's task lives, so a stop that comes before the task starts is not lost."""

    def stop_on_loop() -> None:
        turn.stop_requested = True
        if turn.task is not None:
            turn.task.cancel()

    _worker.worker_loop().call_soon_threadsafe(stop_on_loop)


async def guarded(writer: TurnWriter, plan: TurnPlan, sink: Sink | None) -> Response:
    """:func:`run_turn`, then settle the turn: done, stopped (partial kept) or error.

    The future of this coroutine completes only once the turn has settled.
    """
    turn = writer.turn
    try:
        turn.task = asyncio.current_task()
        if turn.stop_requested:
            raise asyncio.CancelledError
        response = await run_turn(writer, plan, sink)
    except asyncio.CancelledError:
        await writer.finish("stopped", None, None)
        raise
    except LLMError as err:
        await writer.finish("error", err.response, err)
        raise
    except Exception as err:  # a bug, not a provider failure: still settle the tab
        await writer.finish("error", None, LLMError(f"Internal error: {err!r}"))
        raise
    await writer.finish("done", response, None)
    return response
