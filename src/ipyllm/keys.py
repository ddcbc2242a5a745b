"""API keys: ``ipyllm.keys.set("openai")``, ``get``, ``delete``, ``status``.

Keys are found in this order: an explicit ``api_key=`` argument, the provider's
environment variable (``OPENAI_API_KEY``…), then the OS keyring (service
``ipyllm``, user name = provider). They are never written anywhere else.

A key must be printable ASCII without spaces (surrounding whitespace is
stripped): one with a line break, a space, a control or a non-ASCII character
inside is refused with :class:`~ipyllm.InvalidKeyError`, before it is stored or
sent, and the message says where it came from without showing it.

:func:`status` speaks the vocabulary of ``%llm keys``, ``%llm providers`` and the
panel (:class:`KeyStatus`): ``keyring``, ``env``, ``missing``, ``not needed`` and
``keyring unusable``. With no usable OS keyring, :func:`set` refuses before it asks
for a key, and :func:`keyring_problem` says why and what to do.
"""

from __future__ import annotations

import getpass
from typing import Any

from . import _registry
from ._keys import KeyStatus

__all__ = ["KeyStatus", "KeyStatusReport", "delete", "get", "keyring_problem", "set", "status"]


def set(provider: str, key: str | None = None) -> None:
    """Store ``provider``'s key in the OS keyring; with no ``key``, ask for it (hidden).

    With no usable OS keyring it raises :class:`~ipyllm.KeyringError` (saying why and
    what to do) *before* asking. A malformed key (see the module docstring) raises
    :class:`~ipyllm.InvalidKeyError` and nothing is stored.
    """
    _registry.effective_spec(provider)
    store = _registry.key_store()
    store.check_writable(provider)  # no keyring, no prompt: nobody types a key in vain
    if key is None:
        key = getpass.getpass(f"API key for {provider} (input hidden): ")
    store.set(provider, key)


def get(provider: str) -> str | None:
    """``provider``'s key from the environment or the keyring, or None.

    Raises :class:`~ipyllm.InvalidKeyError` if that key is malformed.
    """
    return _registry.key_store().get(provider)


def delete(provider: str) -> None:
    """Remove ``provider``'s key from the OS keyring (environment variables are untouched)."""
    _registry.key_store().delete(provider)


def keyring_problem() -> str | None:
    """Why keys cannot be stored in the OS keyring on this machine, and what to do
    instead; None when the keyring works."""
    store = _registry.key_store()
    reason = store.keyring_problem()
    if reason is None:
        return None
    return f"The OS keyring is unusable: {reason}. {store.keyring_advice()}"


class KeyStatusReport(dict[str, KeyStatus]):
    """:func:`status`'s answer: a dict of provider → :class:`KeyStatus`, plus
    :attr:`keyring_problem` (None, or why the OS keyring is unusable and what to do).
    IPython shows it as the table ``%llm keys`` prints."""

    keyring_problem: str | None = None

    def table(self) -> str:
        """The provider/key table, then the keyring problem if there is one."""
        width = max([len("provider"), *map(len, self)])
        lines = [f"{'provider'.ljust(width)}  key"]
        lines += [f"{name.ljust(width)}  {value.text}" for name, value in self.items()]
        if self.keyring_problem:
            lines += ["", self.keyring_problem]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.table())


provider_status = _registry.key_status
"""Where a provider's key is, as a :class:`KeyStatus` (never the key); an unknown
provider raises :class:`~ipyllm.UnknownProviderError`."""


def status() -> KeyStatusReport:
    """For every provider: where its key is (:class:`KeyStatus`: ``"keyring"``,
    ``"env"``, ``"missing"``, ``"none"`` (not needed) or ``"unusable"``), never the key.

    Only ``keyring`` and ``env`` are true, so ``if status()["openai"]:`` asks whether
    a key is there. The answer's ``keyring_problem`` says when the OS keyring cannot
    store keys, and what to do instead.
    """
    problem = keyring_problem()
    report = KeyStatusReport(
        (name, provider_status(name, problem or "")) for name in _registry.provider_names()
    )
    report.keyring_problem = problem
    return report
