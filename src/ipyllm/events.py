"""The events a subscriber receives: what to ``import`` to handle them.

:meth:`Tab.subscribe <ipyllm.Tab.subscribe>` delivers a :data:`TabEvent`, a
:class:`TabDelta` (text to put at an offset of a turn's answer or reasoning) or a
:class:`TabStatus` (a turn started, finished, stopped or failed) or a
:class:`TabToolCall` (a tool call of a turn appeared, waits for approval, ran);
:meth:`SessionManager.subscribe <ipyllm.SessionManager.subscribe>` delivers a
:data:`ManagerEvent`: those of every tab, and :class:`TabsChanged` when a tab is
opened, closed, renamed, re-modelled or given another ``max_history``.
:meth:`Tab.snapshot <ipyllm.Tab.snapshot>` returns a :class:`TabSnapshot`.

Subscribe first, then take a snapshot, then apply each delta at its offset,
skipping what you already have: nothing is lost or doubled::

    from ipyllm.events import TabDelta, TabStatus

    def on_event(event):
        if isinstance(event, TabDelta) and event.channel == "text":
            ...
        elif isinstance(event, TabStatus) and event.status != "streaming":
            ...
"""

from ._manager.events import (
    Channel,
    ManagerEvent,
    TabDelta,
    TabEvent,
    TabsChange,
    TabsChanged,
    TabSnapshot,
    TabStatus,
    TabStatusName,
    TabToolCall,
)

__all__ = [
    "Channel",
    "ManagerEvent",
    "TabDelta",
    "TabEvent",
    "TabSnapshot",
    "TabStatus",
    "TabStatusName",
    "TabToolCall",
    "TabsChange",
    "TabsChanged",
]
