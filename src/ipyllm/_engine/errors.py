"""Turning providers' error responses and error events into ipyllm errors.

The provider's adapter reads its error bodies (:meth:`Adapter.error_details`:
the common ``error`` object, plus any envelope of its own), names the error types
it sends without a status and its business codes; a catalog row may add codes of
its own (``ProviderSpec.error_codes``). What is left here is the same for every
provider: HTTP statuses, words in messages, an HTML page quoted by its ``<title>``.

Nothing here grows with the body: a message quotes at most :data:`MESSAGE_LIMIT`
characters of the provider's words, and ``.body`` keeps at most
:data:`BODY_LIMIT` characters of what it sent.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    LLMError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    StreamError,
    TimeoutError,
)
from .._providers.spec import ErrorDetails, read_error_body
from .._types import ErrorEvent, Response
from .retry import retry_after_seconds

if TYPE_CHECKING:
    from .._providers.spec import Adapter

# The provider's words in a message are clipped here; the whole body (up to
# BODY_LIMIT) stays on ``.body`` for anyone who needs it.
MESSAGE_LIMIT = 2000
# The most of an error body that is read, parsed and kept on ``.body``.
BODY_LIMIT = 64 * 1024

# A 400 that is really about the key (Gemini, xAI answer 400 to a bad key).
_BAD_KEY = re.compile(r"api[ _-]?key|x-api-key|invalid.{0,20}(token|credential)", re.I)
# Out of money or quota for good, not a transient rate limit, in any vendor's words
# (codes that say so are in the adapters' and the catalog's tables).
_QUOTA_TEXT = re.compile(r"insufficient (balance|credits?|quota)|credit balance is too low", re.I)

# The kinds a table of business codes (ProviderSpec.error_codes, Adapter.error_codes)
# may name.
KIND_CLASS: dict[str, type[LLMError]] = {
    "auth": AuthenticationError,
    "rate_limit": RateLimitError,
    "quota": QuotaExceededError,
    "timeout": TimeoutError,
    "server": ServerError,
    "bad_request": BadRequestError,
    "not_found": NotFoundError,
    "content_filter": ContentFilterError,
}

_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_HEADING = re.compile(r"<h1[^>]*>(.*?)</h1\s*>", re.I | re.S)
_HIDDEN = re.compile(r"<(script|style)[^>]*>.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>?")
# The start of a "message" (or "…_msg") string in JSON cut short (a body larger than
# BODY_LIMIT).
_MESSAGE_START = re.compile(r'"(?:message|[a-z]+_msg)"\s*:\s*"')
_JSON_STRING_BODY = re.compile(r'(?:[^"\\]|\\.)*', re.S)


@dataclass(slots=True)
class ErrorContext:
    """What an error message needs to say how to fix the problem."""

    provider: str
    label: str
    base_url: str
    key_env: str | None
    needs_key: bool
    # The provider's business codes and the kind of error each is: its adapter's table
    # with its spec's on top.
    error_codes: Mapping[str, str] = field(default_factory=dict)
    # Reads its error bodies, names its error types and its retry hints; None: the
    # common error body, no types, no hints.
    adapter: Adapter | None = None

    def details(self, body: Any) -> ErrorDetails:
        """Message, code and type of an error body, as the provider's adapter reads it."""
        return read_error_body(body) if self.adapter is None else self.adapter.error_details(body)

    def body_retry_after(self, body: Any) -> float | None:
        """Seconds the error body asks to wait, if the adapter finds any."""
        return None if self.adapter is None else self.adapter.retry_after(body)


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text``, cut to ``limit`` characters with a note that it was.

    The note gives no count: ``text`` may itself be the start of something larger (a
    message read from a body cut at :data:`BODY_LIMIT`).
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut at {limit:,} characters; .body has more]"


def clip_body(body: Any) -> Any:
    """``body`` as it is, or as JSON text cut to :data:`BODY_LIMIT` if it is larger."""
    if isinstance(body, str):
        return body[:BODY_LIMIT]
    if isinstance(body, dict | list):
        try:
            dumped = json.dumps(body, ensure_ascii=False)
        except (TypeError, ValueError):
            return body
        if len(dumped) > BODY_LIMIT:
            return dumped[:BODY_LIMIT]
    return body


def looks_like_html(text: str) -> bool:
    """Whether ``text`` (already stripped) is markup rather than JSON or plain text."""
    return text.startswith("<")


def html_title(text: str) -> str:
    """The ``<title>`` of an HTML page as plain text, else its first heading, else ``""``."""
    for pattern in (_TITLE, _HEADING):
        match = pattern.search(text)
        if match:
            found = _plain(match.group(1))
            if found:
                return found
    return ""


