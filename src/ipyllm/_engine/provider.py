"""A configured provider: one adapter, one base URL, one key, and the HTTP to use them."""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from .. import __version__
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
from .._keys import explicit_key
from .._providers.spec import Adapter, HTTPRequest, ProviderSpec
from .._types import (
    Done,
    ErrorEvent,
    Finish,
    Message,
    Options,
    ReasoningDelta,
    Response,
    TextDelta,
)
from .._urls import cleartext_host, insecure_http_error
from .._wire.ndjson import NDJSONDecoder
from .._wire.sse import SSEDecoder
from .accumulate import ResponseBuilder
from .errors import ErrorContext, error_from_event, error_from_http
from .retry import MAX_HONORED_RETRY_AFTER_S, backoff_seconds

log = logging.getLogger("ipyllm")

OnChunk = Callable[[TextDelta | ReasoningDelta], Any]


class RequestGate(Protocol):
    """A client-side rate limit shared by every stream to one provider."""

    async def acquire(self, estimated_tokens: int = 0) -> None:
        """Wait until a request may be sent."""
        ...

    def block_for(self, seconds: float) -> None:
        """The provider asked everyone to wait (a 429's Retry-After)."""
        ...

    def record_tokens(self, estimated: int, actual: int) -> None:
        """Correct the token budget once the real usage is known."""
        ...


