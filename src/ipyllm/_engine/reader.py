"""Reading one 2xx response body into a :class:`ResponseBuilder`.

A body's first bytes say what it is. A stream is decoded as it arrives, and its
own end (``[DONE]``, ``message_stop``…) ends the read, whatever the server then
does with the connection. A whole JSON body (an answer, or an error envelope) is
decoded at once. An HTML page, plain text or an empty body is no answer at all
and raises an error that says so.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from typing import Any, Literal, cast

import httpx

from .._errors import LLMError, StreamError, TimeoutError
from .._providers.spec import Adapter
from .._types import (
    Done,
    ErrorEvent,
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from .._wire.lines import EventTooLarge
from .._wire.ndjson import NDJSONDecoder
from .._wire.sse import SSEDecoder
from .accumulate import ResponseBuilder
from .errors import (
    ErrorContext,
    clip,
    error_from_event,
    html_title,
    html_words,
    not_the_api_error,
)

OnChunk = Callable[[TextDelta | ReasoningDelta | ToolCallDelta], Any]

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

BodyKind = Literal["stream", "json", "html", "text", "empty"]


def broken(cls: type[LLMError], message: str, provider: str, builder: ResponseBuilder) -> LLMError:
    """An error for a stream that broke, carrying what arrived before it did."""
    return cls(message, provider=provider, partial=builder.partial, response=builder.response())


class BodyReader:
    """Reads one response body (one attempt) into ``builder``, calling ``on_chunk`` with
    each text or reasoning delta. ``max_event_bytes`` bounds a line, an event and a
    whole JSON body."""

    def __init__(
        self,
        adapter: Adapter,
        context: ErrorContext,
        builder: ResponseBuilder,
        on_chunk: OnChunk | None,
        max_event_bytes: int,
    ) -> None:
        self.adapter = adapter
        self.context = context
        self.builder = builder
        self.on_chunk = on_chunk
        self.limit = max_event_bytes
        self.state = adapter.new_state()
        self.decoder = (
            SSEDecoder(max_event_bytes) if adapter.wire == "sse" else NDJSONDecoder(max_event_bytes)
        )

    async def read(self, response: httpx.Response, idle_timeout_s: float | None) -> bool:
        """Read the body; True if the answer finished (its end marker, or a finish and the
        body's end). Transport failures become ipyllm errors carrying the partial answer."""
        label = self.context.label
        content_type = response.headers.get("content-type", "")
        chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
        try:
            head = b""
            kind: BodyKind | None = None
            async for chunk in chunks:
                head += chunk
                kind = body_kind(head, content_type, self.adapter.wire, complete=False)
                if kind is not None:
                    break
            else:
                kind = body_kind(head, content_type, self.adapter.wire, complete=True)
                chunks = _no_more_chunks()
            assert kind is not None  # a complete body always has a kind
            if kind == "stream":
                return await self._read_stream(head, chunks)
            if kind == "json":
                raw = await read_all(head, chunks, self.limit)
                try:
                    body = json.loads(raw)
                except ValueError:
                    if self.adapter.wire != "ndjson":
                        raise
                    # JSON lines after all, labelled as one document: read them as lines.
                    return await self._read_stream(raw, _no_more_chunks())
                return self._read_whole(body, response.status_code)
            raise await self._not_an_answer(kind, head, chunks, response.status_code)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._broken(
                StreamError,
                f"{label} sent data ipyllm could not read ({type(exc).__name__}: "
                f"{clip(str(exc), 200)}) — try again; if it persists, report it.",
            ) from None
        except httpx.TimeoutException:
            raise self._broken(
                TimeoutError,
                f"{label} sent nothing for {idle_timeout_s:g} s mid-stream — try again, "
                "or raise the timeout for slow models.",
            ) from None
        except httpx.TransportError as exc:
            raise self._broken(
                StreamError,
                f"The connection to {label} broke mid-stream ({type(exc).__name__}) — try again.",
            ) from None
        finally:
            await chunks.aclose()

    def _broken(self, cls: type[LLMError], message: str) -> LLMError:
        return broken(cls, message, self.context.provider, self.builder)

    async def _read_stream(self, head: bytes, chunks: AsyncGenerator[bytes, None]) -> bool:
        """Decode the stream until its end marker or the end of the body."""
        dispatch, decoder = self._dispatch, self.decoder
        ended = dispatch(decoder.feed(head))
        if ended == _ENDED:
            return True
        finished = ended == _FINISHED
        async for chunk in chunks:
            ended = dispatch(decoder.feed(chunk))
            if ended:
                if ended == _ENDED:
                    return True  # the caller closes the connection; nothing more is read
                finished = True
        return dispatch(decoder.flush()) != _OPEN or finished

    def _read_whole(self, body: Any, status: int) -> bool:
        """A whole JSON body: an answer becomes the response, an error envelope an error."""
        if self._dispatch([body], self.adapter.decode_body, mid_stream=False) == _OPEN:
            what = f"JSON that is neither an answer nor an error ({clip(json.dumps(body), 200)})"
            raise not_the_api_error(self.context, status, what, body)
        return True

    async def _not_an_answer(
        self, kind: BodyKind, head: bytes, chunks: AsyncGenerator[bytes, None], status: int
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
        return not_the_api_error(self.context, status, what, text)

    def _dispatch(
        self,
        items: list[Any],
        decode: Callable[[Any, Any], list[StreamEvent]] | None = None,
        *,
        mid_stream: bool = True,
    ) -> int:
        """Decode wire items into the builder: :data:`_ENDED` at the stream's own end (the
        items after it are ignored), :data:`_FINISHED` if the model stopped, else
        :data:`_OPEN`."""
        finished = _OPEN
        decode = decode or self.adapter.decode
        state, builder, on_chunk = self.state, self.builder, self.on_chunk
        add, add_text = builder.add, builder.add_text
        for item in items:
            for event in decode(item, state):
                kind = type(event)  # the event types are final dataclasses
                if kind is TextDelta:
                    add_text(event.text)  # type: ignore[union-attr]
                    if on_chunk is not None:
                        on_chunk(event)  # type: ignore[arg-type]
                    continue
                add(event)
                if kind is ReasoningDelta or kind is ToolCallDelta:
                    if on_chunk is not None:
                        on_chunk(event)  # type: ignore[arg-type]
                elif kind is Finish:
                    finished = _FINISHED
                elif kind is Done:
                    return _ENDED
                elif isinstance(event, ErrorEvent):
                    raise error_from_event(
                        self.context,
                        event,
                        builder.partial,
                        builder.response(),
                        mid_stream=mid_stream,
                    )
        return finished


def body_kind(head: bytes, content_type: str, wire: str, *, complete: bool) -> BodyKind | None:
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


async def read_all(head: bytes, chunks: AsyncGenerator[bytes, None], limit: int) -> bytes:
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


async def read_capped(response: httpx.Response, limit: int) -> bytes:
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