def html_words(text: str) -> str:
    """The first words an HTML page shows (``""`` if none)."""
    return _plain(_HIDDEN.sub(" ", text))


def _plain(markup: str) -> str:
    text = html.unescape(_TAG.sub(" ", markup))
    return " ".join(text.split())[:200]


def parse_error_body(
    raw: bytes, read: Callable[[Any], ErrorDetails] = read_error_body
) -> tuple[Any, ErrorDetails]:
    """The parsed body and its message, code and type (``read`` from the parsed JSON);
    tolerant of non-JSON bodies."""
    text = raw[:BODY_LIMIT].decode("utf-8", errors="replace").strip()
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        if looks_like_html(text):  # a proxy's or load balancer's error page
            return text, ErrorDetails(html_title(text) or html_words(text), None, None)
        # Some servers send an SSE frame; JSON cut at BODY_LIMIT still has the start of
        # its message; else the first line is the message.
        line = next((ln for ln in text.splitlines() if ln.strip()), "")
        try:
            body = json.loads(line[5:]) if line.startswith("data:") else None
        except ValueError:
            body = None
        if body is None:
            partial = _partial_message(text)
            return text, ErrorDetails(line[:500] if partial is None else partial, None, None)
    if isinstance(body, list) and body:
        body = body[0]
    return body, read(body)


def _partial_message(text: str) -> str | None:
    """The (start of the) message in a JSON error body cut short, or None."""
    start = _MESSAGE_START.search(text)
    if start is None:
        return None
    match = _JSON_STRING_BODY.match(text, start.end(), start.end() + 4 * MESSAGE_LIMIT)
    value = match.group() if match else ""
    try:
        return str(json.loads(f'"{value}"'))
    except ValueError:  # cut inside an escape
        return value


def error_class(
    status: int | None,
    details: ErrorDetails,
    codes: Mapping[str, str] | None = None,
    type_status: Mapping[str, int] | None = None,
) -> type[LLMError]:
    """The ipyllm error class for an HTTP status and error details.

    ``codes`` is the provider's table of business codes (its adapter's and
    ``ProviderSpec.error_codes``): a code found there decides the class before the
    status does. ``type_status`` gives the status an error type sent without one
    stands for (``Adapter.error_statuses``).
    """
    kind = codes.get(details.code) if codes and details.code else None
    if kind in KIND_CLASS:
        return KIND_CLASS[kind]
    if status is None and type_status and details.etype is not None:
        status = type_status.get(details.etype)
    if _QUOTA_TEXT.search(details.message) or status == 402:
        return QuotaExceededError
    if status in (401, 403):
        return AuthenticationError
    if status == 400 and _BAD_KEY.search(details.message):
        return AuthenticationError
    if status == 429:
        return RateLimitError
    if status == 404:
        return NotFoundError
    if status == 408:
        return TimeoutError
    if status is not None and (status >= 500 or status == 409):
        return ServerError
    if too_long_for_context(status, details):
        return ContextLengthError
    if status is not None and 400 <= status < 500:
        return BadRequestError
    return StreamError


# The prompt and its history no longer fit the model, in each vendor's words: OpenAI's
# code; OpenAI, vLLM, OpenRouter, Fireworks "maximum context length"; Anthropic "prompt
# is too long" and "exceed context limit"; Gemini "The input token count (N) exceeds the
# maximum number of tokens allowed (M)"; xAI "maximum prompt length".
_CONTEXT_CODES = frozenset({"context_length_exceeded"})
_CONTEXT_TEXT = re.compile(
    r"context[ _-]?(length|window|limit)|prompt is too long|maximum prompt length"
    r"|input token count.{0,40}exceeds? the maximum",
    re.I,
)


def too_long_for_context(status: int | None, details: ErrorDetails) -> bool:
    """Whether a 4xx (or an error event with no status) says the conversation no longer
    fits the model's context window: a :class:`ContextLengthError`, never retried."""
    if status is not None and not 400 <= status < 500:
        return False
    return details.code in _CONTEXT_CODES or bool(_CONTEXT_TEXT.search(details.message))


