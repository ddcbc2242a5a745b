"""A configured provider: one adapter, one base URL, one key, and the HTTP to use them."""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any, Literal, Protocol, cast

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
    CONTENT_FILTER,
    Done,
    ErrorEvent,
    Finish,
    Message,
    Options,
    ReasoningDelta,
    Response,
    StreamEvent,
    TextDelta,
)
from .._urls import cleartext_host, insecure_http_error
from .._wire.lines import EventTooLarge
from .._wire.ndjson import NDJSONDecoder
from .._wire.sse import SSEDecoder
from .accumulate import AnswerLimitReached, ResponseBuilder
from .errors import (
    BODY_LIMIT,
    ErrorContext,
    clip,
    error_from_event,
    error_from_http,
    filter_error,
    html_title,
    html_words,
    not_the_api_error,
    redirect_error,
)
from .limits import ANSWER_LIMIT, DEFAULT_LIMITS, Limits, seconds_or_none
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
        models: tuple[str, ...] | None = None,
        headers: dict[str, str] | None = None,
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
        deadline: float | None = None,
        max_answer_chars: int | None = None,
        deadline_from: float | None = None,
        gate: RequestGate | None = None,
        estimated_tokens: int = 0,
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
        builder = ResponseBuilder(self.name, options.model, limits.max_answer_chars)
        scope = asyncio.timeout_at(seconds_or_none(ends_at))
        try:
            async with scope:
                while True:
                    builder = ResponseBuilder(self.name, options.model, limits.max_answer_chars)
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
        # Every stream to this provider waits too, unless the wait is so
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
        spec = self.spec
        return ErrorContext(
            self.name, spec.label, self.base_url, env, spec.needs_key, spec.error_codes
        )

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(
                transport=self._transport_factory() if self._transport_factory else None,
                timeout=_timeout(self.limits),
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
            status = response.status_code
            if 300 <= status < 400:  # httpx follows no redirect, and a key must not either
                raise redirect_error(self._error_context(), status, response.headers)
            if status >= 400:
                raw = await _read_capped(response, BODY_LIMIT)
                raise error_from_http(self._error_context(), status, response.headers, raw)
            finished = await self._pump(response, builder, on_chunk, timeout)
        finally:
            await response.aclose()  # at once, even if the server keeps the body open
        if not finished:
            raise self._broken(
                StreamError,
                f"The {self.spec.label} stream ended before the answer was complete — "
                "the connection may have been cut; try again.",
                builder,
            )
        if builder.finish_reason == CONTENT_FILTER and not builder.text and not builder.tool_calls:
            raise filter_error(self._error_context(), builder.response())
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
        """Read a 2xx body, folding events into ``builder``; True if the answer finished.

        Its first bytes say what it is. A stream is decoded as it arrives, and its own
        end (``[DONE]``, ``message_stop``…) ends the read, whatever the server does with
        the connection afterwards. A whole JSON body (an answer, or an error envelope) is
        decoded at once. An HTML page, plain text or an empty body raises an error that
        says so.
        """
        limit = self.limits.max_event_bytes
        decoder = SSEDecoder(limit) if self.adapter.wire == "sse" else NDJSONDecoder(limit)
        state = self.adapter.new_state()
        content_type = response.headers.get("content-type", "")
        chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
        try:
            head = b""
            kind: _BodyKind | None = None
            async for chunk in chunks:
                head += chunk
                kind = _body_kind(head, content_type, self.adapter.wire, complete=False)
                if kind is not None:
                    break
            else:
                kind = _body_kind(head, content_type, self.adapter.wire, complete=True)
                chunks = _no_more_chunks()
            assert kind is not None  # a complete body always has a kind
            if kind == "stream":
                return await self._read_stream(head, chunks, decoder, state, builder, on_chunk)
            if kind == "json":
                raw = await _read_all(head, chunks, limit)
                try:
                    body = json.loads(raw)
                except ValueError:
                    if self.adapter.wire != "ndjson":
                        raise
                    # JSON lines after all, labelled as one document: read them as lines.
                    rest = _no_more_chunks()
                    return await self._read_stream(raw, rest, decoder, state, builder, on_chunk)
                return self._read_whole(body, response.status_code, state, builder, on_chunk)
            raise await self._not_an_answer(kind, head, chunks, response)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._broken(
                StreamError,
                f"{self.spec.label} sent data ipyllm could not read ({type(exc).__name__}: "
                f"{clip(str(exc), 200)}) — try again; if it persists, report it.",
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
        finally:
            await chunks.aclose()

    async def _read_stream(
        self,
        head: bytes,
        chunks: AsyncGenerator[bytes, None],
        decoder: SSEDecoder | NDJSONDecoder,
        state: Any,
        builder: ResponseBuilder,
        on_chunk: OnChunk | None,
    ) -> bool:
        """Decode the stream until its end marker or the end of the body."""
        dispatch = self._dispatch
        ended = dispatch(decoder.feed(head), state, builder, on_chunk)
        if ended == _ENDED:
            return True
        finished = ended == _FINISHED
        async for chunk in chunks:
            ended = dispatch(decoder.feed(chunk), state, builder, on_chunk)
            if ended:
                if ended == _ENDED:
                    return True  # the caller closes the connection; nothing more is read
                finished = True
        return dispatch(decoder.flush(), state, builder, on_chunk) != _OPEN or finished

    def _read_whole(
        self,
        body: Any,
        status: int,
        state: Any,
        builder: ResponseBuilder,
        on_chunk: OnChunk | None,
    ) -> bool:
        """A whole JSON body: an answer becomes the response, an error envelope an error."""
        decode = self.adapter.decode_body
        if self._dispatch([body], state, builder, on_chunk, decode, mid_stream=False) == _OPEN:
            what = f"JSON that is neither an answer nor an error ({clip(json.dumps(body), 200)})"
            raise not_the_api_error(self._error_context(), status, what, body)
        return True

    async def _not_an_answer(
        self,
        kind: _BodyKind,
        head: bytes,
        chunks: AsyncGenerator[bytes, None],
        response: httpx.Response,
    ) -> LLMError:
        """The error for a 2xx body that is no answer at all: a page, text, nothing."""
        page = bytearray(head)
        if kind == "html":  # read on to the page's title, if it comes soon
            async for chunk in chunks:
                page += chunk
                if len(page) >= _PAGE_BYTES or b"</title" in page[-len(chunk) - 8 :].lower():
                    break
        text = page[:_PAGE_BYTES].decode("utf-8", "replace").strip()
        if kind == "empty":
            what = "an empty body"
        elif kind == "html":
            title, words = html_title(text), html_words(text)
            what = f"an HTML page titled {title!r}" if title else "an HTML page"
            if not title and words:
                what += f" ({clip(words, 200)!r})"
        else:
            first = next((line for line in text.splitlines() if line.strip()), "")
            what = f"plain text ({clip(first.strip(), 200)!r})"
        return not_the_api_error(self._error_context(), response.status_code, what, text)

    def _dispatch(
        self,
        items: list[Any],
        state: Any,
        builder: ResponseBuilder,
        on_chunk: OnChunk | None,
        decode: Callable[[Any, Any], list[StreamEvent]] | None = None,
        *,
        mid_stream: bool = True,
    ) -> int:
        """Decode wire items into ``builder``: :data:`_ENDED` at the stream's own end (the
        items after it are ignored), :data:`_FINISHED` if the model stopped, else
        :data:`_OPEN`."""
        finished = _OPEN
        decode = decode or self.adapter.decode
        add = builder.add
        for item in items:
            for event in decode(item, state):
                add(event)
                if isinstance(event, (TextDelta, ReasoningDelta)):
                    if on_chunk is not None:
                        on_chunk(event)
                elif isinstance(event, Finish):
                    finished = _FINISHED
                elif isinstance(event, Done):
                    return _ENDED
                elif isinstance(event, ErrorEvent):
                    raise error_from_event(
                        self._error_context(),
                        event,
                        builder.partial,
                        builder.response(),
                        mid_stream=mid_stream,
                    )
        return finished

    async def _get_json(self, request: HTTPRequest) -> Any:
        response = await self._send(request, _timeout(self.limits))
        try:
            status = response.status_code
            if 300 <= status < 400:
                raise redirect_error(self._error_context(), status, response.headers)
            if status >= 400:
                raw = await _read_capped(response, BODY_LIMIT)
                raise error_from_http(self._error_context(), status, response.headers, raw)
            raw = await response.aread()
        finally:
            await response.aclose()
        return json.loads(raw)

    async def _probe_auth(self) -> None:
        # A chat request with no messages: servers check the key first, so a bad
        # key answers 401 and a good one 400, and nothing is generated or billed.
        request = self.adapter.build_request(
            self.spec, self.base_url, self._api_key(), [], Options(model=self.spec.default_model)
        )
        response = await self._send(request, _timeout(self.limits))
        try:
            raw = await _read_capped(response, BODY_LIMIT)
        finally:
            await response.aclose()
        if response.status_code in (401, 403):
            raise error_from_http(
                self._error_context(), response.status_code, response.headers, raw
            )


# What _dispatch reports: the stream goes on; the model stopped (usage may still
# follow); the stream's own end marker came, so nothing more is read.
_OPEN, _FINISHED, _ENDED = 0, 1, 2
# How much of an HTML page is read to find its <title>.
_PAGE_BYTES = 64 * 1024
# Bytes of leading whitespace after which a body is taken for a stream (keep-alives).
_SNIFF_BYTES = 1024
# The first line of an SSE stream is one of these fields, or a comment (":").
_SSE_FIELDS = (b"data:", b"event:", b"id:", b"retry:", b":")
_SSE_BARE_FIELDS = (b"data", b"event", b"id", b"retry")  # a field with no value

_BodyKind = Literal["stream", "json", "html", "text", "empty"]


def _body_kind(head: bytes, content_type: str, wire: str, *, complete: bool) -> _BodyKind | None:
    """What a 2xx body is, from its first bytes (and its content type where they leave
    it open); ``None`` while more bytes are needed. ``complete``: the body ended."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    media = content_type.split(";")[0].strip().lower()
    if not text:
        if complete:
            return "empty"
        return "stream" if len(head) >= _SNIFF_BYTES else None
    first = text[:1]
    if first == b"<":
        return "html"
    if first in (b"{", b"["):
        # NDJSON lines are JSON too; a whole document says so in its content type.
        whole = wire == "sse" or (media.endswith("json") and "ndjson" not in media)
        return "json" if whole else "stream"
    if wire == "sse":
        end = min((i for i in (text.find(b"\n"), text.find(b"\r")) if i >= 0), default=-1)
        if end < 0 and not complete and len(text) < 64:
            return None  # the first line is not complete yet
        line = text[: end if end >= 0 else 64]
        if line.startswith(_SSE_FIELDS) or line.rstrip() in _SSE_BARE_FIELDS:
            return "stream"
    return "html" if media == "text/html" else "text"


async def _no_more_chunks() -> AsyncGenerator[bytes, None]:
    return
    yield  # pragma: no cover  (makes this an async generator)


async def _read_all(head: bytes, chunks: AsyncGenerator[bytes, None], limit: int) -> bytes:
    """The whole body: ``head`` and the rest. It is one event, so past ``limit`` bytes
    :class:`EventTooLarge` is raised, as a decoder would."""
    parts = [head]
    size = len(head)
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise EventTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body (an error body: the rest is never read);
    what arrived so far if the connection fails while reading it."""
    parts: list[bytes] = []
    size = 0
    chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
    try:
        async for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        pass
    finally:
        await chunks.aclose()
    return b"".join(parts)[:limit]


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
