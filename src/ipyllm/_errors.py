"""The ipyllm error tree.

Every error ipyllm raises derives from :class:`LLMError`, in three groups and a
few leaves of its own; ``except`` the group when the leaf does not matter::

    LLMError
    ├── ConfigurationError              change the setup or the call: refused before any
    │   │                               request, never retried (also a ValueError)
    │   ├── InvalidOptionError          a request option or tab title out of range
    │   ├── MissingKeyError             no API key for a provider that needs one
    │   │   └── InvalidKeyError         the key holds a line break, space, control or
    │   │                               non-ASCII character (a bad paste)
    │   ├── InsecureHTTPError           a key would go over plain http:// to a host that
    │   │                               is not loopback or on a private network
    │   ├── UnknownProviderError        "foo:model" names no provider or endpoint
    │   ├── KeyringError                the OS keyring is missing, locked or refused
    │   ├── ToolError                   a function cannot be a tool (its name, a
    │   │                               parameter with no JSON Schema)
    │   └── AttachmentError             an attachment cannot be read, or the provider
    │                                   cannot take its kind (refused before sending)
    ├── ProviderError                   the provider answered with an error (``status``)
    │   ├── AuthenticationError         401, 403, or a 400 that says the key is bad
    │   ├── RateLimitError              429; ``retry_after`` holds the wait in seconds
    │   │   └── QuotaExceededError      out of credit or quota: waiting will not help
    │   ├── BadRequestError             400 / 422: the request itself is wrong
    │   │   ├── ContentFilterError      the provider's content filter blocked the prompt
    │   │   │                           or the answer before any text, or stopped it
    │   │   │                           with an error mid-answer (never retried)
    │   │   └── ContextLengthError      the conversation no longer fits the model's
    │   │                               context window (never retried)
    │   ├── NotFoundError               404: unknown model or wrong base URL; also an
    │   │                               answer that is no API at all (an HTML page, a
    │   │                               redirect, an empty or plain-text 200)
    │   └── ServerError                 5xx, or the provider says it is overloaded
    ├── TransportError                  the exchange broke down: no answer, or not all
    │   │                               of it
    │   ├── TimeoutError                connect, idle-between-chunks or the turn's
    │   │                               deadline passed (the partial kept), or a 408;
    │   │                               also Python's TimeoutError
    │   ├── ConnectionError             the server could not be reached; also Python's
    │   │                               ConnectionError
    │   └── StreamError                 the stream broke: malformed data, ended early, or
    │                                   an error event with no status of its own
    ├── SchemaError                     a structured answer (``schema=``) is not valid JSON
    │                                   or fails the schema; ``partial`` holds the text,
    │                                   ``errors`` what is wrong
    ├── UnknownTabError                 no open tab (or past conversation) by that name,
    │                                   or the tab was closed
    ├── TabBusyError                    the tab is still answering its last prompt
    └── PanelError                      the chat panel cannot do what it was asked

So ``except ipyllm.ConfigurationError`` catches what no retry can fix,
``except ipyllm.ProviderError`` what the provider refused (``status`` says
why), and ``except ipyllm.TransportError`` what broke on the way (often gone
on a second try).
:class:`TimeoutError` and :class:`ConnectionError` keep their names from
earlier versions and also subclass Python's own, so ``except TimeoutError:``
(the builtin) catches ipyllm's too. :meth:`TurnHandle.result
<ipyllm.TurnHandle.result>` raises ipyllm's :class:`TimeoutError` when its
``timeout`` passes first.

An error event that arrives *inside* a 200 stream is raised as the class its
status names (a mid-stream 400 is a :class:`BadRequestError`), with
``mid_stream=True``; one that names no status is a :class:`StreamError`.

Every error carries ``provider``, ``status`` (HTTP status or ``None``),
``partial`` (the answer text received before the failure, ``""`` if none) and
``response`` (the partial :class:`~ipyllm.Response`, with any reasoning and
usage seen, or ``None``). Messages quote the provider's own words and say how
to fix the problem. No message, repr or traceback ever contains an API key:
:func:`redact` scrubs every string that goes into one, and ``body``,
``partial`` and ``response`` are scrubbed the same way, strings inside dicts,
lists and dataclasses included. A key is masked in every form a message can
quote it in: as is, ``repr``/bytes/JSON-escaped, URL-encoded, or after
``Bearer``.

Every class here says ``ipyllm`` as its module (``ipyllm.RateLimitError`` in a
traceback), where it is importable and where pickle finds it.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from ._types import Response

__all__ = [
    "AttachmentError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConnectionError",
    "ContentFilterError",
    "ContextLengthError",
    "InsecureHTTPError",
    "InvalidKeyError",
    "InvalidOptionError",
    "KeyringError",
    "LLMError",
    "MissingKeyError",
    "NotFoundError",
    "PanelError",
    "ProviderError",
    "QuotaExceededError",
    "RateLimitError",
    "SchemaError",
    "ServerError",
    "StreamError",
    "TabBusyError",
    "TimeoutError",
    "ToolError",
    "TransportError",
    "UnknownProviderError",
    "UnknownTabError",
    "redact",
    "redact_value",
    "register_secret",
]

# Keys this process has seen, each in every form a message may quote it in;
# any of them found in a message is replaced.
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_MIN_SECRET = 6  # shorter strings would mask ordinary words
# Shapes of well-known key formats, scrubbed even if never registered.
_KEY_SHAPES = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,}|xai-[A-Za-z0-9]{16,})"
)
# A bearer credential echoed back (an Authorization header in a body or a log),
# registered or not. Requiring a digit and 12+ characters spares prose such as
# "Bearer token required".
_BEARER = re.compile(r"(?i)\b(Bearer\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{12,}")
# Runs of printable ASCII inside a key that also holds other characters: a
# message may quote one piece of a key cut at a line break.
_PIECES = re.compile(r"[!-~]{8,}")


def _forms(secret: str) -> set[str]:
    """``secret`` as is and as every escape or encoding a message may show it in."""
    raw = secret.encode("utf-8", "surrogateescape")
    forms = {
        secret,
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        repr(raw)[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
    }
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret)):
        forms.add(encoded)
        forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded))
    if not secret.isascii() or not secret.isprintable() or " " in secret:
        forms.update(_PIECES.findall(secret))
    return {form for form in forms if len(form) >= _MIN_SECRET}


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`redact` removes it, in any form, from any text."""
    if secret and len(secret) >= _MIN_SECRET:
        forms = _forms(secret)
        with _secrets_lock:
            _secrets.update(forms)


