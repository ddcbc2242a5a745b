"""``ChatPanel``: the anywidget chat panel over the kernel's tabs, and ``chat()`` to show one."""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

from .._errors import PanelError
from .._manager.manager import SessionManager, manager
from .._manager.tab import Tab
from . import assets
from .controller import PanelController


class ChatPanel(anywidget.AnyWidget):
    """A chat panel over the kernel's tabs: tab strip, streamed answers, Stop, settings.

    ``ChatPanel()`` shows every tab of :func:`ipyllm.manager` (those made by
    ``%%llm`` and ``Session`` too). ``ChatPanel(tab=t, compact=True)`` shows
    only tab ``t`` (and with ``turn=n`` only its turn ``n``), with no input
    box: the live output of one answer. Display it as a cell's value, or with
    ``display(panel)``; every display shows the same, complete conversation.
    """

    # Paths, so that anywidget watches them under ANYWIDGET_HMR=1; otherwise each
    # instance carries the small loader instead (see assets.py).
    _esm = assets.STATIC / "chat.js"
    _css = assets.STATIC / "chat.css"

    tabs = traitlets.List(traitlets.Dict()).tag(sync=True)
    providers = traitlets.List(traitlets.Dict()).tag(sync=True)
    default_model = traitlets.Unicode("").tag(sync=True)
    compact = traitlets.Bool(False).tag(sync=True)
    tab = traitlets.Unicode("").tag(sync=True)
    turn = traitlets.Int(-1).tag(sync=True)

    def __init__(
        self,
        tab: Tab | str | None = None,
        *,
        compact: bool = False,
        turn: int | None = None,
        manager: SessionManager | None = None,
        **kwargs: Any,
    ) -> None:
        mgr = manager or _default_manager()
        shown = mgr.tab(tab) if tab is not None else None
        if compact and shown is None:
            raise PanelError("A compact panel shows one tab: pass tab=<Tab or its title>.")
        assets.check_bundle()
        if not assets.hot_reload():
            kwargs.setdefault("_esm", assets.loader_source())
            kwargs.setdefault("_css", "")
        super().__init__(
            compact=compact,
            tab=shown.id if shown else "",
            turn=-1 if turn is None else turn,
            **kwargs,
        )
        self._shown_by_chat: int | None = None  # the cell in which chat() displayed it
        self._controller = PanelController(
            self, mgr, only_tab=shown.id if shown else None, only_turn=turn
        )
        self.on_msg(self._controller.handle)
        _honor_frontend_subshell(self.comm)
        if not assets.hot_reload() and assets.first_push():
            # The page's request could wait behind this very cell (a %%llm answer).
            self.send({"type": "esm", **assets.bundle()})

    def __repr__(self) -> str:
        shown = f"tab={self.tab!r}" if self.tab else f"tabs={len(self.tabs)}"
        return f"<ChatPanel {shown}{' compact' if self.compact else ''}>"

    def close(self) -> None:
        """Remove the panel from every view and stop following the tabs (the tabs stay)."""
        controller = getattr(self, "_controller", None)
        if controller is not None:
            controller.close()
        layout = self.layout  # its own widget: left open, it would outlive the panel
        super().close()
        layout.close()

    def _ipython_display_(self, **kwargs: Any) -> None:
        # `chat()` has displayed the panel already; when that call is also the
        # cell's value, this is the display hook asking again: show it once.
        from IPython.display import display

        if self._shown_by_chat is not None and self._shown_by_chat == _cell_number():
            self._shown_by_chat = None
            return

        bundle = self._repr_mimebundle_(**kwargs)
        if bundle is not None:
            data, metadata = bundle
            # What a saved notebook shows where the widget cannot draw (GitHub, a file
            # opened before its kernel runs): front ends with widgets prefer the view.
            data.setdefault("text/markdown", SAVED_NOTE)
            display(data, metadata=metadata, raw=True)  # type: ignore[no-untyped-call]


def _honor_frontend_subshell(comm: object) -> None:
    """Let the front end's messages run on the subshell it sent them to.

    ipykernel 7 routes a message for a comm to the subshell of the comm's
    latest *outgoing* message, and the panel's outgoing messages come from
    background threads whose parent is whatever cell ran last: Stop would
    then wait for a busy cell. This panel's messages are independent
    requests, so the subshell the front end chose (JupyterLab's comm subshell)
    is the right one.
    """
    if comm is not None and hasattr(comm, "_reply_subshell_for"):
        comm._reply_subshell_for = lambda _data, chosen: chosen


def _default_manager() -> SessionManager:
    return manager()


def _cell_number() -> int | None:
    from IPython import get_ipython

    shell = get_ipython()
    return None if shell is None else int(shell.execution_count)


SAVED_NOTE = (
    "*The ipyllm chat panel shows here when this cell runs in JupyterLab, Notebook 7 or VS Code.*"
)

NO_FRONTEND = (
    "The chat panel needs a notebook front end (JupyterLab, Notebook 7 or VS Code); "
    "here, ask in a %%llm cell or with ipyllm.Session(...).ask(...) (the same tabs)."
)


def _widget_frontend() -> bool:
    """Whether a front end that shows widgets may be listening: the shell is a kernel's
    (``ipykernel``'s has ``kernel``, over which a widget's comm goes); terminal IPython
    and plain Python have none, and a widget there only prints its repr."""
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def chat() -> ChatPanel | None:
    """Show the chat panel in the current cell's output and return it.

    It opens on the most recent tab (a new one if there is none). The panel
    shows once even when ``ipyllm.chat()`` is also the cell's value. Outside a
    notebook front end (terminal IPython, plain Python) it prints what works there
    instead and returns ``None``.
    """
    from IPython.display import display

    if not _widget_frontend():
        print(NO_FRONTEND)
        return None
    mgr = _default_manager()
    if not mgr.tabs:
        mgr.new_tab()
    panel = ChatPanel(manager=mgr)
    display(panel)  # type: ignore[no-untyped-call]
    panel._shown_by_chat = _cell_number()
    return panel
