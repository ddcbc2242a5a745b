"""ipyllm: LLMs in Jupyter — streaming sessions over twelve providers.

Everything public is importable from here; heavy dependencies (httpx,
keyring) load on first use so that ``import ipyllm`` stays instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ChatPanel",
    "ConfigurationError",
    "ConnectionError",
    "ContentFilterError",
    "ContextLengthError",
    "InsecureHTTPError",
    "InvalidKeyError",
    "InvalidOptionError",
    "KeyringError",
    "LLMError",
    "Message",
    "MissingKeyError",
    "NotFoundError",
    "Options",
    "Provider",
    "QuotaExceededError",
    "RateLimitError",
    "Response",
    "ServerError",
    "Session",
    "StreamError",
    "Tab",
    "TabBusyError",
    "TimeoutError",
    "UnknownProviderError",
    "UnknownTabError",
    "batch",
    "chat",
    "configure",
    "default_model",
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
    "Provider": "._engine.provider",
    "Session": "._session",
    "default_model": "._session",
    "configure": "._registry",
    "get_provider": "._registry",
    "register_endpoint": "._registry",
    "Tab": "._manager.tab",
    "ChatPanel": "._panel.widget",
    "chat": "._panel.widget",
    "batch": "._manager.batch",
    "manager": "._manager.manager",
    "history": "._manager.manager",
    "usage": "._manager.manager",
    **{name: "._errors" for name in __all__ if name.endswith("Error") or name == "LLMError"},
}
_SUBMODULES = {"keys", "testing"}

if TYPE_CHECKING:
    from . import keys
    from . import testing as testing
    from ._engine.provider import Provider
    from ._errors import (
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
        QuotaExceededError,
        RateLimitError,
        ServerError,
        StreamError,
        TabBusyError,
        TimeoutError,
        UnknownProviderError,
        UnknownTabError,
    )
    from ._manager.batch import batch
    from ._manager.manager import history, manager, usage
    from ._manager.tab import Tab
    from ._panel.widget import ChatPanel, chat
    from ._registry import configure, get_provider, register_endpoint
    from ._session import Session, default_model
    from ._types import Message, Options, Response


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ipyllm``: register the ``%%llm`` cell magic and the ``%llm`` commands."""
    from ._magic import load

    load(ipython)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    location = _LOCATIONS.get(name)
    if location is None:
        raise AttributeError(f"module 'ipyllm' has no attribute {name!r}")
    value = getattr(importlib.import_module(location, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"__version__", "testing"})