def redact(text: str) -> str:
    """Return ``text`` with every known key, and anything shaped like one, masked."""
    if not text:
        return text
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    text = _BEARER.sub(r"\1[REDACTED]", text)
    return _KEY_SHAPES.sub("[REDACTED]", text)


def redact_value(value: Any) -> Any:
    """``value`` with :func:`redact` applied to every string inside it.

    Dicts (keys too), lists, tuples and dataclass instances (a
    :class:`~ipyllm.Response`) are copied when something in them changes;
    bytes are scrubbed as UTF-8. Other values are returned as they are.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        text = value.decode("utf-8", "surrogateescape")
        scrubbed = redact(text)
        return value if scrubbed == text else scrubbed.encode("utf-8", "surrogateescape")
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            if f.init:
                old = getattr(value, f.name)
                new = redact_value(old)
                if new is not old and new != old:
                    changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value


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
        # A server may echo the key back, in its error body or even in the
        # answer; a notebook that displays any of these saves it to disk.
        self.partial = redact(partial)
        self.response: Response | None = redact_value(response)
        self.mid_stream = mid_stream
        # The provider's parsed error body, for callers that need its details.
        self.body = redact_value(body)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, provider={self.provider!r}, status={self.status!r})"


class ConfigurationError(LLMError, ValueError):
    """Something to change in the setup or the call, refused before any request and never
    retried: a base URL that is not ``http(s)`` with a host, an empty model name, and
    the more specific classes below. Also a :class:`ValueError`."""


class InvalidOptionError(ConfigurationError):
    """A request option (temperature, max_tokens) or a tab title is out of range; raised
    before any request is sent or any history is written."""


class MissingKeyError(ConfigurationError):
    """No API key was found for a provider that needs one."""


class InvalidKeyError(MissingKeyError):
    """The key found cannot be a valid key: it holds a line break, a space, a control
    character or a non-ASCII character. The message says where it came from."""


class InsecureHTTPError(ConfigurationError):
    """A key would be sent over plain ``http://`` to a host that is not loopback or on a
    private network; use ``https://`` or pass ``allow_insecure_http=True``."""


class UnknownProviderError(ConfigurationError):
    """A model string or name refers to a provider or endpoint that does not exist."""


class KeyringError(ConfigurationError):
    """The OS keyring is unavailable or refused to store, read or delete a key."""


class ProviderError(LLMError):
    """The provider answered, and its answer is an error: an HTTP status (``status``), or
    an error event inside a 200 stream (``mid_stream=True``) that names one."""


class AuthenticationError(ProviderError):
    """The provider rejected the API key (401, 403, or a 400 that says so)."""


