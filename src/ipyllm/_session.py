"""``ipyllm.Session``: a conversation from code, written into a tab of the manager."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING

from . import _registry, _worker
from ._errors import LLMError, bare
from ._registry import default_model
from ._types import Message, ReasoningDelta, Response, TextDelta, ToolCall

if TYPE_CHECKING:
    from typing import Unpack

    from ._attachments import PromptInput
    from ._manager.handle import TurnHandle
    from ._manager.options import CallOptions, RequestOptions, SendOptions
    from ._manager.runner import Sink
    from ._manager.tab import Tab


class Session:
    """A conversation from code. It lives in a tab of the session manager, so the
    chat panel and ``%%llm -t`` see it too.

    >>> s = Session("demo")
    >>> print(s.ask("Hello"))            # doctest: +SKIP

    ``model`` may be a list: later models are tried when one fails before its
    first token (as are those in ``fallback``). ``tab`` names the tab to write
    into (an open tab continues its conversation; a new name opens one); a
    fresh tab by default. The request options are ``Tab.send``'s (one
    declaration, ``RequestOptions``): ``system``, ``temperature``,
    ``max_tokens``, ``extra_body``, ``headers``, ``api_key``, ``base_url``,
    ``allow_insecure_http``, ``max_retries`` (default 2), ``max_history`` and
    the limits; they are checked here, kept in :attr:`options`, and each call
    to ``ask``/``stream`` may override any but the three that pick the endpoint
    (a value given to the call wins, then the Session's, then what
    ``ipyllm.configure`` set, then the default). An unknown option is a
    ``TypeError`` naming the nearest valid one. Limits (docs/limits.md; ``None``: what
    ``ipyllm.configure`` set, else the default): ``timeout`` is the silence
    allowed between two chunks (default 300 s), ``connect_timeout`` the time to
    connect (15 s), ``deadline`` the whole turn, every retry and fallback model
    included (600 s; past it a ``TimeoutError`` keeps the partial answer), and
    ``max_answer_chars`` the characters of text plus reasoning kept (8 Mi; past
    it the answer ends with ``finish_reason="answer_limit"``). Each may also be
    given to a single ``ask``/``stream`` call, as may ``max_history``: how many
    earlier turns go with each prompt (the latest ones; ``None``: the tab's
    :attr:`~ipyllm.Tab.max_history`, by default all).
    ``base_url`` must be an ``http(s)`` URL; a key goes over plain ``http://``
    only to loopback or private-network hosts unless ``allow_insecure_http=True``.
    ``ask``/``stream`` block the calling thread while the stream runs on the
    manager's worker thread; ``aask``/``astream`` are their asyncio twins.
    ``stop()`` ends the current answer from any thread, keeping the partial.

    ``tools`` (Python functions the model may call), ``approve`` (``"auto"``, the
    default; ``"ask"``: each call is put to the user, here with ``input()``, in a chat
    panel with Run / Deny; or a function of the :class:`~ipyllm.ToolCall`),
    ``max_tool_rounds`` (default 10) and ``schema`` (the type the answer must fit:
    ``response.data`` holds the validated value) are request options like the rest:
    docs/tools.md.
    """

    def __init__(
        self,
        model: str | Sequence[str] | None = None,
        *,
        tab: str | Tab | None = None,
        fallback: Sequence[str] = (),
        **options: Unpack[SendOptions],
    ) -> None:
        try:
            self._open(model, tab, fallback, options)
        except LLMError as err:
            raise bare(err) from err.__cause__

    def _open(
        self,
        model: str | Sequence[str] | None,
        tab: str | Tab | None,
        fallback: Sequence[str],
        options: SendOptions,
    ) -> None:
        from ._manager.manager import manager
        from ._manager.options import request_options
        from ._manager.tab import Tab

        self.options: RequestOptions = request_options("Session()", options)
        """Every call's request options (a call's own win); ``None``: not given."""
        requested = [model] if isinstance(model, str) or model is None else list(model)
        first = requested[0] or default_model()
        self.provider_name, self.model_name = _registry.parse_model(first)
        # Check every model and the first provider's configuration now, not mid-cell.
        self.models = [self.model] + [m for m in [*requested[1:], *fallback] if m]
        for other in self.models[1:]:
            _registry.parse_model(other)
        opts = self.options
        self.provider = _registry.get_provider(
            self.provider_name,
            opts.api_key,
            opts.base_url,
            allow_insecure_http=bool(opts.allow_insecure_http),
        )
        opts.check_models(self.models)
        mgr = manager()
        if tab is None:
            self.tab = mgr.new_tab(model=self.model)
        elif isinstance(tab, Tab):
            # A Tab object is written into as is, even one the kernel's manager does
            # not list (a conversation restored by another manager): looking it up
            # would miss, and str(tab) is its repr, not a title. A closed tab says
            # so when asked to send.
            self.tab = tab
        else:
            self.tab = mgr.find(tab) or mgr.new_tab(title=tab, model=self.model)
        self.last: Response | None = None
        self._asked: list[ToolCall] = []  # calls put to the user (approve="ask")

    @property
    def model(self) -> str:
        """``provider:model`` of the first model."""
        return f"{self.provider_name}:{self.model_name}"

    @property
    def messages(self) -> list[Message]:
        """The conversation so far (the tab's finished and stopped turns)."""
        return self.tab.messages

    def __repr__(self) -> str:
        return f"<Session {self.model} tab={self.tab.title!r} turns={len(self.tab.turns)}>"

    # ---- blocking API ----------------------------------------------------------

    def ask(self, prompt: PromptInput, **options: Unpack[CallOptions]) -> Response:
        """Send ``prompt`` and return the whole answer.

        ``prompt`` is text, or a list of text and attachments: a matplotlib figure, a
        PIL image, ``ipyllm.Image(path | url | bytes)``, ``ipyllm.File(path | bytes)``
        (a PDF or a text file), any object with ``_repr_png_``. Images larger than the
        provider takes are scaled down; a kind it cannot take raises
        :class:`~ipyllm.AttachmentError` before sending (docs/notebook-context.md).
        """
        try:
            for _ in self._stream(prompt, self._call_options("Session.ask()", options)):
                pass
        except LLMError as err:
            raise bare(err) from err.__cause__
        assert self.last is not None
        return self.last

    def stream(self, prompt: PromptInput, **options: Unpack[CallOptions]) -> Iterator[str]:
        """Send ``prompt`` and yield the answer's text as it arrives.

        The options are checked here, at the call; the prompt is sent when the
        loop starts. Breaking out of the loop stops the stream and closes the
        connection; ``self.last`` then holds the partial answer.
        """
        return self._stream(prompt, self._call_options("Session.stream()", options))

    def _stream(self, prompt: PromptInput, options: RequestOptions) -> Iterator[str]:
        bridge: _worker.ChunkBridge[str] = _worker.ChunkBridge()
        push = bridge.push

        def sink(delta: TextDelta | ReasoningDelta) -> None:
            if type(delta) is TextDelta:
                push(delta.text)

        handle = self._send(prompt, sink, options)
        handle.add_done_callback(bridge.close)
        asking = options.approve == "ask"
        try:
            while not bridge.closed:
                yield from bridge.take(0.25)
                if asking:
                    self._ask_user()
            handle.wait()
            yield from bridge.take(0)  # what arrived while a stop() settled
        except BaseException:  # GeneratorExit, KeyboardInterrupt: stop, keep the partial
            handle.cancel()
            handle.wait(5)
            self.last = handle.turn.as_response()
            raise
        self._settle(handle)

    # ---- asyncio API -----------------------------------------------------------

    async def aask(self, prompt: PromptInput, **options: Unpack[CallOptions]) -> Response:
        """Async :meth:`ask`."""
        try:
            async for _ in self._astream(prompt, self._call_options("Session.aask()", options)):
                pass
        except LLMError as err:
            raise bare(err) from err.__cause__
        assert self.last is not None
        return self.last

    def astream(self, prompt: PromptInput, **options: Unpack[CallOptions]) -> AsyncIterator[str]:
        """Async :meth:`stream` (the options are checked at the call); cancelling it
        closes the connection and keeps the partial."""
        return self._astream(prompt, self._call_options("Session.astream()", options))

    async def _astream(self, prompt: PromptInput, options: RequestOptions) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        items: collections.deque[str] = collections.deque()
        waiter: list[asyncio.Future[None]] = []  # the consumer's, while it waits

        def wake() -> None:
            if waiter:
                _resolve(waiter[0])

        def sink(delta: TextDelta | ReasoningDelta) -> None:  # on the worker thread
            if type(delta) is TextDelta:
                items.append(delta.text)
                # Only a waiting consumer needs a wake-up, and only one per wait:
                # the list is emptied here, so later pieces skip the cross-thread call.
                if waiter:
                    waiting = waiter[:]
                    waiter.clear()
                    if waiting:  # once this network read is handed over, not per piece
                        _worker.call_when_idle(lambda: _resolve_from(loop, waiting[0]))

        handle = self._send(prompt, sink, options)
        handle.add_done_callback(lambda: loop.call_soon_threadsafe(wake))
        asking = options.approve == "ask"
        try:
            while True:
                while items:
                    yield items.popleft()
                if handle.done():
                    break
                future = loop.create_future()
                waiter[:] = [future]
                if not items and not handle.done():
                    if asking:
                        await asyncio.wait({future}, timeout=0.25)
                        if self.tab.pending_calls():
                            await asyncio.to_thread(self._ask_user)
                    else:
                        await future
                waiter.clear()
        except BaseException:
            handle.cancel()
            while not handle.done():  # settle without blocking the loop
                await asyncio.sleep(0.01)
            self.last = handle.turn.as_response()
            raise
        while items:
            yield items.popleft()
        self._settle(handle)

    # ---- control ---------------------------------------------------------------

    def stop(self) -> None:
        """Stop the answer in progress (from any thread); the partial text is kept."""
        self.tab.stop()

    def clear(self) -> None:
        """Start over in a fresh tab (the old conversation stays in its tab and history)."""
        from ._manager.manager import manager

        self.tab = manager().new_tab(model=self.model)
        self.last = None

    # ---- internals -------------------------------------------------------------

    def _ask_user(self) -> None:
        ask_with_input(self.tab, self._asked)

    def _call_options(self, where: str, overrides: CallOptions) -> RequestOptions:
        from ._manager.options import CALL_OPTION_NAMES

        try:
            return self.options.merged_from(where, overrides, CALL_OPTION_NAMES)
        except LLMError as err:
            raise bare(err) from err.__cause__

    def _send(self, prompt: PromptInput, sink: Sink, options: RequestOptions) -> TurnHandle:
        try:
            return self.tab.send(prompt, model=self.models, sink=sink, options=options)
        except LLMError as err:
            raise bare(err) from err.__cause__

    def _settle(self, handle: TurnHandle) -> None:
        try:
            self.last = handle.result()
        except LLMError as err:
            self.last = err.response
            raise bare(err) from err.__cause__


def ask_with_input(tab: Tab, asked: list[ToolCall]) -> None:
    """``approve="ask"`` with no panel: ask with ``input()`` on the calling thread, one
    call at a time, about each of ``tab``'s calls waiting and not in ``asked`` (which
    records them: an answer reaches the worker a moment after it is given). A panel
    showing the tab may answer first. The model wrote the name and the arguments, so
    their control characters are shown escaped: a terminal would obey them."""
    for call in tab.pending_calls():
        if any(call is done for done in asked):
            continue
        asked.append(call)
        shown = _printable(f"{call.name}({call.arguments})")
        answer = input(f"Run tool {shown}? [y/N] ").strip().lower()
        tab.approve(call, answer in ("y", "yes"))


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _resolve_from(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> None:
    """Resolve ``future`` on its ``loop`` from another thread (unless that loop is gone)."""
    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
        loop.call_soon_threadsafe(_resolve, future)
