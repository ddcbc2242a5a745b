"""Folding a stream's events into a :class:`~ipyllm.Response`."""

from __future__ import annotations

import time

from .._types import (
    Finish,
    ReasoningDelta,
    RefusalDelta,
    Response,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)


class ResponseBuilder:
    """Collects one stream's events; :meth:`response` gives the answer so far."""

    __slots__ = (
        "finish_reason",
        "model",
        "provider",
        "reasoning",
        "refusal",
        "started",
        "text",
        "tool_calls",
        "ttft_s",
        "usage",
    )

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.started = time.perf_counter()
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, ToolCall] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.ttft_s: float | None = None

    @property
    def delivered(self) -> bool:
        """Whether any text or reasoning has been handed to the caller."""
        return bool(self.text or self.reasoning)

    @property
    def partial(self) -> str:
        """The answer text so far."""
        return "".join(self.text)

    def add(self, event: StreamEvent) -> None:
        """Fold one event in. Deltas other than text and reasoning land here too."""
        if isinstance(event, TextDelta):
            if self.ttft_s is None:
                self.ttft_s = time.perf_counter() - self.started
            self.text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
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
        elif isinstance(event, RefusalDelta):
            self.refusal.append(event.text)
        elif isinstance(event, ToolCallDelta):
            call = self.tool_calls.get(event.index)
            if call is None:
                self.tool_calls[event.index] = ToolCall(event.id, event.name, event.arguments)
            else:
                call.id = call.id or event.id
                call.name = call.name or event.name
                call.arguments += event.arguments

    def response(self, finish_reason: str | None = None) -> Response:
        """The answer as collected so far; ``finish_reason`` overrides the provider's."""
        return Response(
            text=self.partial,
            reasoning="".join(self.reasoning) if self.reasoning else None,
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
        )
