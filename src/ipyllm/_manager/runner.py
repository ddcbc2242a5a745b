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
    delivered = False
    turn = writer.turn
    append = writer.append

    def on_chunk(delta: TextDelta | ReasoningDelta) -> None:
        nonlocal delivered
        delivered = True
        append("text" if type(delta) is TextDelta else "reasoning", delta.text)
        if sink is not None:
            sink(delta)

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
            )
        except LLMError as err:
            last_error = err
            if delivered or i == len(plan.models) - 1 or not isinstance(err, _FALL_THROUGH):
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
