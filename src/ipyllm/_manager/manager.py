"""The one session manager of a kernel: tabs, rate limits, history, usage."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import InvalidOptionError, UnknownTabError
from .bus import EventBus
from .events import ManagerEvent, TabsChanged
from .options import check_max_history
from .subscription import Subscription
from .tab import Tab

if TYPE_CHECKING:
    from .._engine.provider import Provider
    from .history import HistoryList, HistoryStore
    from .ratelimit import ProviderGates, RateLimiter
    from .usage import UsageSummary

MAX_TITLE = 200
"""The most characters a tab title may have (after stripping): a sentence, not a document."""

_instance: SessionManager | None = None
_instance_lock = threading.Lock()


def check_title(title: object) -> str:
    """``title`` without surrounding whitespace; :class:`~ipyllm.InvalidOptionError` unless
    that is a string of 1 to :data:`MAX_TITLE` characters."""
    if not isinstance(title, str):
        raise InvalidOptionError(f"A tab title must be a string, not {type(title).__name__}.")
    title = title.strip()
    if not title:
        raise InvalidOptionError("A tab title cannot be blank; give it a name.")
    if len(title) > MAX_TITLE:
        raise InvalidOptionError(
            f"A tab title may have at most {MAX_TITLE} characters, not {len(title)}; "
            "give it a shorter name."
        )
    return title


def manager() -> SessionManager:
    """The kernel's session manager, created on first use. Thread-safe."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = SessionManager()
        return _instance