def _fix(cls: type[LLMError], ctx: ErrorContext, retry_after: float | None) -> str:
    if cls is AuthenticationError:
        where = f"the {ctx.key_env} environment variable, or " if ctx.key_env else ""
        return (
            f"Check the API key for {ctx.provider}: set {where}"
            f"ipyllm.keys.set({ctx.provider!r}) with a valid key."
        )
    if cls is QuotaExceededError:
        return f"Add credit or raise the quota in your {ctx.label} account; retrying will not help."
    if cls is RateLimitError:
        wait = f"in {retry_after:g} s " if retry_after is not None else "later "
        return f"Try again {wait}or send fewer requests."
    if cls is NotFoundError:
        return f"Check the model name and the base URL ({ctx.base_url})."
    if cls is ContentFilterError:
        return "Rephrase the prompt; sending it again unchanged will not help."
    if cls is ContextLengthError:
        return (
            "The prompt and the history sent with it are longer than the model's context "
            "window: start a new tab, or set max_history to send fewer earlier turns "
            "(or lower max_tokens)."
        )
    if cls is BadRequestError:
        return "Check the model name and the options sent with the prompt."
    if cls in (ServerError, TimeoutError):
        return f"{ctx.label} is having trouble; try again shortly or use another model."
    return "Try again; if it keeps happening, report it with the provider's message."


def build_error(
    ctx: ErrorContext,
    status: int | None,
    details: ErrorDetails,
    *,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    partial: str = "",
    response: Response | None = None,
    mid_stream: bool = False,
) -> LLMError:
    """An ipyllm error that quotes the provider and says how to fix the problem."""
    statuses = ctx.adapter.error_statuses if ctx.adapter is not None else None
    cls = error_class(status, details, ctx.error_codes, statuses)
    retry_after = None
    if issubclass(cls, RateLimitError):
        wait = ctx.body_retry_after(body)
        retry_after = retry_after_seconds(headers or {}, wait, details.message)
    where = f"{ctx.label} error" + (f" {status}" if status else "")
    if mid_stream:
        where += " mid-stream"
    said = clip(details.message.strip())
    message = f"{where}: {said} — {_fix(cls, ctx, retry_after)}"
    kwargs: dict[str, Any] = {
        "provider": ctx.provider,
        "status": status,
        "partial": partial,
        "response": response,
        "mid_stream": mid_stream,
        "body": clip_body(body),
    }
    if issubclass(cls, RateLimitError):
        return cls(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


def error_from_http(
    ctx: ErrorContext, status: int, headers: Mapping[str, str], raw: bytes
) -> LLMError:
    """The error for a non-2xx HTTP response (``raw``: at most :data:`BODY_LIMIT` bytes of it)."""
    body, details = parse_error_body(raw, ctx.details)
    if not details.message:
        details.message = f"HTTP {status} with an empty body"
    return build_error(ctx, status, details, headers=headers, body=body)


def error_from_event(
    ctx: ErrorContext,
    event: ErrorEvent,
    partial: str,
    response: Response,
    *,
    mid_stream: bool = True,
    headers: Mapping[str, str] | None = None,
) -> LLMError:
    """The error for an error event inside a 200 stream, or for a 200's error envelope
    (``mid_stream=False``: nothing was streamed before it)."""
    details = ErrorDetails(event.message, None, event.kind)
    if isinstance(event.body, dict):
        details.code = ctx.details(event.body).code
    return build_error(
        ctx,
        event.status,
        details,
        headers=headers,
        body=event.body,
        partial=partial,
        response=response,
        mid_stream=mid_stream,
    )


def redirect_error(ctx: ErrorContext, status: int, headers: Mapping[str, str]) -> NotFoundError:
    """A 3xx: the API is not (or no longer) at the base URL; redirects are never followed."""
    location = headers.get("location")
    to = f"a redirect to {clip(location, 500)}" if location else "a redirect with no Location"
    return NotFoundError(
        f"{ctx.label} answered {status} with {to} — ipyllm does not follow redirects, so a "
        f"key only ever goes where it was sent; check the base URL ({ctx.base_url}) and set "
        "it to the address the API lives at.",
        provider=ctx.provider,
        status=status,
        body={"location": location},
    )


def not_the_api_error(ctx: ErrorContext, status: int, what: str, body: Any) -> NotFoundError:
    """A 2xx whose body is no answer at all: an HTML page, plain text, an empty body."""
    return NotFoundError(
        f"{ctx.label} answered {status} with {what} instead of an answer — check the base "
        f"URL ({ctx.base_url}); a proxy or captive portal in between can also do this.",
        provider=ctx.provider,
        status=status,
        body=clip_body(body),
    )


def filter_error(ctx: ErrorContext, response: Response) -> ContentFilterError:
    """A content filter ended the answer before any text."""
    reason = response.filter_reason or "no reason given"
    return ContentFilterError(
        f"{ctx.label}'s content filter blocked this prompt or its answer before any text "
        f"({reason}) — rephrase the prompt; sending it again unchanged will not help.",
        provider=ctx.provider,
        response=response,
    )
