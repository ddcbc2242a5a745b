"""How OpenAI-style servers report errors: the error types and codes they send, the
error objects inside a stream, MiniMax's ``base_resp`` envelope and OpenRouter's
upstream words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._types import ErrorEvent
from .spec import ErrorDetails, read_error_body

# Error types sent without a status, and the status each stands for: OpenAI's own, and
# Anthropic's, which OpenAI-compatible proxies pass on.
ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
    "server_error": 500,
}
# OpenAI's codes for an account out of money or quota for good (not a transient rate
# limit), and Azure OpenAI's for a prompt its content filter refused (a 400).
ERROR_CODES: Mapping[str, str] = {
    "insufficient_quota": "quota",
    "billing_hard_limit_reached": "quota",
    "content_filter": "content_filter",
}


def error_event(raw: Any) -> ErrorEvent:
    """An :class:`ErrorEvent` from an OpenAI-style error object (or its ``error`` member)."""
    err = raw.get("error", raw) if isinstance(raw, dict) else raw
    if not isinstance(err, dict):
        return ErrorEvent(message=str(err), body=raw)
    status = err.get("status_code")
    code = err.get("code")
    if status is None and isinstance(code, int):
        status = code
    message = _with_upstream(str(err.get("message") or err.get("error") or raw), err)
    return ErrorEvent(message=message, status=status, kind=err.get("type"), body=raw)


def _with_upstream(message: str, err: dict[str, Any]) -> str:
    # OpenRouter puts the upstream provider's own words in error.metadata.raw.
    metadata = err.get("metadata")
    if isinstance(metadata, dict) and metadata.get("raw"):
        return f"{message}: {metadata['raw']}"
    return message


def base_resp_failed(obj: dict[str, Any]) -> bool:
    """Whether ``obj`` carries MiniMax's native envelope with a failing code (a
    ``base_resp.status_code`` of 0 means success)."""
    base = obj.get("base_resp")
    return isinstance(base, dict) and bool(base.get("status_code"))


def base_resp_message(obj: dict[str, Any]) -> str:
    """The words of a failing ``base_resp``, or its code when it has none."""
    base = obj["base_resp"]
    return str(base.get("status_msg") or f"status code {base['status_code']}")


def error_details(body: Any) -> ErrorDetails:
    """The common error body, MiniMax's ``base_resp`` envelope (its business code is the
    code), and OpenRouter's upstream words appended to the message."""
    if isinstance(body, dict) and "error" not in body and base_resp_failed(body):
        code = str(body["base_resp"]["status_code"])
        return ErrorDetails(base_resp_message(body), code, None)
    details = read_error_body(body)
    err = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(err, dict):
        details.message = _with_upstream(details.message, err)
    return details
