"""Running one ``%%llm`` cell: pick the tab, send the prompt, show the answer live, finish.

In a notebook the answer streams into the cell through the chat panel's
compact one-turn view; once the turn settles, that output is replaced by a
static bundle (Markdown, code, JSON…) that a saved notebook shows with no
kernel. In a terminal the text is printed as it arrives. The cell blocks
until the answer is complete (so Run All runs in order) unless ``--bg``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._errors import LLMError, redact
from . import render
from .approval import shows_live_view
from .describe import DEFAULT_MAX_CHARS
from .interpolate import interpolate
from .live import LiveOutput
from .lookup import find_attachments, find_schema, find_tools
from .state import CellOptions, MagicState

if TYPE_CHECKING:
    from .._manager.options import RequestOptions
    from .._manager.tab import Tab
    from .._manager.turn import Turn
    from .._types import Attachment

_FORMAT_HINTS = {
    "code": "Reply with one fenced code block and nothing else.",
    "json": "Reply with valid JSON only: no prose, no code fence.",
}


DEFAULT_TAB_TITLE = "llm"


@dataclasses.dataclass(frozen=True)
class TabChoice:
    """Where a cell writes, decided before anything is opened or changed: an open tab,
    or a new one to open (``title``, and whether it becomes the plain cells' tab)."""

    tab: Tab | None
    title: str
    model: str  # the model of the cell's request
    replaces_default: bool = False
    previous_default: str | None = None


def choose_tab(opts: CellOptions, state: MagicState) -> TabChoice:
    """The tab this cell writes to and the model its request goes to (``-m`` first)."""
    from .. import manager
    from .._registry import default_model

    mgr = manager()
    if opts.tab:
        found = mgr.find(opts.tab)
        if found is not None:
            return TabChoice(found, found.title, opts.model or found.model)
        model = opts.model or state.default_model or default_model()
        return TabChoice(None, opts.tab, model)
    with state.lock:
        previous = state.default_tab
    current = mgr.find(previous) if previous else None
    if current is not None and not opts.new:
        return TabChoice(current, current.title, opts.model or current.model)
    # A fresh conversation keeps the model in use unless a default was set.
    model = opts.model or state.default_model or (current.model if current else default_model())
    return TabChoice(None, DEFAULT_TAB_TITLE, model, True, previous)


def open_tab(choice: TabChoice, state: MagicState) -> Tab:
    """The chosen tab, opened if new (a new plain-cell tab becomes the default one)."""
    from .. import manager

    if choice.tab is not None:
        return choice.tab
    tab = manager().new_tab(choice.title, model=choice.model)
    if choice.replaces_default:
        with state.lock:
            state.default_tab = tab.id
    return tab


def close_unused(tab: Tab, choice: TabChoice, state: MagicState) -> None:
    """Close the tab this cell opened when the turn was refused before it started (and
    give the plain cells their tab back): a failed cell changes nothing."""
    if choice.tab is not None or tab.turns:
        return
    if choice.replaces_default:
        with state.lock:
            if state.default_tab == tab.id:
                state.default_tab = choice.previous_default
    tab.close()


def check_sendable(model: str, options: RequestOptions) -> None:
    """Raise what would fail ``model``'s request before it is sent: an unknown provider,
    a bad model name or base URL, a missing or malformed key, an option out of the
    provider's range. Called before any tab is opened or changed, so a cell that fails
    this way leaves its tab's model and turns, the footer and the usage as they were."""
    from .. import _registry

    provider, _ = _registry.parse_model(model)
    _registry.get_provider(
        provider,
        options.api_key,
        options.base_url,
        allow_insecure_http=bool(options.allow_insecure_http),
    )
    if _registry.effective_spec(provider).needs_key:
        _registry.key_store().require(provider, options.api_key)
    options.check_models([model])


def run_cell(shell: Any, opts: CellOptions, body: str, state: MagicState) -> None:
    """Run one ``%%llm`` cell in ``shell``."""
    body = body.strip("\n").rstrip()  # the cell's trailing newline is not part of the prompt
    pictures: list[Attachment] = []  # {fig} in the body: attached, as -a fig would
    if opts.interpolate:
        max_chars = opts.value_chars or state.value_chars or DEFAULT_MAX_CHARS
        prompt = interpolate(body, state.namespace(shell.user_ns), max_chars, pictures)
    else:
        prompt = body
    if not prompt.strip():
        raise UsageError("The cell is empty: write the prompt below the %%llm line.")
    asks = bool(opts.tools) and opts.approve == "ask"
    if asks and opts.background and not shows_live_view(shell):
        raise UsageError(
            "--bg returns at once, so a terminal cannot ask before a tool runs: "
            "add --approve auto, or leave out --bg."
        )
    try:
        # Before any tab or request: a bad tool, schema or value costs nothing.
        options = request_options(opts, shell.user_ns)
        attachments = find_attachments(opts.attach, shell.user_ns)
        attachments += [a for a in pictures if a not in attachments]
        # Before any tab is opened or changed: a cell whose request could not even be
        # sent (no key, unknown provider, bad option) leaves every tab as it was, and
        # prints no footer and counts in no usage: the error alone says what to fix.
        choice = choose_tab(opts, state)
        check_sendable(choice.model, options)
        tab = open_tab(choice, state)
        message = [prompt, *attachments]
        try:
            # The cell's MODEL becomes the tab's once the turn is under way (an attachment
            # the model cannot take, a busy tab… refuse the turn and keep the tab's model).
            handle = tab.send(message, context=opts.context, options=options, model=opts.model)
        except BaseException:
            close_unused(tab, choice, state)
            raise
        if opts.model and tab.model != opts.model:
            tab.set_model(opts.model)
    except LLMError as exc:
        raise UsageError(redact(str(exc))) from None
    turn = handle.turn
    live = LiveOutput.start(shell, tab, turn, ask=asks)
    finish = Finisher(shell, opts, turn, live)
    if opts.background:
        threading.Thread(target=finish.when_settled, name="ipyllm-magic-bg", daemon=True).start()
        return
    try:
        # Approvals (the panel's Run / Deny from the comm's thread, or input() in the
        # terminal, from poll) and Stop reach the turn while this thread waits.
        while not turn.settled.wait(0.1):
            live.poll()
    except BaseException:
        # The kernel's interrupt reaches only this thread (and an input() may fail):
        # stop the stream, keep the partial, then let the exception abort the rest of
        # a Run All.
        tab.stop()
        turn.settled.wait(5.0)
        finish()
        raise
    finish(raise_errors=True)


def request_options(opts: CellOptions, namespace: Mapping[str, Any]) -> RequestOptions:
    """The request options a cell asks for: the format's hint added to its system prompt
    (not with a schema, which the request carries), and the tools and schema it names
    found in ``namespace``."""
    from .._manager.options import RequestOptions

    system = opts.system
    hint = None if opts.schema else _FORMAT_HINTS.get(opts.format)
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
        tools=find_tools(opts.tools, namespace) if opts.tools else None,
        approve=opts.approve if opts.tools else None,
        max_tool_rounds=opts.max_tool_rounds,
        schema=find_schema(opts.schema, namespace) if opts.schema else None,
    )


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
        structured = self.opts.schema is not None
        self.live.finish(render.bundle(turn, self.opts.format, structured), render.footer(turn))
        problem = None
        if self.opts.output:
            value, problem = self._output_value()
            self.shell.user_ns[self.opts.output] = value
        if self.opts.insert and turn.status == "done" and raise_errors:
            # Only while the cell runs: the payload goes with the running cell's reply,
            # so a --bg answer (finished later, under another cell) never inserts.
            code = render.extract_code(turn.answer)
            self.shell.set_next_input(code, replace=self.opts.insert == "replace")
        if not raise_errors:
            return
        if turn.status == "error":
            kept = " The partial answer is kept above." if turn.text else ""
            if self.opts.output and self.opts.schema:
                kept += f" {self.opts.output} holds the Response instead of the data."
            raise UsageError(f"{redact(turn.error or 'The request failed.')}{kept}")
        if problem:
            raise UsageError(problem)

    def _output_value(self) -> tuple[Any, str | None]:
        """What ``-o`` stores: the validated data with a schema (whatever ``-f`` says), the
        code or the parsed JSON for ``-f code`` / ``-f json``, else (and for an answer that
        did not complete, or does not parse) the Response."""
        response = self.turn.as_response()
        if self.turn.status == "done" and self.opts.schema:
            return response.data, None
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
