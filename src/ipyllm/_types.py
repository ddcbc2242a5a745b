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

    def __post_init__(self) -> None:
        check_options(self.temperature, self.max_tokens)


def check_options(
    temperature: object,
    max_tokens: object,
    *,
    max_temperature: float | None = None,
    provider: str = "",
) -> None:
    """Raise :class:`~ipyllm.InvalidOptionError` unless ``temperature`` is a finite number
    from 0 to ``max_temperature`` (no upper bound if ``None``) and ``max_tokens`` a positive
    integer; ``None`` for either means the provider's default and always passes."""
    import math

    from ._errors import InvalidOptionError

    who = provider or None
    if temperature is not None:
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not math.isfinite(temperature)
        ):
            raise InvalidOptionError(
                f"temperature must be a finite number, not {temperature!r}.", provider=who
            )
        top = math.inf if max_temperature is None else max_temperature
        if not 0 <= temperature <= top:
            span = "of 0 or more" if max_temperature is None else f"from 0 to {top:g}"
            where = f" for {provider}" if provider else ""
            raise InvalidOptionError(
                f"temperature {temperature!r} is out of range{where}: use a number {span}.",
                provider=who,
            )
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise InvalidOptionError(
            f"max_tokens must be a positive integer, not {max_tokens!r}.", provider=who
        )


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


# The finish reason every adapter reports when a content filter stopped the answer;
# the provider's own word for it goes in ``filter_reason``.
CONTENT_FILTER = "content_filter"


@dataclass(slots=True)
class Finish:
    """The model stopped; ``reason`` is the provider's own word for why, except that a
    content filter is always :data:`CONTENT_FILTER`, with the provider's word (``SAFETY``,
    ``RECITATION``, ``content_filter``…) in ``filter_reason``."""

    reason: str | None
    filter_reason: str | None = None


@dataclass(slots=True)
class ErrorEvent:
    """The stream carried an error. ``status`` is the HTTP-like code it names, if any."""

    message: str
    status: int | None = None
    kind: str | None = None
    body: Any = None


@dataclass(slots=True)
class Done:
    """The answer is complete (``data: [DONE]``, ``message_stop``, ``done: true``, Gemini's
    last chunk): the engine stops reading there and releases the connection at once."""


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
    # Set when a content filter ended the answer (``finish_reason == "content_filter"``):
    # the provider's reason, such as Gemini's ``SAFETY`` or ``RECITATION``.
    filter_reason: str | None = None

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        from ._untrusted import inert_markdown  # the model wrote it: formatting only, no HTML

        return inert_markdown(self.text)
