"""The kernel side of a chat panel: feeds it tab events and carries out what it asks.

Two kinds of thread touch a panel. Its subscription's delivery thread (one per
panel) is the only writer of its traits: it turns tab events into coalesced
custom messages and refreshes the ``tabs`` and ``providers`` traits. The
thread that receives the front end's messages (the kernel's shell thread, or
a comm subshell while a cell is busy) only reads, calls the thread-safe tab
and manager methods, and sends replies; what needs a trait refreshed it hands
to the delivery thread. The protocol is in ``docs/panel-protocol.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .. import _registry
from .. import _settings_events as settings_events
from .._errors import LLMError, MissingKeyError, PanelError, redact, register_secret
from .._manager.events import TabDelta, TabsChanged, TabStatus, TabToolCall
from .._manager.manager import SessionManager
from .._manager.subscription import Subscription
from .._manager.tab import Tab
from .coalescer import DeltaCoalescer
from .state import Json, provider_infos, tab_info

log = logging.getLogger("ipyllm")


class PanelModel(Protocol):
    """The widget, as the controller sees it."""

    tabs: list[Json]
    providers: list[Json]
    default_model: str

    def send(self, content: Json, buffers: Any = None) -> None: ...


@dataclass(frozen=True, slots=True)
class _RefreshProviders:
    """Delivery-thread work: re-read key statuses (a key was set or deleted)."""


class PanelController:
    """Connects one panel widget to the manager.

    ``only_tab`` restricts it to one tab, and ``only_turn`` to one turn of
    that tab: such a panel (the live output of one ``%%llm`` cell) stops
    following the manager once its turn has settled, so a notebook of many
    cells keeps no thread per finished answer.
    """

    def __init__(
        self,
        model: PanelModel,
        manager: SessionManager,
        only_tab: str | None = None,
        only_turn: int | None = None,
    ) -> None:
        self.model = model
        self.manager = manager
        self.only_tab = only_tab
        self.only_turn = only_turn if only_tab is not None else None
        self.coalescer = DeltaCoalescer(self._send)
        self._actions: dict[str, Callable[[Json], Json | None]] = {
            "esm": self._esm,
            "sync": self._sync,
            "send": self._send_prompt,
            "stop": self._stop,
            "retry": self._retry,
            "new_tab": self._new_tab,
            "rename": self._rename,
            "close": self._close_tab,
            "set_model": self._set_model,
            "set_max_history": self._set_max_history,
            "set_key": self._set_key,
            "delete_key": self._delete_key,
            "approve": self._approve,
        }
        self.refresh_tabs()
        self.refresh_providers()
        # Subscribed after the first refresh: a change in between arrives as an
        # event and refreshes again; nothing is missed. A one-tab panel follows its
        # tab only (its deltas, statuses and changes), never the other tabs' traffic.
        self._sub = self._subscribe()
        # configure(), an alias or a key changed anywhere: the picker and key statuses
        # redraw now (on the delivery thread), not when the next panel opens.
        # (A one-tab view shows neither.)
        self._unwatch: Callable[[], None] = (
            settings_events.watch(lambda: self._sub.put(_RefreshProviders()))
            if self.only_tab is None
            else lambda: None
        )
        if self._turn_settled():
            self.close()  # shown after the fact: nothing more will come

    def _subscribe(self) -> Subscription:
        # Deltas go straight from the stream to the coalescer (_on_delta), whose flusher
        # thread throttles and sends them; statuses and changes take the delivery thread.
        bus = self.manager.bus
        if self.only_tab is None:
            return bus.subscribe(self._on_event, name="ipyllm-panel", direct=self._on_delta)
        # A closed tab gives a subscription that has ended.
        return bus.subscribe(
            self._on_event,
            tab=self.only_tab,
            changes=True,
            name=f"ipyllm-panel-{self.only_tab}",
            direct=self._on_delta,
        )

    @property
    def following(self) -> bool:
        """Whether tab events still reach this panel (False once closed)."""
        return not self._sub.closed

    def close(self) -> None:
        """Stop following the tabs; send what is pending. Safe from any thread."""
        self._unwatch()
        self.manager.unsubscribe(self._sub)
        self._sub.join(2.0)
        self.coalescer.close()

    def _turn_settled(self) -> bool:
        if self.only_turn is None or self.only_tab is None:
            return False
        tab = self.manager.find(self.only_tab)
        if tab is None:
            return True
        turns = tab.turns
        return self.only_turn < len(turns) and turns[self.only_turn].settled.is_set()

    # ---- the stream's thread: deltas into the coalescer, nothing sent here -----

    def _on_delta(self, delta: TabDelta) -> None:
        if self.only_turn is not None and delta.turn != self.only_turn:
            return
        self.coalescer.put(delta)

    # ---- the delivery thread: tab events in, messages and traits out -----------

    def _on_event(self, event: object) -> None:
        if isinstance(event, _RefreshProviders):
            self.refresh_providers()
            return
        if not isinstance(event, TabDelta | TabStatus | TabsChanged | TabToolCall):
            return
        if self.only_tab is not None and event.tab_id != self.only_tab:
            return
        if isinstance(event, TabsChanged):
            self.refresh_tabs()
            return
        if self.only_turn is not None and event.turn != self.only_turn:
            return
        self.coalescer.push(event)
        if isinstance(event, TabToolCall) and event.status != "requested":
            self.refresh_tabs()  # a reloaded view shows the card as it is now
        if isinstance(event, TabStatus):
            self.refresh_tabs()  # the turn list and its metadata changed
            if event.status != "streaming" and self.only_turn is not None:
                self.close()

    def refresh_tabs(self) -> None:
        """Set the ``tabs`` trait from the manager (delivery thread, or before subscribing)."""
        tabs = self.manager.tabs
        if self.only_tab is not None:
            tabs = [t for t in tabs if t.id == self.only_tab]
        self.model.tabs = [tab_info(t) for t in tabs]

    def refresh_providers(self) -> None:
        """Set the ``providers`` and ``default_model`` traits (a one-tab view shows neither)."""
        if self.only_tab is not None:
            return

        self.model.providers = provider_infos()
        self.model.default_model = _registry.default_model()

    def _send(self, message: Json) -> None:
        self.model.send(message)

    # ---- the comm thread: requests in, replies out -----------------------------

    def handle(self, _widget: object, content: Json, _buffers: object = None) -> None:
        """Carry out one message from the front end (any thread)."""
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "set_key":
            register_secret(content.get("key"))  # before anything could echo it
        action = self._actions.get(kind) if isinstance(kind, str) else None
        try:
            if action is None:
                raise PanelError(f"The panel sent an unknown request {kind!r}; reload the page.")
            reply = action(content)
        except Exception as exc:
            reply = {"type": "error", "message": redact(_one_line(exc))}
            if kind in ("set_key", "delete_key"):
                provider = str(content.get("provider", ""))
                reply.update(type="key_result", provider=provider, ok=False)
                reply["key"] = _safe_key_status(provider)
            elif content.get("tab"):
                reply["tab"] = content["tab"]
            if not isinstance(exc, LLMError):
                # Only the type: the message of an unexpected error may quote the request.
                log.warning("the chat panel's %r request failed: %s", kind, type(exc).__name__)
        if reply is not None:
            if "id" in content:
                reply["reply_to"] = content["id"]
            self._send(reply)

    def _tab(self, content: Json) -> Tab:
        return self.manager.tab(str(content.get("tab", "")))

    def _esm(self, content: Json) -> Json:
        from .assets import bundle

        return {"type": "esm", **bundle()}

    def _sync(self, content: Json) -> Json:
        snapshot, past = self._tab(content).answers()
        return {
            "type": "snapshot",
            "tab": snapshot.tab_id,
            "turn": snapshot.turn,
            "status": snapshot.status,
            "text": snapshot.text,
            "reasoning": snapshot.reasoning,
            "past": [{"index": i, "text": t, "reasoning": r} for i, t, r in past],
        }

    def _send_prompt(self, content: Json) -> None:
        tab = self._tab(content)
        prompt = str(content.get("prompt", ""))
        if not prompt.strip():
            raise PanelError("The prompt is empty; type a question first.")
        if content.get("model"):
            tab.set_model(str(content["model"]))
        context = [str(c) for c in content.get("context") or () if c != tab.id]
        attachments = _attachments(content.get("attachments"))
        # The tab's own max_history applies unless the message names one (a bad one is
        # refused before anything is sent).
        tab.send([prompt, *attachments], context=context, max_history=content.get("max_history"))

    def _stop(self, content: Json) -> None:
        tab = self.manager.find(str(content.get("tab", "")))
        if tab is not None:  # stopping a closed tab is already done
            tab.stop()

    def _retry(self, content: Json) -> None:
        """Send the latest turn's prompt again, with what it attached, whether that turn
        failed, stopped or finished (the tab refuses while it is still answering)."""
        tab = self._tab(content)
        last = tab.last
        if last is None:
            raise PanelError(f"Tab {tab.title!r} has nothing to retry; send a prompt.")
        tab.send([last.query, *last.attachments])

    def _new_tab(self, content: Json) -> Json:
        model = content.get("model") or None
        if model:
            _registry.parse_model(str(model))
        tab = self.manager.new_tab(content.get("title") or None, model=model)
        return {"type": "opened", "tab": tab.id}

    def _rename(self, content: Json) -> None:
        self._tab(content).rename(str(content.get("title", "")))

    def _close_tab(self, content: Json) -> None:
        tab = self.manager.find(str(content.get("tab", "")))
        if tab is not None:
            tab.close()

    def _set_model(self, content: Json) -> None:
        self._tab(content).set_model(str(content.get("model", "")))

    def _set_max_history(self, content: Json) -> None:
        self._tab(content).max_history = content.get("max_history")

    def _approve(self, content: Json) -> Json:
        index = content.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            raise PanelError(f"approve needs the call's index, not {index!r}; reload the page.")
        tab = self._tab(content)
        tab.approve(index, bool(content.get("run")))
        return {"type": "approved", "tab": tab.id, "index": index}

    def _set_key(self, content: Json) -> Json:
        provider = str(content.get("provider", ""))
        key = content.get("key")
        if not isinstance(key, str) or not key.strip():
            raise MissingKeyError(f"The key for {provider} is empty; paste the key, then Save.")
        _registry.effective_spec(provider)
        _registry.key_store().set(provider, key.strip())
        return self._key_result(provider, f"Saved the {provider} key in the OS keyring.")

    def _delete_key(self, content: Json) -> Json:
        provider = str(content.get("provider", ""))
        _registry.effective_spec(provider)
        _registry.key_store().delete(provider)
        return self._key_result(provider, f"Deleted the {provider} key from the OS keyring.")

    def _key_result(self, provider: str, message: str) -> Json:
        self._sub.put(_RefreshProviders())
        status = _registry.key_status(provider).value
        if status == "env":
            message += " The environment variable still provides a key, and comes first."
        return {
            "type": "key_result",
            "provider": provider,
            "ok": True,
            "message": message,
            "key": status,
        }


def _safe_key_status(provider: str) -> str:
    try:
        return _registry.key_status(provider).value
    except LLMError:  # an unknown provider
        return "missing"


# What one prompt from the panel may attach, in all (decoded bytes).
MAX_ATTACHMENT_BYTES = 20_000_000


def _attachments(raw: object) -> list[Any]:
    """A ``send`` message's ``attachments`` as what ``ipyllm.File`` makes of them;
    :class:`PanelError` (before anything is sent) for a bad list or one over the cap."""
    if not raw:
        return []
    if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
        raise PanelError(
            "The panel sent attachments that are not a list of files; reload the page."
        )
    encoded = sum(len(str(a.get("data") or "")) for a in raw)
    if encoded * 3 // 4 > MAX_ATTACHMENT_BYTES:
        raise PanelError(
            f"The attachments are over {MAX_ATTACHMENT_BYTES // 1_000_000} MB in all; "
            "remove some or send smaller files."
        )
    import base64
    import binascii

    # What ipyllm.File(bytes, mime=) does, keeping the file's name: an image is sent
    # as an image (its type told from its bytes), a PDF or a UTF-8 text as a file.
    from .._attachments.sources import _file_attachment

    out: list[Any] = []
    for item in raw:
        name = str(item.get("name") or "") or None
        mime = str(item.get("mime") or "") or None
        try:
            data = base64.b64decode(str(item.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise PanelError(
                f"The attachment {name or ''!r} did not arrive whole; attach it again."
            ) from None
        if not data:
            raise PanelError(f"The attachment {name or ''!r} is empty; attach another file.")
        out.append(_file_attachment(data, mime, name))
    return out


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
