"""Folding a stream's events into a :class:`~ipyllm.Response`."""

from __future__ import annotations

import time
from collections.abc import Callable

from .._types import (
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    RefusalDelta,
    Response,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from .limits import DEFAULT_MAX_ANSWER_CHARS

# Where a caller that keeps the answer itself lets the builder read it back:
# ``(text, reasoning)`` so far, every delta handed to ``on_chunk`` included.
AnswerSource = Callable[[], tuple[str, str]]


class AnswerLimitReached(Exception):
    """The answer would grow past ``max_answer_chars``: the stream should stop here.

    A signal to the engine, never shown to a user: it closes the connection and returns
    the answer so far with ``finish_reason="answer_limit"``.
    """


class ResponseBuilder:
    """Collects one stream's events; :meth:`response` gives the answer so far.

    Text, reasoning, refusal and tool-call arguments together may hold at most
    ``max_chars`` characters: the delta that would pass it is not kept, and
    :class:`AnswerLimitReached` is raised instead.

    Given an ``answer`` source, the builder keeps no text or reasoning of its own:
    the caller that stores the deltas (the manager's turn) is the one copy, and
    :attr:`partial` and :meth:`response` read it from there.
    """

    __slots__ = (
        "answer",
        "filter_reason",
        "finish_reason",
        "max_chars",
        "model",
        "provider",
        "reasoned",
        "reasoning",
        "reasoning_signature",
        "refusal",
        "size",
        "started",
        "text",
        "tool_calls",
        "ttft_s",
        "usage",
    )

    def __init__(
        self,
        provider: str,
        model: str,
        max_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        answer: AnswerSource | None = None,
    ) -> None:
        self.answer = answer
        self.provider = provider
        self.model = model
        self.max_chars = max_chars
        self.size = 0  # characters kept so far, counted against max_chars
        self.started = time.perf_counter()
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.reasoning_signature: str | None = None
        self.tool_calls: dict[int, ToolCall] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.filter_reason: str | None = None
        self.ttft_s: float | None = None  # set by the first text delta
        self.reasoned = False  # any reasoning delta yet

    @property
    def delivered(self) -> bool:
        """Whether any text or reasoning has been handed to the caller."""
        return self.ttft_s is not None or self.reasoned

    @property
    def partial(self) -> str:
        """The answer text so far."""
        if self.answer is not None:
            return self.answer()[0]
        return "".join(self.text)

    def add_text(self, text: str) -> None:
        """Fold one :class:`TextDelta`'s text in (the per-token path: no type test)."""
        size = self.size + len(text)  # inline, not _grow: this is the per-token path
        if size > self.max_chars:
            raise AnswerLimitReached
        self.size = size
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self.started
        if self.answer is None:
            self.text.append(text)

    def add(self, event: StreamEvent) -> None:
        """Fold one event in. Deltas other than text and reasoning land here too."""
        if isinstance(event, TextDelta):
            self.add_text(event.text)
        elif isinstance(event, ReasoningDelta):
            text = event.text
            size = self.size + len(text)
            if size > self.max_chars:
                raise AnswerLimitReached
            self.size = size
            self.reasoned = True
            if self.answer is None:
                self.reasoning.append(text)
        elif isinstance(event, Usage):
            # Providers report usage more than once; later non-empty values win.
            if event.tokens_in is not None:
                self.usage.tokens_in = event.tokens_in
            if event.tokens_out is not None:
                self.usage.tokens_out = event.tokens_out
            if event.reasoning_tokens is not None:
                self.usage.reasoning_tokens = event.reasoning_tokens
        elif isinstance(event, Finish):
            self.finish_reason = event.reason
            self.filter_reason = event.filter_reason
        elif isinstance(event, RefusalDelta):
            self._grow(len(event.text))
            self.refusal.append(event.text)
        elif isinstance(event, ToolCallDelta):
            self._grow(len(event.arguments))
            call = self.tool_calls.get(event.index)
            if call is None:
                self.tool_calls[event.index] = ToolCall(
                    event.id, event.name, event.arguments, signature=event.signature
                )
            else:
                call.id = call.id or event.id
                call.name = call.name or event.name
                call.signature = call.signature or event.signature
                call.arguments += event.arguments
        elif isinstance(event, ReasoningSignature):
            self.reasoning_signature = (self.reasoning_signature or "") + event.signature

    def _grow(self, chars: int) -> None:
        size = self.size + chars
        if size > self.max_chars:
            raise AnswerLimitReached
        self.size = size

    def response(self, finish_reason: str | None = None) -> Response:
        """The answer as collected so far; ``finish_reason`` overrides the provider's."""
        if self.answer is not None:
            text, reasoning = self.answer()
        else:
            text, reasoning = "".join(self.text), "".join(self.reasoning)
        return Response(
            text=text,
            reasoning=reasoning if self.reasoned else None,
            model=self.model,
            provider=self.provider,
            tokens_in=self.usage.tokens_in,
            tokens_out=self.usage.tokens_out,
            reasoning_tokens=self.usage.reasoning_tokens,
            finish_reason=finish_reason or self.finish_reason,
            ttft_s=self.ttft_s,
            elapsed_s=time.perf_counter() - self.started,
            refusal="".join(self.refusal) if self.refusal else None,
            tool_calls=[self.tool_calls[i] for i in sorted(self.tool_calls)],
            filter_reason=self.filter_reason,
            reasoning_signature=self.reasoning_signature,
        )
