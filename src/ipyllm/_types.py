"""Plain data shared by every layer: messages, options, stream events, responses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

Role = Literal["system", "user", "assistant"]


class Message(TypedDict):
    """One turn of a conversation, as every provider adapter accepts it."""

    role: Role
    content: str


@dataclass(slots=True)
class Options:
    """What to ask for, apart from the messages. ``None`` means the provider's default."""

    model: str
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    # Extra JSON merged into the request body, for provider-specific knobs.
    extra_body: dict[str, Any] = field(default_factory=dict)
    # Extra HTTP headers for this request only.
    headers: dict[str, str] = field(default_factory=dict)


# ---- the event vocabulary every adapter maps its wire format onto ----------


@dataclass(slots=True)
class TextDelta:
    """A piece of the visible answer."""

    text: str


@dataclass(slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning ("thinking")."""

    text: str


@dataclass(slots=True)
class RefusalDelta:
    """A piece of a refusal (OpenAI streams refusals apart from the answer)."""

    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of a tool call; ``index`` groups the pieces of one call."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class Usage:
    """Token counts; each field is the latest value the provider reported, or ``None``."""

    tokens_in: int | None = None
    tokens_out: int | None = None
    reasoning_tokens: int | None = None


@dataclass(slots=True)
class Finish:
    """The model stopped; ``reason`` is the provider's own word for why."""

    reason: str | None


@dataclass(slots=True)
class ErrorEvent:
    """The stream carried an error. ``status`` is the HTTP-like code it names, if any."""

    message: str
    status: int | None = None
    kind: str | None = None
    body: Any = None


@dataclass(slots=True)
class Done:
    """The wire's own end marker (``data: [DONE]``, ``message_stop``, ``done: true``)."""


StreamEvent = (
    TextDelta | ReasoningDelta | RefusalDelta | ToolCallDelta | Usage | Finish | ErrorEvent | Done
)


@dataclass(slots=True)
class ToolCall:
    """A complete tool call the model asked for."""

    id: str | None
    name: str | None
    arguments: str


@dataclass(slots=True)
class Response:
    """One answer from a model. ``str(r)`` is the text; notebooks render it as Markdown."""

    text: str = ""
    reasoning: str | None = None
    model: str = ""
    provider: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    reasoning_tokens: int | None = None
    finish_reason: str | None = None
    ttft_s: float | None = None
    elapsed_s: float | None = None
    cost: float | None = None  # USD, where the model's price is known
    refusal: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return self.text
