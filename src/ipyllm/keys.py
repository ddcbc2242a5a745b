"""API keys: ``ipyllm.keys.set("openai")``, ``get``, ``delete``, ``status``.

Keys are found in this order: an explicit ``api_key=`` argument, the provider's
environment variable (``OPENAI_API_KEY``…), then the OS keyring (service
``ipyllm``, user name = provider). They are never written anywhere else.
"""

from __future__ import annotations

import getpass

from . import _registry
from ._keys import KeySource

__all__ = ["delete", "get", "set", "status"]


def set(provider: str, key: str | None = None) -> None:
    """Store ``provider``'s key in the OS keyring; with no ``key``, ask for it (hidden)."""
    _registry.spec_for(provider)
    if key is None:
        key = getpass.getpass(f"API key for {provider} (input hidden): ")
    _registry.key_store().set(provider, key)


def get(provider: str) -> str | None:
    """``provider``'s key from the environment or the keyring, or None."""
    return _registry.key_store().get(provider)


def delete(provider: str) -> None:
    """Remove ``provider``'s key from the OS keyring (environment variables are untouched)."""
    _registry.key_store().delete(provider)


def status() -> dict[str, KeySource | None]:
    """For every provider: where its key comes from (``"env"``, ``"keyring"``) or None."""
    return _registry.key_store().status(_registry.provider_names())
