"""ipyllm: LLMs in Jupyter — streaming sessions over twelve providers.

Everything public is importable from here (``__all__``, checked by
tests/test_package.py); the events a subscriber receives are in
:mod:`ipyllm.events`, the key store in :mod:`ipyllm.keys`, the fake server in
:mod:`ipyllm.testing`. Heavy dependencies (httpx, keyring) load on first use so
that ``import ipyllm`` stays instant. The errors form one tree under
:class:`LLMError`, drawn in src/ipyllm/_errors.py and in README's "Errors".
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._version import __version__ as __version__

__all__ = [
    "AttachmentError",
    "AuthenticationError",
    "BadRequestError",
    "ChatPanel",
    "ConfigurationError",
    "ConnectionError",
    "ContentFilterError",
    "ContextLengthError",
    "File",
    "Image",
    "InsecureHTTPError",
    "InvalidKeyError",
    "InvalidOptionError",
    "KeyringError",
    "LLMError",
    "Message",
    "MissingKeyError",
    "NotFoundError",
    "Options",
    "PanelError",
    "Provider",
    "ProviderError",
    "QuotaExceededError",
    "RateLimitError",
    "Response",
    "SchemaError",
    "ServerError",
    "Session",
    "SessionManager",
    "StreamError",
    "Tab",
    "TabBusyError",
    "TimeoutError",
    "ToolCall",
    "ToolError",
    "TransportError",
    "TurnHandle",
    "UnknownProviderError",
    "UnknownTabError",
    "alias",
    "batch",
    "chat",
    "configure",
    "default_model",
    "events",
    "get_provider",
    "history",
    "keys",
    "manager",
    "register_endpoint",
    "usage",
]

# Where each public name lives; modules are imported when a name is first used.
_LOCATIONS = {
    "Message": "._types",
    "Options": "._types",
    "Response": "._types",
    "ToolCall": "._types",
    "Image": "._attachments.sources",
    "File": "._attachments.sources",
    "Provider": "._engine.provider",
    "Session": "._session",
    "alias": "._aliases",
    "default_model": "._registry",
    "configure": "._registry",
    "get_provider": "._registry",
    "register_endpoint": "._registry",
    "Tab": "._manager.tab",
    "TurnHandle": "._manager.handle",
    "SessionManager": "._manager.manager",
    "ChatPanel": "._panel.widget",
    "chat": "._panel.widget",
    "batch": "._manager.batch",
    "manager": "._manager.manager",
    "history": "._manager.manager",
    "usage": "._manager.manager",
    **{name: "._errors" for name in __all__ if name.endswith("Error") or name == "LLMError"},
}
_SUBMODULES = {"events", "keys", "testing"}
# Classes that give the package as their module once reached through it, as httpx's
# do. Not the dataclasses and the TypedDict, whose annotations typing.get_type_hints
# resolves in their module's namespace, nor ChatPanel, whose front-end id anywidget
# builds from it; the errors and the events set theirs where they are defined.
_RENAMED = {"File", "Image", "Provider", "Session", "SessionManager", "Tab", "TurnHandle"}

if _TYPE_CHECKING:
    from . import events, keys
    from . import testing as testing
    from ._aliases import alias
    from ._attachments.sources import File, Image
    from ._engine.provider import Provider
    from ._errors import (
        AttachmentError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConnectionError,
        ContentFilterError,
        ContextLengthError,
        InsecureHTTPError,
        InvalidKeyError,
        InvalidOptionError,
        KeyringError,
        LLMError,
        MissingKeyError,
        NotFoundError,
        PanelError,
        ProviderError,
        QuotaExceededError,
        RateLimitError,
        SchemaError,
        ServerError,
        StreamError,
        TabBusyError,
        TimeoutError,
        ToolError,
        TransportError,
        UnknownProviderError,
        UnknownTabError,
    )
    from ._manager.batch import batch
    from ._manager.handle import TurnHandle
    from ._manager.manager import SessionManager, history, manager, usage
    from ._manager.tab import Tab
    from ._panel.widget import ChatPanel, chat
    from ._registry import configure, default_model, get_provider, register_endpoint
    from ._session import Session
    from ._types import Message, Options, Response, ToolCall


def load_ipython_extension(ipython: _Any) -> None:
    """``%load_ext ipyllm``: register the ``%%llm`` cell magic and the ``%llm`` commands."""
    from ._magic import load

    load(ipython)


def __getattr__(name: str) -> _Any:
    if name in _SUBMODULES:
        module = _importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    location = _LOCATIONS.get(name)
    if location is None:
        raise AttributeError(f"module 'ipyllm' has no attribute {name!r}")
    value = getattr(_importlib.import_module(location, __name__), name)
    if name in _RENAMED:
        value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"__version__", "testing"})
