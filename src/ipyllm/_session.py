"""``ipyllm.Session``: a conversation from code, written into a tab of the manager."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from . import _registry, _runner
from ._errors import LLMError
from ._registry import default_model as default_model  # ipyllm.default_model is found here
from ._types import Message, ReasoningDelta, Response, TextDelta

if TYPE_CHECKING:
    from ._manager.handle import TurnHandle
    from ._manager.runner import Sink
    from ._manager.tab import Tab

# Options a single call may override.
_CALL_OPTIONS = frozenset(
    {
        "system",
        "temperature",
        "max_tokens",
        "extra_body",
        "headers",
        "timeout",
        "connect_timeout",
        "deadline",
        "max_answer_chars",
        "max_history",
    }
)


class Session:
    """A conversation from code. It lives in a tab of the session manager, so the
    chat panel and ``%%llm -t`` see it too.

    >>> s = Session("demo")
    >>> print(s.ask("Hello"))            # doctest: +SKIP

    ``model`` may be a list: later models are tried when one fails before its
    first token (as are those in ``fallback``). ``tab`` names the tab to write
    into (an open tab continues its conversation; a new name opens one); a
    fresh tab by default. Limits (docs/limits.md; ``None``: what
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
    """

    def __init__(
        self,
        model: str | Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        max_retries: int = 2,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        deadline: float | None = None,
        max_answer_chars: int | None = None,
        max_history: int | None = None,
        tab: str | Tab | None = None,
        fallback: Sequence[str] = (),
        allow_insecure_http: bool = False,
    ) -> None:
        from ._engine.limits import check_limits
        from ._manager.manager import manager
        from ._manager.runner import check_max_history
        from ._manager.tab import Tab

        check_limits(
            "Session()",
            timeout=timeout,
            connect_timeout=connect_timeout,
            deadline=deadline,
            max_answer_chars=max_answer_chars,
        )
        requested = [model] if isinstance(model, str) or model is None else list(model)
        first = requested[0] or default_model()
        self.provider_name, self.model_name = _registry.parse_model(first)
        # Check every model and the first provider's configuration now, not mid-cell.
        self.models = [self.model] + [m for m in [*requested[1:], *fallback] if m]
        for other in self.models[1:]:
            _registry.parse_model(other)
        self.provider = _registry.get_provider(
            self.provider_name, api_key, base_url, allow_insecure_http=allow_insecure_http
        )
        self._api_key = api_key
        self._base_url = base_url
        self._allow_insecure_http = allow_insecure_http
        self.system = system
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.deadline = deadline
        self.max_answer_chars = max_answer_chars
        self.max_history = check_max_history(max_history)
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

    def ask(self, prompt: str, **options: Any) -> Response:
        """Send ``prompt`` and return the whole answer."""
        for _ in self.stream(prompt, **options):
            pass
        assert self.last is not None
        return self.last

    def stream(self, prompt: str, **options: Any) -> Iterator[str]:
        """Send ``prompt`` and yield the answer's text as it arrives.

        Breaking out of the loop stops the stream and closes the connection;
        ``self.last`` then holds the partial answer.
        """
        bridge: _runner.ChunkBridge[str] = _runner.ChunkBridge()

        def sink(delta: TextDelta | ReasoningDelta) -> None:
            if type(delta) is TextDelta:
                bridge.push(delta.text)

        handle = self._send(prompt, sink, options)
        handle.add_done_callback(bridge.close)
        try:
            while not bridge.closed:
                yield from bridge.take(0.25)
            handle.wait()
            yield from bridge.take(0)  # what arrived while a stop() settled
        except BaseException:  # GeneratorExit, KeyboardInterrupt: stop, keep the partial
            handle.cancel()
            handle.wait(5)
            self.last = handle.turn.as_response()
            raise
        self._settle(handle)

    # ---- asyncio API -----------------------------------------------------------

    async def aask(self, prompt: str, **options: Any) -> Response:
        """Async :meth:`ask`."""
        async for _ in self.astream(prompt, **options):
            pass
        assert self.last is not None
        return self.last

    async def astream(self, prompt: str, **options: Any) -> AsyncIterator[str]:
        """Async :meth:`stream`; cancelling it closes the connection and keeps the partial."""
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
                    if waiting:
                        loop.call_soon_threadsafe(_resolve, waiting[0])

        handle = self._send(prompt, sink, options)
        handle.add_done_callback(lambda: loop.call_soon_threadsafe(wake))
        try:
            while True:
                while items:
                    yield items.popleft()
                if handle.done():
                    break
                future = loop.create_future()
                waiter[:] = [future]
                if not items and not handle.done():
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

    def _send(self, prompt: str, sink: Sink, overrides: dict[str, Any]) -> TurnHandle:
        unknown = set(overrides) - _CALL_OPTIONS
        if unknown:
            raise TypeError(
                f"Unknown option(s): {', '.join(sorted(unknown))}; "
                f"a call takes {', '.join(sorted(_CALL_OPTIONS))}."
            )
        options = {
            "system": self.system,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "deadline": self.deadline,
            "max_answer_chars": self.max_answer_chars,
            "max_history": self.max_history,
            **overrides,
        }
        return self.tab.send(
            prompt,
            model=self.models,
            sink=sink,
            max_retries=self.max_retries,
            api_key=self._api_key,
            base_url=self._base_url,
            allow_insecure_http=self._allow_insecure_http,
            **options,
        )

    def _settle(self, handle: TurnHandle) -> None:
        try:
            self.last = handle.result()
        except LLMError as err:
            self.last = err.response
            raise


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
