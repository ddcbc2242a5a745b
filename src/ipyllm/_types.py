"""Plain data shared by every layer: messages, options, stream events, responses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

Role = Literal["system", "user", "assistant", "tool"]
AttachmentKind = Literal["image", "pdf", "text"]
"""What an attachment is, as a provider's ``ProviderSpec.attachments`` lists what it takes."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that goes with a user message: an image, a PDF or a text file.

    ``data`` holds its bytes, except for an image given by ``url`` (an ``http(s)`` URL
    the provider fetches itself; ipyllm never does). ``width``/``height`` are an
    image's pixels when known. Frozen, so that a turn's attachments stay what was sent
    and a downscaled copy can be cached by value.
    """

    kind: AttachmentKind
    mime: str
    data: bytes = field(default=b"", repr=False)
    url: str | None = None
    name: str | None = None
    width: int | None = None
    height: int | None = None

    def describe(self) -> str:
        """A short human description: ``"640×480 PNG"``, ``"report.pdf (12 kB PDF)"``."""
        fmt = self.mime.rpartition("/")[2].upper().replace("JPG", "JPEG")
        if self.url is not None:
            return f"{fmt if self.kind != 'image' else 'image'} at {self.url}"
        if self.kind == "image" and self.width and self.height:
            return f"{self.width}×{self.height} {fmt}"
        n = len(self.data)
        size = f"{n / 1000:.0f} kB" if n >= 1000 else f"{n} B"
        label = {"pdf": "PDF", "text": "text file"}.get(self.kind, fmt)
        return f"{self.name} ({size} {label})" if self.name else f"{size} {label}"


class WireToolCall(TypedDict):
    """A tool call inside an assistant :class:`Message`, as it goes back to the provider."""

    id: str | None  # None where the provider sends none (older Gemini and Ollama)
    name: str
    arguments: str  # the JSON text of the arguments, as the model wrote it
    # Gemini's thoughtSignature for this call, sent back with it (the API requires it).
    signature: NotRequired[str]


class Message(TypedDict):
    """One message of a conversation, as every provider adapter accepts it.

    ``role`` and ``content`` are always there. An assistant message that called tools
    has ``tool_calls``; each call's result is a ``"tool"`` message naming the call
    (``tool_call_id``) and the function (``name``), ``is_error`` when it failed.
    ``reasoning`` and ``reasoning_signature`` are an assistant message's thinking, which
    Anthropic requires back, signed, in a conversation that used tools.
    ``attachments`` are the images and files that go with a user message: ``content``
    stays its text (everything that reads a message's words reads it there), and each
    adapter renders the attachments in its family's shape.
    """

    role: Role
    content: str
    tool_calls: NotRequired[list[WireToolCall]]
    tool_call_id: NotRequired[str | None]
    name: NotRequired[str]
    is_error: NotRequired[bool]
    reasoning: NotRequired[str]
    reasoning_signature: NotRequired[str]
    attachments: NotRequired[list[Attachment]]


def user_message(text: str, attachments: Sequence[Attachment] = ()) -> Message:
    """A user message: its text, and the attachments that go with it (none: no key)."""
    message: Message = {"role": "user", "content": text}
    if attachments:
        message["attachments"] = list(attachments)
    return message


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call, as the provider is told of it: its name, what it
    does, and the JSON Schema of its arguments (an object schema)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """The JSON Schema the answer must follow (structured output). ``name`` is a short
    identifier (OpenAI's ``json_schema.name``, Anthropic's forced tool); ``strict`` asks
    the provider to enforce the schema where it can."""

    name: str
    schema: dict[str, Any]
    strict: bool = True


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
    # Functions the model may call this request, and the schema the answer must follow.
    tools: tuple[ToolSpec, ...] = ()
    output_schema: OutputSchema | None = None

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
class ReasoningSignature:
    """The signature of the reasoning so far (Anthropic's ``signature_delta``): sent back
    with the reasoning when the conversation goes on after a tool call."""

    signature: str


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of a tool call; ``index`` groups the pieces of one call. ``signature`` is
    Gemini's ``thoughtSignature`` for the call."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    signature: str | None = None


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
    TextDelta
    | ReasoningDelta
    | ReasoningSignature
    | RefusalDelta
    | ToolCallDelta
    | Usage
    | Finish
    | ErrorEvent
    | Done
)

ToolCallStatus = Literal["requested", "awaiting", "running", "done", "error", "denied", "skipped"]


@dataclass(slots=True)
class ToolCall:
    """A tool call the model asked for, and what became of it.

    ``arguments`` is the JSON text exactly as the model wrote it; ``args`` the parsed
    arguments (set when the call is run). ``status``: ``requested`` (not run: no such
    tool, or the turn ended first), ``awaiting`` (the user's approval), ``running``,
    ``done`` (``result`` holds what the function returned), ``error`` (``error`` holds
    the exception's type and message, sent to the model as the result), ``denied``
    (the user declined it) or ``skipped`` (``max_tool_rounds`` was reached).
    """

    id: str | None
    name: str | None
    arguments: str
    args: dict[str, Any] | None = None
    result: Any = None
    error: str | None = None
    elapsed_s: float | None = None
    status: ToolCallStatus = "requested"
    # Gemini's thoughtSignature, echoed back with the call; not shown.
    signature: str | None = field(default=None, repr=False)


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
    # The validated value of a structured answer (``schema=``): a pydantic model, a
    # dataclass, or the parsed JSON; None without a schema.
    data: Any = None
    # The signature of ``reasoning`` (Anthropic), sent back after a tool call; not shown.
    reasoning_signature: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        from ._untrusted import inert_markdown  # the model wrote it: formatting only, no HTML

        return inert_markdown(self.text)
