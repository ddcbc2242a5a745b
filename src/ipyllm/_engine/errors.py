"""Turning providers' error responses and error events into ipyllm errors.

One parser reads every vendor's error body: they all put the message under
``error`` (a string or an object with ``message``), with a ``code``, ``type`` or
``status`` beside it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import (
    AuthenticationError,
    BadRequestError,
    LLMError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    StreamError,
    TimeoutError,
)
from .._types import ErrorEvent, Response
from .retry import retry_after_seconds

# A 400 that is really about the key (Gemini, xAI answer 400 to a bad key).
_BAD_KEY = re.compile(r"api[ _-]?key|x-api-key|invalid.{0,20}(token|credential)", re.I)
# Out of money or quota for good, not a transient rate limit.
_QUOTA_CODES = frozenset({"insufficient_quota", "1113", "billing_hard_limit_reached"})
_QUOTA_TEXT = re.compile(r"insufficient (balance|credits?|quota)|credit balance is too low", re.I)

_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
    "server_error": 500,
}


@dataclass(slots=True)
class ErrorContext:
    """What an error message needs to say how to fix the problem."""

    provider: str
    label: str
    base_url: str
    key_env: str | None
    needs_key: bool


@dataclass(slots=True)
class ErrorDetails:
    """The parts of a provider's error body that matter."""

    message: str
    code: str | None
    etype: str | None


def parse_error_body(raw: bytes) -> tuple[Any, ErrorDetails]:
    """The parsed body and its message, code and type; tolerant of non-JSON bodies."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        # Some servers send an SSE frame or HTML; keep the first line as the message.
        line = next((ln for ln in text.splitlines() if ln.strip()), "")
        if line.startswith("data:"):
            try:
                body = json.loads(line[5:])
            except ValueError:
                return text, ErrorDetails(line[:500], None, None)
        else:
            return text, ErrorDetails(line[:500], None, None)
    if isinstance(body, list) and body:
        body = body[0]
    return body, details_of(body)


def details_of(body: Any) -> ErrorDetails:
    """Message, code and type from any vendor's error object."""
    if not isinstance(body, dict):
        return ErrorDetails(str(body or ""), None, None)
    err = body.get("error", body)
    if isinstance(err, str):  # xAI, Ollama: {"error": "…"}
        return ErrorDetails(err, _str(body.get("code")), None)
    if not isinstance(err, dict):
        return ErrorDetails(json.dumps(body)[:500], None, None)
    message = str(err.get("message") or body.get("message") or json.dumps(body)[:500])
    metadata = err.get("metadata")
    if isinstance(metadata, dict) and metadata.get("raw"):  # OpenRouter: upstream's words
        message = f"{message}: {metadata['raw']}"
    etype = err.get("type") or err.get("status")
    return ErrorDetails(message, _str(err.get("code")), _str(etype))


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def error_class(status: int | None, details: ErrorDetails) -> type[LLMError]:
    """The ipyllm error class for an HTTP status and error details."""
    if status is None and details.etype in _ERROR_TYPE_STATUS:
        status = _ERROR_TYPE_STATUS[details.etype]
    if details.code in _QUOTA_CODES or _QUOTA_TEXT.search(details.message) or status == 402:
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
    if status is not None and 400 <= status < 500:
        return BadRequestError
    return StreamError


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
    cls = error_class(status, details)
    retry_after = None
    if issubclass(cls, RateLimitError):
        retry_after = retry_after_seconds(headers or {}, body, details.message)
    where = f"{ctx.label} error" + (f" {status}" if status else "")
    if mid_stream:
        where += " mid-stream"
    message = f"{where}: {details.message.strip()} — {_fix(cls, ctx, retry_after)}"
    kwargs: dict[str, Any] = {
        "provider": ctx.provider,
        "status": status,
        "partial": partial,
        "response": response,
        "mid_stream": mid_stream,
        "body": body,
    }
    if issubclass(cls, RateLimitError):
        return cls(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


def error_from_http(
    ctx: ErrorContext, status: int, headers: Mapping[str, str], raw: bytes
) -> LLMError:
    """The error for a non-2xx HTTP response."""
    body, details = parse_error_body(raw)
    if not details.message:
        details.message = f"HTTP {status} with an empty body"
    return build_error(ctx, status, details, headers=headers, body=body)


def error_from_event(
    ctx: ErrorContext, event: ErrorEvent, partial: str, response: Response
) -> LLMError:
    """The error for an error event inside a 200 stream."""
    details = ErrorDetails(event.message, None, event.kind)
    if isinstance(event.body, dict):
        details.code = details_of(event.body).code
    return build_error(
        ctx,
        event.status,
        details,
        body=event.body,
        partial=partial,
        response=response,
        mid_stream=True,
    )
