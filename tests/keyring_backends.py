"""In-memory keyring backends for the key tests (installed with ``keyring.set_keyring``)."""

from __future__ import annotations

import keyring
from keyring.backend import KeyringBackend

# `viable = False` keeps keyring's own discovery (and its chainer) from ever
# picking these up; tests install them explicitly with keyring.set_keyring().


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring that counts its calls."""

    priority: float = 1
    viable = False

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.gets = 0
        self.sets = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.gets += 1
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.sets += 1
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.store[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("No such password!") from None