class SessionManager:
    """Owns the conversation tabs shared by the magic, the chat panel and ``Session``.

    Every stream runs on one worker thread with its own asyncio loop, so
    answers keep streaming while cells run, even a cell blocked in
    ``time.sleep``.
    """

    def __init__(self, history: HistoryStore | None = None) -> None:
        self._lock = threading.RLock()
        self._tabs: dict[str, Tab] = {}
        self._limiters: dict[str, ProviderGates] = {}  # provider name -> its gates
        self._history = history
        self._counter = 0
        # Every tab event goes through it: to the manager-wide subscribers and the tab's.
        self.bus = EventBus()

    def __repr__(self) -> str:
        return f"<SessionManager tabs={len(self._tabs)}>"

    # ---- tabs ------------------------------------------------------------------

    @property
    def tabs(self) -> list[Tab]:
        """Open tabs, oldest first."""
        with self._lock:
            return list(self._tabs.values())

    def new_tab(self, title: str | None = None, model: str | None = None) -> Tab:
        """Open a tab. ``title`` (stripped, 1 to 200 characters) defaults to ``Tab N``, made
        unique among open tabs; ``model`` defaults to :func:`ipyllm.default_model`."""
        from .._registry import default_model

        if title is not None:
            title = check_title(title)
        with self._lock:
            self._counter += 1
            title = self._unique_title(title or f"Tab {self._counter}")
            tab = Tab(self, title, model or default_model())
            self._tabs[tab.id] = tab
        self.publish(TabsChanged(tab.id, "opened"))
        return tab

    def tab(self, id_or_title: str | Tab) -> Tab:
        """The open tab with this id or title."""
        found = self.find(id_or_title)
        if found is None:
            titles = ", ".join(repr(t.title) for t in self.tabs) or "none"
            raise UnknownTabError(
                f"No open tab {id_or_title!r} (open tabs: {titles}). "
                "Create one with ipyllm.manager().new_tab(title)."
            )
        return found

    def find(self, id_or_title: str | Tab) -> Tab | None:
        """Like :meth:`tab`, but None when there is no such tab."""
        if isinstance(id_or_title, Tab):
            return id_or_title if id_or_title.id in self._tabs else None
        key = id_or_title.strip()  # as new_tab stores titles
        with self._lock:
            if key in self._tabs:
                return self._tabs[key]
            return next((t for t in self._tabs.values() if t.title == key), None)

    def restore(self, conversation_id: str) -> Tab:
        """Reopen a past conversation from history as a tab (or return it if open).

        Each turn's ``full_query`` is rebuilt exactly as it was sent; later prompts
        continue the conversation as the original tab would have.
        """
        from .turn import turns_from_records

        with self._lock:
            for tab in self._tabs.values():
                if tab.conversation_id == conversation_id:
                    return tab
        records = self.history.conversation(conversation_id, fill=False)
        if not records:
            raise UnknownTabError(
                f"No conversation {conversation_id!r} in the history; "
                "list them with ipyllm.history()."
            )
        with self._lock:
            title = self._unique_title(records[-1].title)
            tab = Tab(
                self,
                title,
                records[-1].model,
                conversation_id,
                turns_from_records(records),
            )
            self._tabs[tab.id] = tab
        self.publish(TabsChanged(tab.id, "opened"))
        return tab

    def load(self, path: str | os.PathLike[str]) -> Tab:
        """Open a tab from a file written by ``tab.export("json", path)``.

        The tab continues that conversation: its next prompt sends the same messages
        the original tab's would (tool rounds and attachments included), with the same
        model and ``max_history``. It is a new conversation in the history (its turns
        are recorded there), under the exported title made unique among open tabs. A
        file that is not such an export raises :class:`~ipyllm.InvalidOptionError`.
        """
        from .export import records_from_json
        from .turn import turns_from_records

        text = Path(path).read_text(encoding="utf-8")
        conversation_id = uuid.uuid4().hex
        header, records = records_from_json(text, conversation_id)
        with self._lock:
            title = self._unique_title(check_title(header["title"]))
            tab = Tab(self, title, header["model"], conversation_id, turns_from_records(records))
            tab._max_history = check_max_history(header["max_history"])
            self._tabs[tab.id] = tab
        for turn in tab.turns:
            self.history.record(turn.record(conversation_id, title))
        self.publish(TabsChanged(tab.id, "opened"))
        return tab

    def subscribe(self, callback: Callable[[ManagerEvent], object]) -> Subscription:
        """Deliver every tab's deltas and statuses, and tab list changes, to ``callback``.

        One delivery thread serves the subscription (a view of all tabs, like
        the chat panel); ``unsubscribe`` ends it.
        """
        return self.bus.subscribe(callback, name="ipyllm-manager-watch")

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub`` (a manager's or a tab's subscription)."""
        self.bus.unsubscribe(sub)

    def publish(self, event: ManagerEvent) -> None:
        """Queue ``event`` for every subscriber of the manager and of its tab (any thread;
        never blocks). Tabs publish their deltas and statuses here."""
        self.bus.publish(event)

    def context_text(self, tabs: Iterable[Tab | str], exclude: Tab | None = None) -> str:
        """Transcripts of ``tabs``, as put in front of a prompt that asks for context."""
        blocks = []
        for ref in tabs:
            tab = self.tab(ref)
            if tab is exclude:
                continue
            lines = [f'<context tab="{tab.title}">']
            for message in tab.messages:
                lines.append(f"{message['role'].capitalize()}: {message['content']}")
            lines.append("</context>")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def _unique_title(self, title: str) -> str:
        taken = {t.title for t in self._tabs.values()}
        if title not in taken:
            return title
        n = 2
        while f"{title} ({n})" in taken:
            n += 1
        return f"{title} ({n})"

    def remove(self, tab: Tab) -> None:
        """Drop ``tab`` from the open tabs and end its subscriptions. :meth:`Tab.close`
        calls it (after stopping the tab); close a tab with that."""
        with self._lock:
            known = self._tabs.pop(tab.id, None) is not None
        if known:
            self.publish(TabsChanged(tab.id, "closed"))
        self.bus.end(tab.id)

    def rename(self, tab: Tab, title: str) -> None:
        """Give ``tab`` the title ``title``, stripped and made unique among open tabs
        (:class:`~ipyllm.InvalidOptionError` unless 1 to 200 characters)."""
        title = check_title(title)
        with self._lock:
            if tab.title == title:
                return
            tab.title = self._unique_title(title)
        self.publish(TabsChanged(tab.id, "renamed"))

    # ---- shared services -------------------------------------------------------

    @property
    def history(self) -> HistoryStore:
        """Where finished turns are saved (SQLite; ``IPYLLM_HISTORY=0`` turns it off)."""
        with self._lock:
            if self._history is None:
                from .history import HistoryStore

                self._history = HistoryStore.default()
            return self._history

    def limiter(
        self, provider: str, *, api_key: str | None = None, base_url: str | None = None
    ) -> RateLimiter:
        """The rate limiter (gate) a request to ``provider`` with this ``api_key`` and
        ``base_url`` waits at, both resolved as for a request (environment, keyring, default
        URL). Tabs whose requests go the same way share it; see :meth:`limiter_for`."""
        from .. import _registry

        return self.limiter_for(_registry.get_provider(provider, api_key, base_url))

    def limiter_for(self, provider: Provider) -> RateLimiter:
        """The gate requests through ``provider`` wait at: one per (provider, base URL, key
        fingerprint), so a 429's Retry-After holds back only requests to the same server
        with the same key. No limit until :meth:`set_rate_limit` sets one."""
        url = provider.base_url.rstrip("/")  # ".../v1/" is the same server as ".../v1"
        return self._gates(provider.name).gate(url, provider.key_fingerprint)

    def set_rate_limit(
        self,
        provider: str,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
    ) -> None:
        """Limit requests and tokens per minute for each account of ``provider``.

        Every gate of the provider (each base URL and key it is used with) applies the
        limit with buckets of its own; tabs using the same key at the same URL share one.
        Raises :class:`~ipyllm.UnknownProviderError` for a name ipyllm does not know.
        """
        from .._registry import effective_spec

        name = effective_spec(provider).name
        self._gates(name).configure(requests_per_minute, tokens_per_minute)

    def _gates(self, provider: str) -> ProviderGates:
        with self._lock:
            gates = self._limiters.get(provider)
            if gates is None:
                from .ratelimit import ProviderGates

                gates = self._limiters[provider] = ProviderGates(provider)
            return gates

    def usage(self) -> UsageSummary:
        """Tokens and cost by tab and by model, over every open tab."""
        from .usage import summarize

        return summarize(self.tabs)


def history(search: str | None = None, limit: int = 50) -> HistoryList:
    """Past turns, newest first, from every kernel that saved history on this machine.

    ``search`` keeps turns whose prompt, answer or tab title contains it. Reopen
    one as a tab with ``ipyllm.manager().restore(entry.conversation_id)``.
    """
    store = manager().history
    store.flush(1.0)  # include turns that just ended
    return store.search(search, limit)


def usage() -> UsageSummary:
    """Tokens and cost by tab and by model for this kernel's open tabs."""
    return manager().usage()