class RateLimitError(ProviderError):
    """The provider asked us to slow down (429); ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class QuotaExceededError(RateLimitError):
    """The account is out of credit or quota; retrying will not help."""


class BadRequestError(ProviderError):
    """The provider refused the request as malformed or unsupported (400, 422)."""


class ContentFilterError(BadRequestError):
    """The provider's content filter blocked the prompt or the answer before any text
    arrived (Gemini's ``blockReason`` or ``SAFETY`` finish, OpenAI's ``content_filter``,
    Anthropic's ``refusal``, Azure's 400 with code ``content_filter``), or ended it with
    an error event mid-answer (MiniMax's sensitive-content codes; ``partial`` kept). A
    filter that ends an answer after some text without an error gives a normal
    ``Response`` with ``finish_reason="content_filter"`` instead. For a blocked stream,
    ``response.filter_reason`` holds the provider's reason. Sending the same prompt
    again will not help, so it is never retried."""


class ContextLengthError(BadRequestError):
    """The prompt with the history sent along is longer than the model's context window
    (OpenAI's ``context_length_exceeded``, Anthropic's "prompt is too long", Gemini's
    "input token count ... exceeds the maximum", "maximum context length" of vLLM and
    other OpenAI-compatible servers). Retrying sends the same; start a new tab or set
    ``max_history`` to send fewer earlier turns."""


class NotFoundError(ProviderError):
    """The model or endpoint does not exist (404), or the base URL leads to something
    that is not the provider's API: an HTML page, a redirect, an empty or plain-text 200."""


class ServerError(ProviderError):
    """The provider failed or is overloaded (5xx)."""


class TransportError(LLMError):
    """The exchange with the provider broke down: it could not be reached, took too long,
    or its stream broke off or made no sense."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """Connecting, or waiting for the next chunk, took longer than its timeout, or the
    turn passed its deadline (retries and backoff included; ``partial`` keeps what had
    arrived); also an HTTP 408, and :meth:`TurnHandle.result <ipyllm.TurnHandle.result>`
    given a ``timeout`` that passed first. Also Python's :class:`builtins.TimeoutError`."""


class ConnectionError(TransportError, builtins.ConnectionError):
    """The provider's server could not be reached. Also Python's
    :class:`builtins.ConnectionError`."""


class StreamError(TransportError):
    """The stream broke: malformed data, an early end, or an unclassified error event."""


class SchemaError(LLMError):
    """A structured answer (``schema=``) is not valid JSON, or does not fit the schema.

    ``partial`` holds the text as received, ``errors`` the validation errors (a list of
    dicts with ``loc``, ``msg`` and ``type``, as pydantic gives them), and ``response``
    the whole answer, whose ``data`` is None.
    """

    def __init__(
        self, message: str, *, errors: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.errors: list[dict[str, Any]] = redact_value(errors or [])


class ToolError(ConfigurationError):
    """A function cannot be offered to a model as a tool: a name the providers refuse, two
    tools of one name, a parameter without a JSON Schema. A tool that raises while it
    runs is not this: its error goes back to the model as its result."""


class AttachmentError(ConfigurationError):
    """An attachment cannot be sent: an object ipyllm cannot attach, a file it cannot
    read, or a kind (image, PDF, text file, image URL) the provider does not take, found
    before anything is sent. The message says what the provider takes and how to go on
    (another model, ``ipyllm.configure(provider, attachments=...)`` for an endpoint
    that takes more)."""


class UnknownTabError(LLMError):
    """No open tab, or no past conversation, has that id or title; or the tab was closed."""


class TabBusyError(LLMError):
    """A prompt was sent to a tab that is still answering the previous one."""


class PanelError(LLMError):
    """The chat panel cannot do what it was asked: its front end was never built, a
    compact panel was given no tab, or the page asked for something the kernel cannot
    do (an empty prompt, a retry with nothing to retry, a request it does not know)."""


# Tracebacks and reprs name the package, where every class here is exported (and so
# where pickle finds it), not this private module.
for _name in __all__:
    if isinstance(globals()[_name], type):
        globals()[_name].__module__ = "ipyllm"
del _name


def bare(err: LLMError) -> LLMError:
    """``err`` without the frames it came through inside ipyllm, for a public entry
    point to raise again (``raise bare(err) from err.__cause__``): the traceback then
    shows the caller's lines and ``ipyllm.MissingKeyError: …``, not twenty frames of
    the worker. Only an :class:`LLMError`, whose message says what to do, is cut; any
    other exception (a bug in ipyllm, ``KeyboardInterrupt``) keeps its full traceback,
    and an explicit ``__cause__`` stays."""
    return err.with_traceback(None)
