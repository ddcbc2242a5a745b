"""Running one turn on the worker loop: fallback across models, deltas into the tab."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _registry, _runner
from .._engine.limits import DEFAULT_LIMITS, check_limits
from .._errors import (
    AuthenticationError,
    ConnectionError,
    ContextLengthError,
    InvalidOptionError,
    LLMError,
    MissingKeyError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamError,
    TimeoutError,
)
from .._types import Message, Options, ReasoningDelta, Response, TextDelta, check_options
from .._urls import check_base_url

if TYPE_CHECKING:
    from .tab import Tab
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


@dataclass
class TurnPlan:
    """How to answer a turn: which models in order, and the request options (checked here)."""

    models: list[str]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    api_key: str | None = None  # for the first model only
    base_url: str | None = None  # for the first model only
    allow_insecure_http: bool = False  # for the first model only
    max_retries: int = 2
    # Limits (docs/limits.md); None: the provider's (configure), else the defaults.
    timeout: float | None = None
    connect_timeout: float | None = None
    deadline: float | None = None  # the whole turn, fallback models included
    max_answer_chars: int | None = None
    max_history: int | None = None  # earlier turns sent with the prompt; None: the tab's

    def __post_init__(self) -> None:
        if self.base_url is not None:
            check_base_url(self.base_url, "the base_url argument")
        check_limits(
            timeout=self.timeout,
            connect_timeout=self.connect_timeout,
            deadline=self.deadline,
            max_answer_chars=self.max_answer_chars,
        )
        check_max_history(self.max_history)
        # Every front door (Session, the magic, the panel) sends through Tab.send, which
        # builds the plan before the turn exists: a bad value here costs no request and
        # leaves no history row. The range is each model's provider's, fallbacks included.
        check_options(self.temperature, self.max_tokens)
        if self.temperature is None:
            return
        for model in self.models:
            try:
                provider = _registry.parse_model(model)[0]
                bound = _registry.effective_spec(provider).max_temperature
            except LLMError:
                continue  # an unknown model fails its turn, with its own message
            check_options(self.temperature, None, max_temperature=bound, provider=provider)


def check_max_history(value: object) -> int | None:
    """``value`` if it is ``None`` or a whole number >= 0; else
    :class:`~ipyllm.InvalidOptionError`, before anything is sent or recorded."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise InvalidOptionError(
        f"max_history is the number of earlier turns sent with a prompt: a whole number "
        f">= 0, or None for all of them; not {value!r}."
    )


def _estimate_tokens(messages: list[Message], max_tokens: int | None) -> int:
    # About four characters a token; enough for a client-side budget.
    return sum(len(m["content"]) for m in messages) // 4 + (max_tokens or 256)


async def run_turn(tab: Tab, turn: Turn, plan: TurnPlan, sink: Sink | None) -> Response:
    """Stream ``turn`` into ``tab``, trying ``plan.models`` in order until one answers."""
    delivered = False

    def on_chunk(delta: TextDelta | ReasoningDelta) -> None:
        nonlocal delivered
        delivered = True
        tab._append(turn, "text" if type(delta) is TextDelta else "reasoning", delta.text)
        if sink is not None:
            sink(delta)

    messages = turn.full_query  # built once per turn, from the turns it continues
    last_error: LLMError | None = None
    loop = asyncio.get_running_loop()
    started = loop.time()  # one deadline for the turn, whichever model answers
    budget = plan.deadline if plan.deadline is not None else DEFAULT_LIMITS.deadline
    for i, model in enumerate(plan.models):
        provider_name, model_name = _registry.parse_model(model)
        turn.answered_by = f"{provider_name}:{model_name}"
        options = Options(
            model=model_name,
            system=plan.system,
            temperature=plan.temperature,
            max_tokens=plan.max_tokens,
            extra_body=plan.extra_body,
            headers=plan.headers,
        )
        try:
            provider = _registry.get_provider(
                provider_name,
                plan.api_key if i == 0 else None,
                plan.base_url if i == 0 else None,
                allow_insecure_http=plan.allow_insecure_http and i == 0,
            )
            if plan.deadline is None:
                budget = provider.limits.deadline  # configure()'s, for this model's provider
            response = await provider.query_stream(
                messages,
                options,
                on_chunk,
                max_retries=plan.max_retries,
                idle_timeout=plan.timeout,
                connect_timeout=plan.connect_timeout,
                deadline=plan.deadline,
                deadline_from=started,
                max_answer_chars=plan.max_answer_chars,
                gate=tab.manager.limiter_for(provider),
                estimated_tokens=_estimate_tokens(messages, plan.max_tokens),
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

    _runner.worker_loop().call_soon_threadsafe(stop_on_loop)


async def guarded(tab: Tab, turn: Turn, plan: TurnPlan, sink: Sink | None) -> Response:
    """:func:`run_turn`, then settle the turn: done, stopped (partial kept) or error.

    The future of this coroutine completes only once the turn has settled.
    """
    try:
        turn.task = asyncio.current_task()
        if turn.stop_requested:
            raise asyncio.CancelledError
        response = await run_turn(tab, turn, plan, sink)
    except asyncio.CancelledError:
        tab._finish(turn, "stopped", None, None)
        raise
    except LLMError as err:
        tab._finish(turn, "error", err.response, err)
        raise
    except Exception as err:  # a bug, not a provider failure: still settle the tab
        tab._finish(turn, "error", None, LLMError(f"Internal error: {err!r}"))
        raise
    tab._finish(turn, "done", response, None)
    return response
