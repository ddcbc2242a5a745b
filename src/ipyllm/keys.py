"""API keys: ``ipyllm.keys.set("openai")``, ``get``, ``delete``, ``status``.

Keys are found in this order: an explicit ``api_key=`` argument, the provider's
environment variable (``OPENAI_API_KEY``…), then the OS keyring (service
``ipyllm``, user name = provider). They are never written anywhere else.

A key must be printable ASCII without spaces (surrounding whitespace is
stripped): one with a line break, a space, a control or a non-ASCII character
inside is refused with :class:`~ipyllm.InvalidKeyError`, before it is stored or
sent, and the message says where it came from without showing it.
"""

from __future__ import annotations

import getpass

from . import _registry
from ._keys import KeySource

__all__ = ["delete", "get", "set", "status"]


def set(provider: str, key: str | None = None) -> None:
    """Store ``provider``'s key in the OS keyring; with no ``key``, ask for it (hidden).

    A malformed key (see the module docstring) raises :class:`~ipyllm.InvalidKeyError`
    and nothing is stored.
    """
    _registry.effective_spec(provider)
    if key is None:
        key = getpass.getpass(f"API key for {provider} (input hidden): ")
    _registry.key_store().set(provider, key)


def get(provider: str) -> str | None:
    """``provider``'s key from the environment or the keyring, or None.

    Raises :class:`~ipyllm.InvalidKeyError` if that key is malformed.
    """
    return _registry.key_store().get(provider)


def delete(provider: str) -> None:
    """Remove ``provider``'s key from the OS keyring (environment variables are untouched)."""
    _registry.key_store().delete(provider)


def status() -> dict[str, KeySource | None]:
    """For every provider: where its key comes from (``"env"``, ``"keyring"``) or None."""
    return _registry.key_store().status(_registry.provider_names())
