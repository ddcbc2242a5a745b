"""Error bodies in each provider's own JSON shape."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from ._plan import Kind, Plan, json_plan

__all__ = ["default_message", "error_json", "error_plan"]

_DEFAULT_MESSAGES = {
    400: "Invalid request.",
    401: "Invalid API key.",
    403: "Permission denied.",
    404: "Model not found.",
    429: "Rate limit exceeded; please retry later.",
    500: "Internal server error.",
    503: "The model is overloaded; please try again later.",
    529: "Overloaded.",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_OPENAI_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def default_message(status: int) -> str:
    """A short error message for ``status``."""
    if status in _DEFAULT_MESSAGES:
        return _DEFAULT_MESSAGES[status]
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return f"Error {status}."


def error_json(kind: Kind, status: int, message: str) -> Any:
    """The error body ``kind``'s provider sends with ``status``."""
    if kind == "anthropic":
        fallback = "api_error" if status >= 500 else "invalid_request_error"
        error_type = _ANTHROPIC_TYPES.get(status, fallback)
        return {"type": "error", "error": {"type": error_type, "message": message}}
    if kind == "gemini":
        state = _GEMINI_STATUSES.get(status, "INTERNAL" if status >= 500 else "UNKNOWN")
        return {"error": {"code": status, "message": message, "status": state}}
    if kind == "ollama":
        return {"error": message}
    if status == 429:
        error_type = "requests"
    elif status >= 500:
        error_type = "server_error"
    else:
        error_type = "invalid_request_error"
    if kind == "models":
        # Served on /v1/models to OpenAI and Anthropic clients alike: both read
        # body["error"]["message"], and Anthropic's also wants its envelope and type.
        error_type = _ANTHROPIC_TYPES.get(status, error_type)
    error = {"message": message, "type": error_type, "param": None}
    error["code"] = _OPENAI_CODES.get(status)
    return {"type": "error", "error": error} if kind == "models" else {"error": error}


def error_plan(kind: Kind, status: int, message: str | None = None) -> Plan:
    """An error response in ``kind``'s own JSON shape, with a Content-Length."""
    return json_plan(status, error_json(kind, status, message or default_message(status)))