CONNECT_TIMEOUT_S = 15.0
# Silence allowed between two chunks. Reasoning models can think for minutes
# before the first token, so this is generous; a healthy stream never hits it.
IDLE_TIMEOUT_S = 300.0
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
        models: tuple[str, ...] | None = None,
        headers: dict[str, str] | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        api_key = explicit_key(spec.name, api_key)
        self.spec = spec
        self.adapter = adapter
        self.name = spec.name
        self.base_url = base_url
        self._key = api_key
        self._key_resolver = key_resolver
        self._transport_factory = transport_factory
        self._models = models or spec.models
        self._headers = headers or {}
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
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
        gate: RequestGate | None = None,
        estimated_tokens: int = 0,
    ) -> Response:
        """Stream the answer, calling ``on_chunk`` with each text or reasoning delta.

        Failures before the first delta (connection, 408, 409, 429, 5xx) are
        retried up to ``max_retries`` times with jittered exponential backoff
        that honours Retry-After; once a delta was delivered, never. Cancelling
        the task closes the connection at once. A ``gate`` (rate limiter) is
        waited on before every attempt and told of every Retry-After.
        """
        timeout = _timeout(idle_timeout, connect_timeout)
        attempt = 0
        while True:
            builder = ResponseBuilder(self.name, options.model)
            if gate is not None:
                await gate.acquire(estimated_tokens)
            try:
                response = await self._stream_once(messages, options, builder, on_chunk, timeout)
                if gate is not None:
                    used = (response.tokens_in or 0) + (response.tokens_out or 0)
                    gate.record_tokens(estimated_tokens, used or estimated_tokens)
                return response
            except BadRequestError as err:
                if self._include_usage and not builder.delivered and _rejects_usage(err):
                    log.info("%s rejects stream_options; resending without it", self.name)
                    self._include_usage = False
                    continue
                raise
            except LLMError as err:
                retry_after = err.retry_after if isinstance(err, RateLimitError) else None
                # Every stream to this provider waits too, unless the wait is so
                # long that the caller should decide (the error is raised below).
                if gate and retry_after is not None and retry_after <= MAX_HONORED_RETRY_AFTER_S:
                    gate.block_for(retry_after)
                if builder.delivered or attempt >= max_retries or isinstance(err, _NOT_RETRIED):
                    raise
                if retry_after is not None and retry_after > MAX_HONORED_RETRY_AFTER_S:
                    raise
                wait = backoff_seconds(attempt, retry_after)
                log.info(
                    "%s: %s; retry %d in %.2f s", self.name, type(err).__name__, attempt + 1, wait
                )
                attempt += 1
                await asyncio.sleep(wait)

    def available_models(self) -> list[str]:
        """The models ipyllm knows for this provider, without asking it."""
        return list(self._models)

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
            "reasoning": True,
            "model_list": self.spec.has_model_list,
            "local": self.spec.local,
            "needs_key": self.spec.needs_key,
            "wire_format": self.adapter.wire,
        }

    async def aclose(self) -> None:
        """Close the HTTP connections this provider holds on the running loop."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

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
        return ErrorContext(self.name, self.spec.label, self.base_url, env, self.spec.needs_key)

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(
                transport=self._transport_factory() if self._transport_factory else None,
                timeout=_timeout(None, None),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
                headers={"User-Agent": f"ipyllm/{__version__}"},
            )
            self._clients[loop] = client
        return client

    def _build(self, messages: list[Message], options: Options) -> HTTPRequest:
        request = self.adapter.build_request(
            self.spec, self.base_url, self._api_key(), messages, options
        )
        request.headers.update(self._headers)
        if not self._include_usage and request.json is not None:
            request.json.pop("stream_options", None)
        return request

    async def _send(self, request: HTTPRequest, timeout: httpx.Timeout) -> httpx.Response:
        client = self._client()
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
        response = await self._send(request, timeout)
        try:
            if response.status_code >= 400:
                raw = await response.aread()
                raise error_from_http(
                    self._error_context(), response.status_code, response.headers, raw
                )
            finished = await self._pump(response, builder, on_chunk, timeout)
        finally:
            await response.aclose()
        if not finished:
            raise self._broken(
                StreamError,
                f"The {self.spec.label} stream ended before the answer was complete — "
                "the connection may have been cut; try again.",
                builder,
            )
        return builder.response()

    def _broken(self, cls: type[LLMError], message: str, builder: ResponseBuilder) -> LLMError:
        """An error for a stream that broke, carrying what arrived before it did."""
        return cls(
            message, provider=self.name, partial=builder.partial, response=builder.response()
        )

    async def _pump(
        self,
        response: httpx.Response,
        builder: ResponseBuilder,
        on_chunk: OnChunk | None,
        timeout: httpx.Timeout,
    ) -> bool:
        """Read the body to its end, folding events into ``builder``; True if it finished."""
        decoder = SSEDecoder() if self.adapter.wire == "sse" else NDJSONDecoder()
        state = self.adapter.new_state()
        finished = False
        try:
            async for chunk in response.aiter_bytes():
                finished |= self._dispatch(decoder.feed(chunk), state, builder, on_chunk)
            finished |= self._dispatch(decoder.flush(), state, builder, on_chunk)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._broken(
                StreamError,
                f"{self.spec.label} sent data ipyllm could not read ({type(exc).__name__}: "
                f"{exc}) — try again; if it persists, report it.",
                builder,
            ) from None
        except httpx.TimeoutException:
            raise self._broken(
                TimeoutError,
                f"{self.spec.label} sent nothing for {timeout.read:g} s mid-stream — try again, "
                "or raise the timeout for slow models.",
                builder,
            ) from None
        except httpx.TransportError as exc:
            raise self._broken(
                StreamError,
                f"The connection to {self.spec.label} broke mid-stream ({type(exc).__name__}) "
                "— try again.",
                builder,
            ) from None
        return finished

    def _dispatch(
        self,
        items: list[Any],
        state: Any,
        builder: ResponseBuilder,
        on_chunk: OnChunk | None,
    ) -> bool:
        """Decode wire items into ``builder``; True if one of them ended the answer."""
        finished = False
        decode = self.adapter.decode
        add = builder.add
        for item in items:
            for event in decode(item, state):
                add(event)
                if isinstance(event, (TextDelta, ReasoningDelta)):
                    if on_chunk is not None:
                        on_chunk(event)
                elif isinstance(event, (Done, Finish)):
                    finished = True
                elif isinstance(event, ErrorEvent):
                    raise error_from_event(
                        self._error_context(), event, builder.partial, builder.response()
                    )
        return finished

    async def _get_json(self, request: HTTPRequest) -> Any:
        response = await self._send(request, _timeout(None, None))
        try:
            raw = await response.aread()
        finally:
            await response.aclose()
        if response.status_code >= 400:
            raise error_from_http(
                self._error_context(), response.status_code, response.headers, raw
            )
        return json.loads(raw)

    async def _probe_auth(self) -> None:
        # A chat request with no messages: servers check the key first, so a bad
        # key answers 401 and a good one 400, and nothing is generated or billed.
        request = self.adapter.build_request(
            self.spec, self.base_url, self._api_key(), [], Options(model=self.spec.default_model)
        )
        response = await self._send(request, _timeout(None, None))
        try:
            raw = await response.aread()
        finally:
            await response.aclose()
        if response.status_code in (401, 403):
            raise error_from_http(
                self._error_context(), response.status_code, response.headers, raw
            )


def _timeout(idle: float | None, connect: float | None) -> httpx.Timeout:
    return httpx.Timeout(idle or IDLE_TIMEOUT_S, connect=connect or CONNECT_TIMEOUT_S)


def _rejects_usage(err: BadRequestError) -> bool:
    text = f"{err.message} {err.body}".lower()
    return "stream_options" in text or "include_usage" in text
