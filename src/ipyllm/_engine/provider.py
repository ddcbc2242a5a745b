"""A configured provider: one adapter, one base URL, one key, and the HTTP to use them."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import httpx

from .._errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectionError,
    InsecureHTTPError,
    LLMError,
    MissingKeyError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    StreamError,
    TimeoutError,
    register_secret,
)
from .._keys import explicit_key, fingerprint
from .._providers.spec import Adapter, HTTPRequest, ProviderSpec
from .._types import (
    CONTENT_FILTER,
    Message,
    Options,
    Response,
)
from .._urls import cleartext_host, insecure_http_error
from .._version import __version__
from .._wire.lines import EventTooLarge
from .accumulate import AnswerLimitReached, AnswerSource, ResponseBuilder
from .errors import BODY_LIMIT, ErrorContext, error_from_http, filter_error, redirect_error
from .limits import ANSWER_LIMIT, DEFAULT_LIMITS, Limits, seconds_or_none
from .reader import BodyReader, OnChunk, broken, read_capped
from .retry import MAX_HONORED_RETRY_AFTER_S, backoff_seconds

log = logging.getLogger("ipyllm")


class RequestGate(Protocol):
    """A client-side rate limit shared by every stream to one account: the same provider,
    base URL and key."""

    async def acquire(self, estimated_tokens: int = 0) -> None:
        """Wait until a request may be sent."""
        ...

    def block_for(self, seconds: float) -> None:
        """The provider asked this account to wait (a 429's Retry-After)."""
        ...

    def record_tokens(self, estimated: int, actual: int) -> None:
        """Correct the token budget once the real usage is known."""
        ...


_NOT_RETRIED = (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    QuotaExceededError,
    MissingKeyError,  # and InvalidKeyError
    InsecureHTTPError,
    ConfigurationError,
)


class Provider:
    """A provider ready to answer: ``query``, ``query_stream``, ``list_models``, ``validate``.

    Instances are stateless with respect to conversations, so one serves any
    number of concurrent streams. Get them from :func:`ipyllm.get_provider`.

    A key is never sent over plain ``http://`` to a host that is not loopback
    or on a private network (:class:`InsecureHTTPError`) unless
    ``allow_insecure_http``; a ``transport_factory`` (an in-process transport,
    such as the demo's) decides itself where bytes go, so the rule is left to it.

    ``limits`` are this provider's bounds (timeouts, deadline, sizes; see
    :class:`~ipyllm._engine.limits.Limits`): what ``configure`` set, else the defaults.
    """

    def __init__(
        self,
        spec: ProviderSpec,
        adapter: Adapter,
        *,
        base_url: str,
        api_key: str | None,
        key_resolver: Callable[[], str | None] | None = None,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
        allow_insecure_http: bool = False,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        api_key = explicit_key(spec.name, api_key)
        self.spec = spec
        self.limits = limits
        self.adapter = adapter
        self.name = spec.name
        self.base_url = base_url
        self._key = api_key
        self._key_resolver = key_resolver
        self._transport_factory = transport_factory
        # The wire format's business codes, with the provider's own on top.
        self._error_codes = {**adapter.error_codes, **spec.error_codes}
        # One HTTP client per event loop (connections belong to the loop that opened
        # them), and how many requests each has in flight, for retire().
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._busy: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = (
            weakref.WeakKeyDictionary()
        )
        self._clients_lock = threading.Lock()
        self._retired = False
        # Servers that reject stream_options (Mistral answers 422) are remembered.
        self._include_usage = spec.include_usage
        register_secret(api_key)
        # The public host a key would reach in cleartext; None when it may go.
        self._cleartext_host = (
            None if allow_insecure_http or transport_factory else cleartext_host(base_url)
        )
        if api_key is not None:
            self._refuse_cleartext()  # now, not at the first request

    def __repr__(self) -> str:
        return f"<Provider {self.name} base_url={self.base_url!r}>"

    @property
    def key_fingerprint(self) -> str:
        """A name for this provider's key that does not reveal it (``"-"``: none yet)."""
        return fingerprint(self._key)

    # ---- the provider contract -------------------------------------------------

    async def query(self, messages: list[Message], options: Options) -> Response:
        """The whole answer to ``messages``."""
        return await self.query_stream(messages, options)

    async def query_stream(
        self,
        messages: list[Message],
        options: Options,
        on_chunk: OnChunk | None = None,
        *,
        max_retries: int = 2,
        idle_timeout: float | None = None,
        connect_timeout: float | None = None,
        deadline: float | None = None,
        max_answer_chars: int | None = None,
        deadline_from: float | None = None,
        gate: RequestGate | None = None,
        estimated_tokens: int = 0,
        answer: AnswerSource | None = None,
    ) -> Response:
        """Stream the answer, calling ``on_chunk`` with each text or reasoning delta.

        Failures before the first delta (connection, 408, 409, 429, 5xx) are
        retried up to ``max_retries`` times with jittered exponential backoff
        that honours Retry-After; once a delta was delivered, never. Cancelling
        the task closes the connection at once. A ``gate`` (rate limiter) is
        waited on before every attempt and told of every Retry-After.

        Limits given here win over this provider's :attr:`limits`. ``deadline``
        (seconds, from ``deadline_from``, a ``loop.time()``, or now) bounds the
        whole call, every attempt and backoff included: past it a
        :class:`TimeoutError` carries the partial answer, and no retry is started
        that could not begin before it. Past ``max_answer_chars`` the connection
        is closed and the answer so far returned with ``finish_reason="answer_limit"``.
        A caller that stores the deltas itself passes ``answer`` (its text and reasoning
        so far): the Response and the errors' partial text are then read from it, not
        kept a second time.
        """
        limits = self.limits.merged(
            timeout=idle_timeout,
            connect_timeout=connect_timeout,
            deadline=deadline,
            max_answer_chars=max_answer_chars,
        )
        timeout = _timeout(limits)
        loop = asyncio.get_running_loop()
        ends_at = (loop.time() if deadline_from is None else deadline_from) + limits.deadline
        attempt = 0
        builder = ResponseBuilder(self.name, options.model, limits.max_answer_chars, answer)
        scope = asyncio.timeout_at(seconds_or_none(ends_at))
        try:
            async with scope:
                while True:
                    builder = ResponseBuilder(
                        self.name, options.model, limits.max_answer_chars, answer
                    )
                    if gate is not None:
                        await gate.acquire(estimated_tokens)
                    try:
                        response = await self._stream_once(
                            messages, options, builder, on_chunk, timeout
                        )
                    except AnswerLimitReached:
                        # The connection is closed (_stream_once's finally); keep what came.
                        log.warning(
                            "%s: answer cut at max_answer_chars=%d (finish_reason %r)",
                            self.name,
                            limits.max_answer_chars,
                            ANSWER_LIMIT,
                        )
                        response = builder.response(finish_reason=ANSWER_LIMIT)
                    except EventTooLarge:
                        # Raised from a handler, so the retry below does not see it: the
                        # same server would most likely send the same event again.
                        raise self._broken(
                            StreamError,
                            f"{self.spec.label} sent an event larger than the "
                            f"{_size(self.limits.max_event_bytes)} limit; the stream was "
                            "stopped. If the server means it, raise the limit with "
                            f"ipyllm.configure({self.name!r}, max_event_bytes=…).",
                            builder,
                        ) from None
                    except BadRequestError as err:
                        if self._include_usage and not builder.delivered and _rejects_usage(err):
                            log.info("%s rejects stream_options; resending without it", self.name)
                            self._include_usage = False
                            continue
                        raise
                    except LLMError as err:
                        wait = self._retry_wait(err, attempt, max_retries, builder, gate)
                        if loop.time() + wait >= ends_at:
                            err.add_note(
                                f"Not retried: the {limits.deadline:g} s deadline would pass first."
                            )
                            raise
                        log.info(
                            "%s: %s; retry %d in %.2f s",
                            self.name,
                            type(err).__name__,
                            attempt + 1,
                            wait,
                        )
                        attempt += 1
                        await asyncio.sleep(wait)
                        continue
                    if gate is not None:
                        used = (response.tokens_in or 0) + (response.tokens_out or 0)
                        gate.record_tokens(estimated_tokens, used or estimated_tokens)
                    return response
        except builtins.TimeoutError:
            if not scope.expired():
                raise
            raise self._broken(
                TimeoutError,
                f"{self.spec.label} did not finish within the {limits.deadline:g} s deadline "
                f"({_attempts(attempt + 1)}); not retried further. Raise it with deadline=… "
                f"(Session, Tab.send), ipyllm.configure({self.name!r}, deadline=…) or "
                "%%llm --deadline SECONDS.",
                builder,
            ) from None

    def _retry_wait(
        self,
        err: LLMError,
        attempt: int,
        max_retries: int,
        builder: ResponseBuilder,
        gate: RequestGate | None,
    ) -> float:
        """Seconds to wait before retrying after ``err``; re-raises it if it is not retried."""
        retry_after = err.retry_after if isinstance(err, RateLimitError) else None
        # Every stream to this account waits too, unless the wait is so
        # long that the caller should decide (the error is raised below).
        if gate and retry_after is not None and retry_after <= MAX_HONORED_RETRY_AFTER_S:
            gate.block_for(retry_after)
        if builder.delivered or attempt >= max_retries or isinstance(err, _NOT_RETRIED):
            raise err
        if retry_after is not None and retry_after > MAX_HONORED_RETRY_AFTER_S:
            raise err
        return backoff_seconds(attempt, retry_after)

    def available_models(self) -> list[str]:
        """The models ipyllm knows for this provider, without asking it."""
        return list(self.spec.models)

    async def list_models(self) -> list[str]:
        """The models the provider serves now (its static list where it has no API for it)."""
        if not self.spec.has_model_list:
            return self.available_models()
        request = self.adapter.models_request(self.spec, self.base_url, self._api_key())
        raw = await self._get_json(request)
        return self.adapter.parse_models(raw)

    async def validate(self) -> bool:
        """Whether the key is accepted, checked without a paid completion."""
        try:
            if self.spec.has_model_list:
                await self.list_models()
            else:
                await self._probe_auth()
        except AuthenticationError:
            return False
        return True

    def capabilities(self) -> dict[str, Any]:
        """What this provider supports, for pickers and docs."""
        return {
            "streaming": True,
            "reasoning": self.spec.reasoning,
            "model_list": self.spec.has_model_list,
            "local": self.spec.local,
            "needs_key": self.spec.needs_key,
            "wire_format": self.adapter.wire,
        }

    async def aclose(self) -> None:
        """Close the HTTP connections this provider holds on the running loop."""
        with self._clients_lock:
            client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def retire(self) -> None:
        """Stop keeping connections open, from any thread: each idle HTTP client is closed
        now, on the loop it belongs to, and a busy one when its last request ends.

        The registry calls this when :func:`~ipyllm.configure` replaces the provider.
        The object still works: a later request opens a connection and closes it after.
        """
        with self._clients_lock:
            self._retired = True
            idle = [(loop, c) for loop, c in self._clients.items() if not self._busy.get(loop)]
            for loop, _ in idle:
                del self._clients[loop]
        for loop, client in idle:
            _close_on(loop, client)

    # ---- internals -------------------------------------------------------------

    def _api_key(self) -> str | None:
        if self._key is None and self._key_resolver is not None:
            self._key = self._key_resolver()
            register_secret(self._key)
        if self._key is None and self.spec.needs_key:
            # The resolver raises MissingKeyError with both fixes; this is a fallback.
            raise MissingKeyError(f"No API key for {self.name}.", provider=self.name)
        if self._key is not None:
            self._refuse_cleartext()
        return self._key

    def _refuse_cleartext(self) -> None:
        if self._cleartext_host is not None:
            raise insecure_http_error(self.name, self.spec.label, self._cleartext_host)

    def _error_context(self) -> ErrorContext:
        env = self.spec.key_env[0] if self.spec.key_env else None
        spec = self.spec
        return ErrorContext(
            self.name,
            spec.label,
            self.base_url,
            env,
            spec.needs_key,
            self._error_codes,
            self.adapter,
        )

    def _hold_client(self, loop: asyncio.AbstractEventLoop) -> httpx.AsyncClient:
        """``loop``'s client, counted busy until :meth:`_release_client`."""
        with self._clients_lock:
            client = self._clients.get(loop)
            if client is None:
                client = httpx.AsyncClient(
                    transport=self._transport_factory() if self._transport_factory else None,
                    timeout=_timeout(self.limits),
                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
                    headers={"User-Agent": f"ipyllm/{__version__}"},
                )
                self._clients[loop] = client
            self._busy[loop] = self._busy.get(loop, 0) + 1
            return client

    def _release_client(self, loop: asyncio.AbstractEventLoop) -> httpx.AsyncClient | None:
        """One request on ``loop`` is over; the client to close if it was the last one
        of a retired provider."""
        with self._clients_lock:
            busy = self._busy.pop(loop, 1) - 1
            if busy:
                self._busy[loop] = busy
                return None
            return self._clients.pop(loop, None) if self._retired else None

    @contextlib.asynccontextmanager
    async def _open(
        self, request: HTTPRequest, timeout: httpx.Timeout
    ) -> AsyncIterator[httpx.Response]:
        """Send ``request``; the streaming response, closed on the way out."""
        loop = asyncio.get_running_loop()
        client = self._hold_client(loop)
        try:
            response = await self._send(client, request, timeout)
            try:
                yield response
            finally:
                await response.aclose()  # at once, even if the server keeps the body open
        finally:
            spent = self._release_client(loop)
            if spent is not None:
                await spent.aclose()

    def _build(self, messages: list[Message], options: Options) -> HTTPRequest:
        request = self.adapter.build_request(
            self.spec, self.base_url, self._api_key(), messages, options
        )
        if not self._include_usage and request.json is not None:
            request.json.pop("stream_options", None)
        return request

    async def _send(
        self, client: httpx.AsyncClient, request: HTTPRequest, timeout: httpx.Timeout
    ) -> httpx.Response:
        http_request = client.build_request(
            request.method, request.url, headers=request.headers, json=request.json, timeout=timeout
        )
        try:
            return await client.send(http_request, stream=True)
        except httpx.TimeoutException as exc:
            raise TimeoutError(
                f"{self.spec.label} did not answer in time ({type(exc).__name__}) at "
                f"{self.base_url} — check the network, or raise the timeout.",
                provider=self.name,
            ) from None
        except httpx.TransportError as exc:
            raise ConnectionError(
                f"Could not reach {self.spec.label} at {self.base_url} "
                f"({exc or type(exc).__name__}) — check the "
                "base URL and that the server is running and reachable.",
                provider=self.name,
            ) from None

    async def _stream_once(
        self,
        messages: list[Message],
        options: Options,
        builder: ResponseBuilder,
        on_chunk: OnChunk | None,
        timeout: httpx.Timeout,
    ) -> Response:
        request = self._build(messages, options)
        log.debug("%s %s model=%s", request.method, request.url, options.model)
        async with self._open(request, timeout) as response:
            await self._raise_for_status(response)
            reader = BodyReader(
                self.adapter, self._error_context(), builder, on_chunk, self.limits.max_event_bytes
            )
            finished = await reader.read(response, timeout.read)
        if not finished:
            raise self._broken(
                StreamError,
                f"The {self.spec.label} stream ended before the answer was complete — "
                "the connection may have been cut; try again.",
                builder,
            )
        no_text = builder.ttft_s is None  # ttft_s is set by the first text delta
        if builder.finish_reason == CONTENT_FILTER and no_text and not builder.tool_calls:
            raise filter_error(self._error_context(), builder.response())
        return builder.response()

    async def _raise_for_status(self, response: httpx.Response) -> None:
        """The error for a redirect (never followed: a key must not go elsewhere) or a 4xx
        or 5xx answer, whose body is read to :data:`BODY_LIMIT` bytes at most."""
        status = response.status_code
        if 300 <= status < 400:
            raise redirect_error(self._error_context(), status, response.headers)
        if status >= 400:
            raw = await read_capped(response, BODY_LIMIT)
            raise error_from_http(self._error_context(), status, response.headers, raw)

    def _broken(self, cls: type[LLMError], message: str, builder: ResponseBuilder) -> LLMError:
        return broken(cls, message, self.name, builder)

    async def _get_json(self, request: HTTPRequest) -> Any:
        async with self._open(request, _timeout(self.limits)) as response:
            await self._raise_for_status(response)
            raw = await response.aread()
        return json.loads(raw)

    async def _probe_auth(self) -> None:
        # A chat request with no messages: servers check the key first, so a bad
        # key answers 401 and a good one 400, and nothing is generated or billed.
        request = self.adapter.build_request(
            self.spec, self.base_url, self._api_key(), [], Options(model=self.spec.default_model)
        )
        async with self._open(request, _timeout(self.limits)) as response:
            raw = await read_capped(response, BODY_LIMIT)
        if response.status_code in (401, 403):
            raise error_from_http(
                self._error_context(), response.status_code, response.headers, raw
            )


# Clients being closed by _close_on: asyncio keeps only weak references to tasks.
_closing: set[asyncio.Task[None]] = set()


def _close_on(loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
    """Close ``client`` on ``loop``, whose connections it holds, from any thread."""
    if loop.is_closed():
        return  # its connections went with the loop
    if not loop.is_running() and not _loop_running_here():
        closing = client.aclose()
        try:
            loop.run_until_complete(closing)
            return
        except RuntimeError:  # its own thread started it meanwhile: close it there
            closing.close()

    def start() -> None:
        task = loop.create_task(client.aclose())
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing left to close
        loop.call_soon_threadsafe(start)


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _timeout(limits: Limits) -> httpx.Timeout:
    return httpx.Timeout(
        seconds_or_none(limits.timeout), connect=seconds_or_none(limits.connect_timeout)
    )


def _size(n: int) -> str:
    """``8 MiB``, ``64 KiB`` or ``1,000 bytes``."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,} bytes"


def _attempts(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"


def _rejects_usage(err: BadRequestError) -> bool:
    text = f"{err.message} {err.body}".lower()
    return "stream_options" in text or "include_usage" in text
