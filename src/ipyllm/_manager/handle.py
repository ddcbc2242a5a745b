"""The handle ``Tab.send`` returns: wait for, fetch or cancel one turn."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._errors import TimeoutError
from .._types import Response

if TYPE_CHECKING:
    from .tab import Tab
    from .turn import Turn


class TurnHandle:
    """A turn running in the background on the manager's worker thread."""

    def __init__(self, tab: Tab, turn: Turn, future: concurrent.futures.Future[Response]) -> None:
        self.tab = tab
        self.turn = turn
        self._future = future

    def __repr__(self) -> str:
        return f"<TurnHandle tab={self.tab.title!r} turn={self.turn.index} {self.turn.status}>"

    def done(self) -> bool:
        """Whether the turn has settled (done, stopped or failed)."""
        return self.turn.settled.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the turn settles; False if ``timeout`` passed first.

        Waits in short slices so Ctrl-C / a kernel interrupt reaches the caller.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.turn.settled.is_set():
            remaining = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if remaining <= 0:
                return False
            self.turn.settled.wait(remaining)
        return True

    def result(self, timeout: float | None = None) -> Response:
        """The answer; a stopped turn gives its partial answer, a failed one raises its error.

        If ``timeout`` seconds pass first, raises :class:`ipyllm.TimeoutError` (also the
        builtin ``TimeoutError``); the turn goes on streaming.
        """
        if not self.wait(timeout):
            raise TimeoutError(
                f"Turn {self.turn.index} of tab {self.tab.title!r} is still streaming after "
                f"{timeout:g} s; it goes on in the background: call result() again to wait "
                "longer, or cancel() to stop it (its partial answer is kept).",
                provider=self.turn.model.partition(":")[0] or None,
            )
        # The turn settles a moment before its future completes: a stopped turn's
        # future may turn "cancelled" only while we wait on it here, and
        # Future.exception() raises CancelledError for that, not the partial.
        try:
            exc = self._future.exception()
        except concurrent.futures.CancelledError:
            exc = None
        if exc is not None:
            raise exc
        return self.turn.as_response()

    @property
    def future(self) -> concurrent.futures.Future[Response]:
        """The future of the turn's task on the worker loop (``asyncio.wrap_future`` it to
        await the turn from a coroutine); it completes once the turn has settled."""
        return self._future

    def add_done_callback(self, fn: Callable[[], object]) -> None:
        """Call ``fn()`` (on some thread) once the turn has settled."""
        self._future.add_done_callback(lambda _: fn())

    def cancel(self) -> None:
        """Stop the turn; its partial text is kept."""
        from .runner import stop_turn

        if not self.done():
            stop_turn(self.turn)
