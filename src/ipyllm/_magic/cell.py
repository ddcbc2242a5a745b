"""Running one ``%%llm`` cell: pick the tab, send the prompt, show the answer live, finish.

In a notebook the answer streams into the cell through the chat panel's
compact one-turn view; once the turn settles, that output is replaced by a
static bundle (Markdown, code, JSON…) that a saved notebook shows with no
kernel. In a terminal the text is printed as it arrives. The cell blocks
until the answer is complete (so Run All runs in order) unless ``--bg``.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._errors import LLMError, redact
from . import render
from .interpolate import interpolate
from .state import CellOptions, MagicState

if TYPE_CHECKING:
    from .._manager.options import RequestOptions
    from .._manager.tab import Tab
    from .._manager.turn import Turn

_FORMAT_HINTS = {
    "code": "Reply with one fenced code block and nothing else.",
    "json": "Reply with valid JSON only: no prose, no code fence.",
}


DEFAULT_TAB_TITLE = "llm"


def choose_tab(opts: CellOptions, state: MagicState) -> Tab:
    """The tab this cell writes to (created when new)."""
    from .. import manager
    from .._registry import default_model

    mgr = manager()
    if opts.tab:
        model = opts.model or state.default_model or default_model()
        return mgr.find(opts.tab) or mgr.new_tab(opts.tab, model=model)
    with state.lock:
        tab = mgr.find(state.default_tab) if state.default_tab else None
        if tab is None or opts.new:
            # A fresh conversation keeps the model in use unless a default was set.
            model = opts.model or state.default_model or (tab.model if tab else default_model())
            tab = mgr.new_tab(DEFAULT_TAB_TITLE, model=model)
            state.default_tab = tab.id
        return tab


def run_cell(shell: Any, opts: CellOptions, body: str, state: MagicState) -> None:
    """Run one ``%%llm`` cell in ``shell``."""
    body = body.strip("\n").rstrip()  # the cell's trailing newline is not part of the prompt
    prompt = interpolate(body, shell.user_ns) if opts.interpolate else body
    if not prompt.strip():
        raise UsageError("The cell is empty: write the prompt below the %%llm line.")
    try:
        tab = choose_tab(opts, state)
        if opts.model:
            tab.set_model(opts.model)
        handle = tab.send(prompt, context=opts.context, options=request_options(opts))
    except LLMError as exc:
        raise UsageError(redact(str(exc))) from None
    turn = handle.turn
    live = LiveOutput.start(shell, tab, turn)
    finish = Finisher(shell, opts, turn, live)
    if opts.background:
        threading.Thread(target=finish.when_settled, name="ipyllm-magic-bg", daemon=True).start()
        return
    try:
        while not turn.settled.wait(0.1):
            live.poll()
    except KeyboardInterrupt:
        # The kernel's interrupt reaches only this thread: stop the stream, keep the
        # partial, then let the interrupt abort the rest of a Run All.
        tab.stop()
        turn.settled.wait(5.0)
        finish()
        raise
    finish(raise_errors=True)


def request_options(opts: CellOptions) -> RequestOptions:
    """The request options a cell asks for (the format's hint added to its system prompt)."""
    from .._manager.options import RequestOptions

    system = opts.system
    hint = _FORMAT_HINTS.get(opts.format)
    if hint:
        system = f"{system}\n\n{hint}" if system else hint
    return RequestOptions(
        system=system,
        temperature=opts.temperature,
        max_tokens=opts.max_tokens,
        max_history=opts.max_history,
        base_url=opts.base_url,
        timeout=opts.timeout,
        connect_timeout=opts.connect_timeout,
        deadline=opts.deadline,
        max_answer_chars=opts.max_answer_chars,
    )


class LiveOutput:
    """The answer as it streams: a compact panel in a notebook, printed text in a terminal."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.printed = 0
        self.panel: Any = None  # with the display below, in a notebook; None in a terminal
        self.display: Any = None

    @classmethod
    def start(cls, shell: Any, tab: Tab, turn: Turn) -> LiveOutput:
        """Show the live view of ``turn``."""
        live = cls(turn)
        if getattr(shell, "kernel", None) is not None:
            from IPython.display import display

            from .._panel.widget import ChatPanel

            live.panel = ChatPanel(tab=tab, compact=True, turn=turn.index)
            bundle = live.panel._repr_mimebundle_()
            data, metadata = bundle if bundle is not None else ({}, {})
            live.display = display(data, metadata=metadata, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        return live

    def poll(self) -> None:
        """In a terminal, print what arrived since the last call."""
        if self.panel is not None:
            return
        text = self.turn.text
        if len(text) > self.printed:
            sys.stdout.write(text[self.printed :])
            sys.stdout.flush()
            self.printed = len(text)

    def finish(self, final: dict[str, Any], footer: str) -> None:
        """Replace the live view by the static answer (notebook) or end the text (terminal)."""
        if self.panel is not None:
            self.display.update(final, raw=True)
            self.panel.close()
            return
        self.poll()
        sys.stdout.write(f"\n\n[{footer}]\n")
        sys.stdout.flush()


class Finisher:
    """Everything that happens once a cell's turn has settled (once, from any thread)."""

    def __init__(self, shell: Any, opts: CellOptions, turn: Turn, live: LiveOutput):
        self.shell = shell
        self.opts = opts
        self.turn = turn
        self.live = live
        self._done = False
        self._lock = threading.Lock()

    def when_settled(self) -> None:
        """Wait for the turn, then finish (the ``--bg`` thread)."""
        self.turn.settled.wait()
        self()

    def __call__(self, raise_errors: bool = False) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        turn = self.turn
        self.live.finish(render.bundle(turn, self.opts.format), render.footer(turn))
        problem = None
        if self.opts.output:
            value, problem = self._output_value()
            self.shell.user_ns[self.opts.output] = value
        if not raise_errors:
            return
        if turn.status == "error":
            kept = " The partial answer is kept above." if turn.text else ""
            raise UsageError(f"{redact(turn.error or 'The request failed.')}{kept}")
        if problem:
            raise UsageError(problem)

    def _output_value(self) -> tuple[Any, str | None]:
        response = self.turn.as_response()
        if self.turn.status != "done" or self.opts.format not in ("code", "json"):
            return response, None
        if self.opts.format == "code":
            return render.extract_code(response.text), None
        try:
            return render.parse_json(response.text), None
        except ValueError as exc:
            return response, (
                f"The answer is not valid JSON ({exc}); {self.opts.output} holds the "
                "Response instead. Ask again, or use -f markdown."
            )
