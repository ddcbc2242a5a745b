"""What describes a provider (a table row) and an outgoing request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .._attachments.images import IMAGE_MIMES

if TYPE_CHECKING:
    from .._types import Message, Options, StreamEvent
    from .._wire.sse import SSEEvent

WireFormat = Literal["sse", "ndjson"]
# The attachment kinds (AttachmentKind) a row may list.
ATTACHMENT_KINDS = frozenset({"image", "pdf", "text"})
StructuredOutput = Literal["json_schema", "json_object", "none"]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider: where it lives, how it authenticates, what it serves, its quirks.

    The catalog's rows are the defaults; ``ipyllm.configure`` may replace ``base_url``,
    ``headers``, ``models``, ``default_model``, ``allow_insecure_http``, ``attachments``,
    ``attachment_urls`` and ``max_document_bytes`` for a process (the registry's
    ``effective_spec``).
    """

    name: str
    label: str
    adapter: str  # "openai", "anthropic", "gemini" or "ollama" (catalog.new_adapter)
    base_url: str | None
    base_url_env: tuple[str, ...] = ()
    key_env: tuple[str, ...] = ()
    needs_key: bool = True
    default_model: str = ""
    models: tuple[str, ...] = ()
    local: bool = False
    # Whether its key may go over plain http:// to a host that is not loopback or on
    # a private network (register_endpoint(..., allow_insecure_http=True), configure).
    allow_insecure_http: bool = False
    has_model_list: bool = True
    # Whether its models may stream their reasoning as text (Provider.capabilities()).
    reasoning: bool = True
    # An in-process transport that answers instead of the network, by name
    # (catalog.new_transport): the offline demo's. None: real HTTP.
    transport: str | None = None
    # The base-URL environment variable may hold a bare ``host[:port]`` rather than a
    # URL (OLLAMA_HOST's convention): it then means http://host:this port, and a
    # wildcard 0.0.0.0 (where a server listens) means loopback (where a client goes).
    bare_host_port: int | None = None
    # Highest temperature the provider documents (the lowest is 0 everywhere); a request
    # above it is refused before it is sent. 2.0 is OpenAI's, Gemini's, xAI's,
    # OpenRouter's and Fireworks'; None means no documented bound (local servers).
    max_temperature: float | None = 2.0
    # OpenAI-style quirks
    include_usage: bool = True  # send stream_options.include_usage
    # How the server takes an output schema: "json_schema" (OpenAI's response_format
    # json_schema, enforced), "json_object" (JSON mode only: the schema goes in the
    # system prompt) or "none" (no response_format at all: the prompt alone asks).
    structured_output: StructuredOutput = "json_schema"
    max_tokens_field: str = "max_tokens"
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Business codes the provider puts in error bodies, even in a 200 (MiniMax's
    # ``base_resp.status_code``), and the kind of error each is: "auth", "rate_limit",
    # "quota", "timeout", "server", "bad_request", "not_found" or "content_filter".
    error_codes: dict[str, str] = field(default_factory=dict)
    # What a user message may carry (Message.attachments): "image", "pdf", "text". Any
    # other kind is refused before sending. OpenAI-style servers default to images and
    # text (text files go as text parts, which every such server reads; whether the
    # model sees images is the model's business, and the server says so if not).
    attachments: frozenset[str] = frozenset({"image", "text"})
    # Whether an image may go as an http(s) URL for the provider to fetch (ipyllm never
    # fetches one itself); False: an image URL is refused before sending.
    attachment_urls: bool = False
    # Image limits: a larger image is scaled down (long edge in pixels, then bytes of the
    # encoded image) and converted to a format of image_mimes before it is sent. The
    # defaults are OpenAI's (catalog.py gives each number's source), which
    # OpenAI-compatible servers copy.
    image_mimes: frozenset[str] = IMAGE_MIMES
    max_image_edge: int = 2048
    max_image_bytes: int = 20_000_000
    # Document limits, in bytes of the file as read (base64's 4/3 already allowed for
    # where a provider counts the encoded request). A PDF or text file over
    # max_document_bytes is refused before sending (a document cannot be scaled down
    # like an image): OpenAI's 32 MB by default. max_request_attachment_bytes bounds
    # the sum of every attachment one request carries, the history's included and
    # images as fitted; None where no bound is documented (OpenAI-compatible servers).
    max_document_bytes: int = 32_000_000
    max_request_attachment_bytes: int | None = None


@dataclass(slots=True)
class ErrorDetails:
    """The parts of a provider's error body that matter: its words, its code, its type."""

    message: str
    code: str | None
    etype: str | None


def read_error_body(body: Any) -> ErrorDetails:
    """Message, code and type from the error body most vendors share: the message under
    ``error`` (a string, or an object with ``message``), a ``code``, ``type`` or
    ``status`` beside it. An adapter's :meth:`Adapter.error_details` starts here."""
    if not isinstance(body, dict):
        return ErrorDetails(str(body or ""), None, None)
    err = body.get("error", body)
    if isinstance(err, str):  # {"error": "…"}
        return ErrorDetails(err, _str(body.get("code")), None)
    if not isinstance(err, dict):
        return ErrorDetails(json.dumps(body)[:500], None, None)
    message = str(err.get("message") or body.get("message") or json.dumps(body)[:500])
    etype = err.get("type") or err.get("status")
    return ErrorDetails(message, _str(err.get("code")), _str(etype))


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(slots=True)
class HTTPRequest:
    """A request an adapter wants sent; the engine sends it."""

    method: str
    url: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None


class Adapter(Protocol):
    """The contract every wire adapter meets. Implementations are stateless.

    Besides building requests and decoding streams, an adapter is where its wire
    format's error quirks live, so the engine names no vendor: the error types it
    sends without a status (:attr:`error_statuses`), its business codes
    (:attr:`error_codes`), how its error bodies read (:meth:`error_details`) and
    where a body says how long to wait (:meth:`retry_after`).
    """

    wire: WireFormat
    # Error types (ErrorEvent.kind, an error body's type) and the HTTP status each
    # stands for, used to classify an error that came with no status.
    error_statuses: Mapping[str, int]
    # Business codes of the wire format and the kind of error each is, as in
    # ProviderSpec.error_codes (a provider's own table wins over these).
    error_codes: Mapping[str, str]

    def build_request(
        self,
        spec: ProviderSpec,
        base_url: str,
        key: str | None,
        messages: list[Message],
        options: Options,
    ) -> HTTPRequest:
        """The streaming request for one turn."""
        ...

    def new_state(self) -> Any:
        """Fresh per-stream state, passed back to :meth:`decode`."""
        ...

    def decode(self, item: SSEEvent | str, state: Any) -> list[StreamEvent]:
        """Map one decoded wire item onto ipyllm events."""
        ...

    def decode_body(self, body: Any, state: Any) -> list[StreamEvent]:
        """Map a whole JSON body sent instead of a stream onto events: a complete
        answer (ending in :class:`~ipyllm._types.Done`) or an error envelope (an
        :class:`~ipyllm._types.ErrorEvent`); ``[]`` if it is neither."""
        ...

    def models_request(self, spec: ProviderSpec, base_url: str, key: str | None) -> HTTPRequest:
        """The request that lists the provider's models."""
        ...

    def parse_models(self, body: Any) -> list[str]:
        """Model ids from the body of :meth:`models_request`'s response."""
        ...

    def error_details(self, body: Any) -> ErrorDetails:
        """Message, code and type from an error body (parsed JSON, or the text sent);
        :func:`read_error_body` plus this format's own envelopes."""
        ...

    def retry_after(self, body: Any) -> float | None:
        """Seconds an error body asks the client to wait before retrying, or None."""
        ...


def finish_request(
    spec: ProviderSpec,
    options: Options,
    method: str,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> HTTPRequest:
    """Merge the provider's and the call's extra body and headers into the request."""
    body.update(spec.extra_body)
    body.update(options.extra_body)
    return HTTPRequest(method, url, {**headers, **spec.headers, **options.headers}, body)
