"""Running one turn on the worker loop: fallback across models, deltas into the tab."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
from .._types import Message, ReasoningDelta, Response, TextDelta
from .options import RequestOptions, stream_request

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
    # About four characters a token; enough for a client-side budget.
    return sum(len(m["content"]) for m in messages) // 4 + (max_tokens or 256)


async def run_turn(writer: TurnWriter, plan: TurnPlan, sink: Sink | None) -> Response:
    """Stream ``writer``'s turn, trying ``plan.models`` in order until one answers."""
    batch = ReadBatch(writer, sink)
    try:
        return await _run_models(writer, plan, batch)
    finally:
        batch.flush()  # whatever ended the turn, the tab holds every piece before it settles


class ReadBatch:
    """Hands the runner's deltas to the turn one network read at a time.

    The reader calls :meth:`on_chunk` per delta; the first of a read schedules
    :meth:`flush` for when the worker loop finishes its current step, by which
    time the read is decoded. The turn then takes them under one lock
    acquisition (:meth:`TurnWriter.append_many`), and the sink gets each, in order.
    """

    __slots__ = ("delivered", "pending", "scheduled", "sink", "writer")

    def __init__(self, writer: TurnWriter, sink: Sink | None) -> None:
        self.writer = writer
        self.sink = sink
        self.pending: list[TextDelta | ReasoningDelta] = []
        self.scheduled = False
        self.delivered = False

    def on_chunk(self, delta: TextDelta | ReasoningDelta) -> None:
        self.pending.append(delta)
        if not self.scheduled:
            self.scheduled = self.delivered = True
            _worker.call_when_idle(self.flush)

    def answer(self) -> tuple[str, str]:
        """The turn's text and reasoning so far, pending deltas included: the engine's
        Response and partial text are read from here, so the turn keeps the one copy."""
        self.flush()
        return self.writer.joined()

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


async def _run_models(writer: TurnWriter, plan: TurnPlan, batch: ReadBatch) -> Response:
    turn = writer.turn
    on_chunk = batch.on_chunk
    messages = turn.full_query  # built once per turn, from the turns it continues
    last_error: LLMError | None = None
    loop = asyncio.get_running_loop()
    started = loop.time()  # one deadline for the turn, whichever model answers
    options = plan.options
    budget = options.deadline if options.deadline is not None else DEFAULT_LIMITS.deadline
    for i, model in enumerate(plan.models):
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
            if batch.delivered or i == len(plan.models) - 1 or not isinstance(err, _FALL_THROUGH):
                raise
            if loop.time() - started >= budget:
                raise  # no time left for the next model
            log.info(
                "%s failed before its first token (%s); trying %s", model, err, plan.models[i + 1]
            )
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
