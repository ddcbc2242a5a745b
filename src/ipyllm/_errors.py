"""The ipyllm error tree.

Every error ipyllm raises derives from :class:`LLMError`::

    LLMError
    ├── MissingKeyError        no API key for a provider that needs one
    ├── UnknownProviderError   "foo:model" names no provider or endpoint
    ├── KeyringError           the OS keyring is missing or refused the request
    ├── UnknownTabError        no open tab (or past conversation) by that name
    ├── TabBusyError           the tab is still answering its last prompt
    ├── AuthenticationError    401, 403, or a 400 that says the key is bad
    ├── RateLimitError         429; ``retry_after`` holds the wait in seconds
    │   └── QuotaExceededError out of credit or quota: waiting will not help
    ├── BadRequestError        400 / 422: the request itself is wrong
    ├── NotFoundError          404: unknown model or wrong base URL
    ├── ServerError            5xx, or the provider says it is overloaded
    ├── StreamError            the stream broke: malformed data, ended early,
    │                          or an error event with no status of its own
    ├── TimeoutError           connect or idle-between-chunks timeout
    └── ConnectionError        the server could not be reached

An error event that arrives *inside* a 200 stream is raised as the class its
status names (a mid-stream 400 is a :class:`BadRequestError`), with
``mid_stream=True``; one that names no status is a :class:`StreamError`.

Every error carries ``provider``, ``status`` (HTTP status or ``None``),
``partial`` (the answer text received before the failure, ``""`` if none) and
``response`` (the partial :class:`~ipyllm.Response`, with any reasoning and
usage seen, or ``None``). Messages quote the provider's own words and say how
to fix the problem. No message, repr or traceback ever contains an API key:
:func:`redact` scrubs every string that goes into one.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._types import Response

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConnectionError",
    "KeyringError",
    "LLMError",
    "MissingKeyError",
    "NotFoundError",
    "QuotaExceededError",
    "RateLimitError",
    "ServerError",
    "StreamError",
    "TabBusyError",
    "TimeoutError",
    "UnknownProviderError",
    "UnknownTabError",
    "redact",
    "register_secret",
]

# Keys this process has seen; any of them found in a message is replaced.
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
# Shapes of well-known key formats, scrubbed even if never registered.
_KEY_SHAPES = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,}|xai-[A-Za-z0-9]{16,})"
)


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`redact` removes it from any text."""
    if secret and len(secret) >= 6:
        with _secrets_lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every known key, and anything shaped like one, masked."""
    if not text:
        return text
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    return _KEY_SHAPES.sub("[REDACTED]", text)


class LLMError(Exception):
    """Root of every ipyllm error; see the module docstring for the tree."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        partial: str = "",
        response: Response | None = None,
        mid_stream: bool = False,
        body: Any = None,
    ) -> None:
        self.message = redact(message)
        super().__init__(self.message)
        self.provider = provider
        self.status = status
        self.partial = partial
        self.response = response
        self.mid_stream = mid_stream
        # The provider's parsed error body, for callers that need its details.
        self.body = body

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, provider={self.provider!r}, status={self.status!r})"


class MissingKeyError(LLMError):
    """No API key was found for a provider that needs one."""


class UnknownProviderError(LLMError):
    """A model string or name refers to a provider or endpoint that does not exist."""


class KeyringError(LLMError):
    """The OS keyring is unavailable or refused to store, read or delete a key."""


class UnknownTabError(LLMError):
    """No open tab, or no past conversation, has that id or title."""


class TabBusyError(LLMError):
    """A prompt was sent to a tab that is still answering the previous one."""


class AuthenticationError(LLMError):
    """The provider rejected the API key (401, 403, or a 400 that says so)."""


class RateLimitError(LLMError):
    """The provider asked us to slow down (429); ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class QuotaExceededError(RateLimitError):
    """The account is out of credit or quota; retrying will not help."""


class BadRequestError(LLMError):
    """The provider refused the request as malformed or unsupported (400, 422)."""


class NotFoundError(LLMError):
    """The model or endpoint does not exist (404)."""


class ServerError(LLMError):
    """The provider failed or is overloaded (5xx)."""


class StreamError(LLMError):
    """The stream broke: malformed data, an early end, or an unclassified error event."""


class TimeoutError(LLMError):
    """Connecting, or waiting for the next chunk, took longer than the timeout."""


class ConnectionError(LLMError):
    """The provider's server could not be reached."""
