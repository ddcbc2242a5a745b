"""``ipyllm.Session``: a conversation with one model, from code."""

from __future__ import annotations

import asyncio
import collections
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from . import _registry, _runner
from ._errors import LLMError
from ._types import Message, Options, ReasoningDelta, Response, TextDelta

# Providers tried, in order, when no model is named and IPYLLM_MODEL is unset.
_PREFERRED = ("anthropic", "openai", "gemini", "xai", "openrouter", "zai", "minimax", "fireworks")


def default_model() -> str:
    """``IPYLLM_MODEL`` if set, else the default model of the first provider with a key,
    else the offline ``demo``."""
    env = os.environ.get("IPYLLM_MODEL", "").strip()
    if env:
        return env
    store = _registry.key_store()
    for name in _PREFERRED:
        if store.find(name):
            return f"{name}:{_registry.spec_for(name).default_model}"
    return "demo:demo"


class Session:
    """A conversation with one model. It keeps the history; each call adds a turn.

    >>> s = Session("demo")
    >>> print(s.ask("Hello"))            # doctest: +SKIP

    ``timeout`` is the silence allowed between two chunks (default 300 s) and
    ``connect_timeout`` the time to connect (default 15 s).
    ``ask``/``stream`` block the calling thread (the stream itself runs on a
    worker thread); ``aask``/``astream`` are their asyncio twins. ``stop()``
    ends the current answer from any thread, keeping the partial text.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        max_retries: int = 2,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self.provider_name, self.model_name = _registry.parse_model(model or default_model())
        self.provider = _registry.get_provider(self.provider_name, api_key, base_url)
        self.system = system
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.messages: list[Message] = []
        self.last: Response | None = None
        self._lock = threading.Lock()
        self._settled = threading.Event()  # set while no turn is running
        self._settled.set()
        self._cancel: Callable[[], Any] | None = None

    @property
    def model(self) -> str:
        """``provider:model``."""
        return f"{self.provider_name}:{self.model_name}"

    def __repr__(self) -> str:
        return f"<Session {self.model} turns={len(self.messages) // 2}>"

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

        def on_chunk(delta: TextDelta | ReasoningDelta) -> None:
            if type(delta) is TextDelta:
                bridge.push(delta.text)

        future = _runner.submit(self._turn(prompt, on_chunk, options))
        future.add_done_callback(lambda _: bridge.close())
        self._cancel = future.cancel
        try:
            while not bridge.closed:
                yield from bridge.take(0.25)
            yield from bridge.take(0)
            if future.cancelled():  # stop() from elsewhere: the partial is the answer
                self._settled.wait(5)
                yield from bridge.take(0)
            else:
                future.result()
        except BaseException:  # GeneratorExit, KeyboardInterrupt: stop and keep the partial
            if not future.done():
                future.cancel()
                self._settled.wait(5)
            raise
        finally:
            self._cancel = None

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
        waiter: list[asyncio.Future[None]] = []  # at most one: the consumer waiting

        def wake() -> None:
            if waiter and not waiter[0].done():
                waiter[0].set_result(None)

        def on_chunk(delta: TextDelta | ReasoningDelta) -> None:
            if type(delta) is TextDelta:
                items.append(delta.text)
                wake()

        task = loop.create_task(self._turn(prompt, on_chunk, options))
        task.add_done_callback(lambda _: wake())
        self._cancel = lambda: loop.call_soon_threadsafe(task.cancel)
        try:
            while True:
                while items:
                    yield items.popleft()
                if task.done():
                    break
                waiter[:] = [loop.create_future()]
                await waiter[0]
            if not task.cancelled():  # cancelled means stop(): the partial is the answer
                task.result()
        finally:
            self._cancel = None
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # ---- control ---------------------------------------------------------------

    def stop(self) -> None:
        """Stop the answer in progress (from any thread); the partial text is kept."""
        cancel = self._cancel
        if cancel is not None:
            cancel()

    def clear(self) -> None:
        """Forget the conversation history."""
        self.messages.clear()
        self.last = None

    # ---- internals -------------------------------------------------------------

    def _options(self, overrides: dict[str, Any]) -> Options:
        unknown = set(overrides) - {"system", "temperature", "max_tokens", "extra_body", "headers"}
        if unknown:
            raise TypeError(f"Unknown option(s): {', '.join(sorted(unknown))}")
        return Options(
            model=self.model_name,
            system=overrides.get("system", self.system),
            temperature=overrides.get("temperature", self.temperature),
            max_tokens=overrides.get("max_tokens", self.max_tokens),
            extra_body=dict(overrides.get("extra_body") or {}),
            headers=dict(overrides.get("headers") or {}),
        )

    async def _turn(
        self,
        prompt: str,
        on_chunk: Callable[[TextDelta | ReasoningDelta], None],
        overrides: dict[str, Any],
    ) -> Response:
        options = self._options(overrides)
        if not self._lock.acquire(blocking=False):
            raise LLMError(
                "This session is already answering a prompt; wait for it, call stop(), "
                "or use a second Session for parallel questions.",
                provider=self.provider_name,
            )
        self._settled.clear()
        texts: list[str] = []
        reasoning: list[str] = []

        def collect(delta: TextDelta | ReasoningDelta) -> None:
            (texts if type(delta) is TextDelta else reasoning).append(delta.text)
            on_chunk(delta)

        user: Message = {"role": "user", "content": prompt}
        try:
            response = await self.provider.query_stream(
                [*self.messages, user],
                options,
                collect,
                max_retries=self.max_retries,
                idle_timeout=self.timeout,
                connect_timeout=self.connect_timeout,
            )
        except asyncio.CancelledError:
            self.last = Response(
                text="".join(texts),
                reasoning="".join(reasoning) or None,
                model=self.model_name,
                provider=self.provider_name,
                finish_reason="stopped",
            )
            self.messages += [user, {"role": "assistant", "content": self.last.text}]
            raise
        except LLMError as err:
            self.last = err.response
            raise
        else:
            self.last = response
            self.messages += [user, {"role": "assistant", "content": response.text}]
            return response
        finally:
            self._lock.release()
            self._settled.set()
