"""API keys: an explicit argument, then environment variables, then the OS keyring.

Keys stored with :meth:`KeyStore.set` go to the OS keyring (macOS Keychain,
Windows Credential Locker, or a Secret Service such as gnome-keyring or
KWallet on Linux) under the service name ``"ipyllm"`` with the provider name
as user name. ipyllm never writes a key to a plain file: if the only keyring
available is a file-based or failing one, :meth:`KeyStore.set` refuses.

``keyring`` is imported only when the keyring is first used; ``import ipyllm``
stays fast. Every key found or stored is registered with
:func:`~ipyllm._errors.register_secret`, so no error message can show it.

A key is printable ASCII with no spaces: one holding a line break, a space, a
control or a non-ASCII character (a bad paste) is refused with an
:class:`~ipyllm.InvalidKeyError` that names where it came from, before it is
stored or sent. Surrounding whitespace is stripped first.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import logging
import os
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from ._errors import (
    InvalidKeyError,
    KeyringError,
    MissingKeyError,
    UnknownProviderError,
    redact,
    register_secret,
)
from ._settings_events import changed

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = [
    "SERVICE",
    "KeySource",
    "KeyStatus",
    "KeyStore",
    "check_key",
    "explicit_key",
    "fingerprint",
]

SERVICE = "ipyllm"
"""Keyring service name under which keys are stored; the user name is the provider."""

KeySource = Literal["explicit", "env", "keyring"]
"""Where a key was found."""


class KeyStatus(enum.StrEnum):
    """Where a provider's key is: the one vocabulary of ``ipyllm.keys.status()``,
    ``%llm keys``, ``%llm providers`` and the panel's settings pane.

    The value is the stable code (what the panel protocol carries, and what
    ``status == "env"`` compares with); :attr:`text` is the words every listing
    shows. Only :attr:`KEYRING` and :attr:`ENV` are true: ``if status:`` still
    means "a key is there", as when a missing key was ``None``.
    """

    KEYRING = "keyring"
    """In the OS keyring."""
    ENV = "env"
    """In the provider's environment variable (which comes first)."""
    MISSING = "missing"
    """Nowhere yet; the OS keyring works, so ``%llm keys set`` can store one."""
    NOT_NEEDED = "none"
    """The provider needs no key (a local server, the demo)."""
    UNUSABLE = "unusable"
    """Nowhere, and the OS keyring cannot store one: use the environment variable,
    or make a keyring usable (:func:`ipyllm.keys.keyring_problem` says why and how)."""

    @property
    def text(self) -> str:
        """The words shown for this status (``"not needed"``, ``"keyring unusable"``…)."""
        return _STATUS_TEXT[self.value]

    def __bool__(self) -> bool:
        return self.value in ("keyring", "env")

    def __repr__(self) -> str:
        return repr(self.value)


_STATUS_TEXT = {
    "keyring": "keyring",
    "env": "env",
    "missing": "missing",
    "none": "not needed",
    "unusable": "keyring unusable",
}

logger = logging.getLogger("ipyllm")

# Backends that keep secrets in a file of their own rather than an OS keyring.
_FILE_BACKEND_MODULES = ("keyrings.alt", "keyrings.cryptfile")

# Bumped by every set() and delete() in this process; a KeyStore whose cache
# was filled under an older generation drops it, so every instance sees writes.
_generation = 0
_generation_lock = threading.Lock()

# A failing keyring read is reported once per process, not on every lookup.
_read_warned = False
_read_warned_lock = threading.Lock()


def _bump_generation() -> None:
    global _generation
    with _generation_lock:
        _generation += 1


def _warn_read_failure(service: str, provider: str, exc: BaseException) -> None:
    global _read_warned
    with _read_warned_lock:
        if _read_warned:
            return
        _read_warned = True
    logger.warning(
        "Could not read the OS keyring (service %r, provider %r): %s. Keys stored there are "
        "ignored for now; environment variables still work. This warning is shown once.",
        service,
        provider,
        _describe(exc),
    )


def _describe(exc: BaseException) -> str:
    """``Type: message`` for an exception, with any key scrubbed."""
    text = str(exc).strip().rstrip(".!")
    name = type(exc).__name__
    return redact(f"{name}: {text}" if text else name)


def _backend_name(backend: object) -> str:
    cls = type(backend)
    module = cls.__module__.removeprefix("keyring.backends.")
    return f"{module}.{cls.__qualname__}"


def _check_provider(provider: str) -> None:
    if not isinstance(provider, str) or not provider or any(c.isspace() for c in provider):
        raise UnknownProviderError(
            redact(f"Invalid provider name {provider!r}: it must be non-empty, without spaces.")
        )


def _clean(value: str | None) -> str | None:
    """``value`` without surrounding whitespace, or None if nothing is left."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def fingerprint(key: str | None) -> str:
    """A short, stable name for ``key`` that does not reveal it (``"-"`` for no key): what
    caches and rate-limit gates are keyed by, so no key sits in a dict someone may print."""
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else "-"


def _flaw(key: str) -> str | None:
    """What makes ``key`` unusable in an HTTP header, or None; never quotes the key."""
    for position, char in enumerate(key, 1):
        if "!" <= char <= "~":
            continue
        if char in "\r\n":
            what = "a line break"
        elif char == " ":
            what = "a space"
        elif char == "\t":
            what = "a tab"
        elif char.isascii():
            what = f"a control character (U+{ord(char):04X})"
        else:
            # The name tells a truncated display ("HORIZONTAL ELLIPSIS") or a
            # typographic quote from a rich-text paste at a glance.
            name = unicodedata.name(char, "")
            what = f"a non-ASCII character (U+{ord(char):04X}{' ' + name if name else ''})"
        return f"{what} at character {position} of {len(key)}"
    return None


def check_key(provider: str, key: str, origin: str, fix: str) -> str:
    """``key``, or :class:`InvalidKeyError` if it cannot be a key.

    ``origin`` completes "the key …" (``"from the api_key argument"``); ``fix`` says
    what to do. The key is registered for redaction either way.
    """
    register_secret(key)
    flaw = _flaw(key)
    if flaw is not None:
        raise InvalidKeyError(
            f"The {provider} API key {origin} contains {flaw}, so it cannot be used: {fix}.",
            provider=provider,
        )
    return key


_FROM_ARGUMENT = "from the api_key argument"
_FIX_ARGUMENT = "pass the key alone, on one line, exactly as the provider shows it"


def explicit_key(provider: str, value: str | None) -> str | None:
    """An ``api_key=`` argument, stripped and checked; None if blank."""
    key = _clean(value)
    if key is None:
        return None
    return check_key(provider, key, _FROM_ARGUMENT, _FIX_ARGUMENT)


def _unusable_reason(backend: KeyringBackend) -> str | None:
    """Why ``backend`` must not receive a key, or None if it is a real OS keyring."""
    from keyring.backends import chainer, fail

    name = _backend_name(backend)
    if isinstance(backend, fail.Keyring):
        return f"no OS keyring backend is available (keyring chose {name})"
    if isinstance(backend, chainer.ChainerBackend):
        return "keyring chose a chain of backends; ipyllm stores keys in a single OS keyring only"
    if type(backend).__module__.startswith(_FILE_BACKEND_MODULES):
        return f"the active keyring backend {name} keeps keys in a file, not an OS keyring"
    try:
        priority = float(type(backend).priority)
    except Exception as exc:
        return f"the keyring backend {name} is not usable ({_describe(exc)})"
    if priority < 1:
        return f"the keyring backend {name} is not recommended (priority {priority:g})"
    return None


def _pick_backend() -> tuple[KeyringBackend | None, str | None]:
    """The backend :meth:`KeyStore.set` writes to, or None with the reason why not.

    keyring's chainer, chosen when several backends are viable, writes to the
    first one that accepts; here the first *acceptable* backend is used
    directly, so a key can never slip into a file-based one further down.
    """
    import keyring
    from keyring.backends import chainer

    active = keyring.get_keyring()
    if isinstance(active, chainer.ChainerBackend):
        reasons = []
        for candidate in type(active).backends:
            reason = _unusable_reason(candidate)
            if reason is None:
                return candidate, None
            reasons.append(reason)
        if not reasons:
            return None, "no OS keyring backend is available (keyring found none to chain)"
        return None, "; ".join(reasons)
    reason = _unusable_reason(active)
    return (None, reason) if reason else (active, None)


def _writable_or_why() -> tuple[KeyringBackend | None, str]:
    """:func:`_pick_backend`, never raising: the backend, or None and why there is none."""
    try:
        backend, reason = _pick_backend()
    except Exception as exc:
        return None, f"the keyring could not start ({_describe(exc)})"
    return backend, reason or "no OS keyring backend is available"


class KeyStore:
    """Finds API keys: explicit argument, then environment variables, then the OS keyring."""

    def __init__(self, env_vars: Callable[[str], Sequence[str]], service: str = SERVICE) -> None:
        """``env_vars(provider)`` gives the variable names to try in order; ``()`` for none."""
        self._env_vars = env_vars
        self._service = service
        self._lock = threading.Lock()
        self._cache: dict[str, str | None] = {}
        self._cache_generation = _generation

    def __repr__(self) -> str:
        return f"KeyStore(service={self._service!r})"

    # -- lookups ---------------------------------------------------------

    def find(self, provider: str, explicit: str | None = None) -> tuple[str, KeySource] | None:
        """The key for ``provider`` and where it came from, or None if there is none.

        Raises :class:`InvalidKeyError`, naming the source, if the key found
        cannot be a key (a line break, space, control or non-ASCII character).
        """
        _check_provider(provider)
        key = explicit_key(provider, explicit)
        if key is not None:
            return key, "explicit"
        from_env = self._from_env(provider)
        if from_env is not None:
            key, name = from_env
            fix = f"set {name} to the key alone, on one line"
            return check_key(provider, key, f"from the {name} environment variable", fix), "env"
        key = self._from_keyring(provider)
        if key is not None:
            fix = f"store it again with ipyllm.keys.set({provider!r}) or %llm keys set {provider}"
            return check_key(provider, key, "from the OS keyring", fix), "keyring"
        return None

    def _locate(self, provider: str) -> KeySource | None:
        """Where a key for ``provider`` is, usable or not (never raises for a bad key)."""
        _check_provider(provider)
        if self._from_env(provider) is not None:
            return "env"
        if self._from_keyring(provider) is not None:
            return "keyring"
        return None

    def require(self, provider: str, explicit: str | None = None) -> str:
        """The key for ``provider``; raises :class:`MissingKeyError` saying how to add one."""
        found = self.find(provider, explicit)
        if found is not None:
            return found[0]
        names = self._names(provider)
        store = f"ipyllm.keys.set({provider!r}) or %llm keys set {provider}"
        problem = self.keyring_problem()
        if problem is not None:
            # Storing one would be refused: say so now, not after the key is typed.
            raise MissingKeyError(
                f"No API key for {provider}. The OS keyring cannot store one here "
                f"({problem}). {self.keyring_advice(provider)}",
                provider=provider,
            )
        if names:
            message = (
                f"No API key for {provider}. Set the {names[0]} environment variable, "
                f"or store one in the OS keyring with {store}."
            )
        else:
            message = f"No API key for {provider}. Store one in the OS keyring with {store}."
        raise MissingKeyError(message, provider=provider)

    def get(self, provider: str) -> str | None:
        """The key for ``provider`` from the environment or the keyring, or None."""
        found = self.find(provider)
        return found[0] if found else None

    def source(self, provider: str) -> KeySource | None:
        """Where the key for ``provider`` would come from: ``"env"``, ``"keyring"`` or None.

        A key that :meth:`find` would refuse as malformed still counts, so a
        listing of keys shows it (and using it says what is wrong).
        """
        return self._locate(provider)

    def status(self, providers: Iterable[str]) -> dict[str, KeySource | None]:
        """The source of each provider's key (never the key itself)."""
        return {provider: self.source(provider) for provider in providers}

    def clear_cache(self) -> None:
        """Forget cached keyring reads, e.g. after changing the keyring from outside."""
        with self._lock:
            self._cache.clear()

    # -- keyring writes ---------------------------------------------------

    def keyring_problem(self) -> str | None:
        """Why no key can be stored in the OS keyring here (no backend, a file-based
        or failing one…), or None if one can. Never raises."""
        backend, reason = _writable_or_why()
        return None if backend is not None else reason

    def check_writable(self, provider: str) -> None:
        """:class:`KeyringError`, saying why and what to do, if ``provider``'s key could
        not be stored: what to call *before* asking anyone for a key."""
        _check_provider(provider)
        self._writable_backend(provider)

    def _writable_backend(self, provider: str) -> KeyringBackend:
        backend, reason = _writable_or_why()
        if backend is None:
            raise KeyringError(
                f"Cannot store the {provider} key: {reason}. {self.keyring_advice(provider)}",
                provider=provider,
            )
        return backend

    def set(self, provider: str, key: str) -> None:
        """Store ``key`` for ``provider`` in the OS keyring; raises :class:`KeyringError`."""
        _check_provider(provider)
        if not isinstance(key, str):
            raise TypeError(f"The key must be a str, not {type(key).__name__}.")
        cleaned = _clean(key)
        if cleaned is None:
            raise MissingKeyError(
                f"The key for {provider} is empty: paste the whole key, or leave it unset.",
                provider=provider,
            )
        register_secret(key)
        check_key(
            provider,
            cleaned,
            "given to store",
            "nothing was stored; paste the key alone, on one line",
        )
        backend = self._writable_backend(provider)
        try:
            backend.set_password(self._service, provider, cleaned)
        except Exception as exc:
            raise self._wrap(
                exc, f"The OS keyring refused to store the {provider} key", provider, (key, cleaned)
            ) from _chainable(exc, key, cleaned)
        _bump_generation()
        with self._lock:
            self._sync_generation()
            self._cache[provider] = cleaned
        changed()

    def delete(self, provider: str) -> None:
        """Remove ``provider``'s key from the OS keyring; a missing key is not an error."""
        _check_provider(provider)
        try:
            import keyring
            from keyring.backends import chainer, fail
            from keyring.errors import PasswordDeleteError

            active = keyring.get_keyring()
            # A chain is searched in full: keyring's own chainer stops at the
            # first backend, which may not be the one holding the key.
            backends = (
                list(type(active).backends)
                if isinstance(active, chainer.ChainerBackend)
                else [active]
            )
            for backend in backends:
                if isinstance(backend, fail.Keyring):
                    continue  # no keyring: nothing can be stored there
                # PasswordDeleteError: nothing stored there.
                with contextlib.suppress(PasswordDeleteError, NotImplementedError):
                    backend.delete_password(self._service, provider)
        except Exception as exc:
            raise self._wrap(
                exc, f"Could not delete the {provider} key from the OS keyring", provider, ()
            ) from _chainable(exc)
        finally:
            _bump_generation()
        with self._lock:
            self._sync_generation()
            self._cache[provider] = None
        changed()

    # -- internals ------------------------------------------------------

    def _names(self, provider: str) -> tuple[str, ...]:
        return tuple(self._env_vars(provider))

    def _from_env(self, provider: str) -> tuple[str, str] | None:
        """The first set variable's key and the variable's name."""
        for name in self._names(provider):
            value = _clean(os.environ.get(name))
            if value is not None:
                register_secret(value)
                return value, name
        return None

    def _sync_generation(self) -> None:
        """Drop the cache if any KeyStore wrote to the keyring since it was filled."""
        if self._cache_generation != _generation:
            self._cache.clear()
            self._cache_generation = _generation

    def _from_keyring(self, provider: str) -> str | None:
        with self._lock:
            self._sync_generation()
            if provider in self._cache:
                return self._cache[provider]
            generation = self._cache_generation
        value = self._read_keyring(provider)
        with self._lock:
            # Keep the result only if nobody wrote to the keyring meanwhile.
            if generation == _generation:
                self._sync_generation()
                self._cache[provider] = value
        return value

    def _read_keyring(self, provider: str) -> str | None:
        try:
            import keyring
            from keyring.backends import fail
            from keyring.errors import NoKeyringError

            backend = keyring.get_keyring()
            if isinstance(backend, fail.Keyring):
                return None  # no keyring on this machine: environment variables only
            try:
                value = backend.get_password(self._service, provider)
            except NoKeyringError:
                return None
        except Exception as exc:  # locked keyring, D-Bus trouble, a broken backend
            _warn_read_failure(self._service, provider, exc)
            return None
        if value is None:
            return None
        register_secret(value)
        cleaned = _clean(value)
        register_secret(cleaned)
        return cleaned

    def keyring_advice(self, provider: str | None = None) -> str:
        """What to do when the keyring is unusable: the provider's environment variable
        (``PROVIDER_API_KEY`` when no provider is named), or an OS keyring to install
        and unlock."""
        if provider is None:
            env = "Set the provider's environment variable instead (OPENAI_API_KEY…), or i"
        else:
            names = self._names(provider)
            env = f"Set the {names[0]} environment variable instead, or i" if names else "I"
        return (
            f"{env}nstall and unlock an OS keyring: on Linux, gnome-keyring or KWallet "
            "with a running Secret Service (a desktop session, or, headless, "
            "dbus-run-session plus gnome-keyring-daemon --unlock --components=secrets); "
            "macOS (the login Keychain) and Windows (the Credential Locker) have one built "
            "in: unlock it, then check with python -m keyring diagnose. "
            "ipyllm never stores keys in a plain file."
        )

    def _wrap(
        self, exc: BaseException, what: str, provider: str, secrets: tuple[str, ...]
    ) -> KeyringError:
        detail = _describe(exc)
        for secret in secrets:
            if secret:
                detail = detail.replace(secret, "[REDACTED]")
        hint = ""
        if _looks_locked(exc):
            hint = " The keyring is locked: unlock it (log in to the desktop session) and retry."
        elif _looks_unavailable(exc):
            hint = " " + self.keyring_advice(provider)
        return KeyringError(f"{what}: {detail}.{hint}", provider=provider)


def _looks_locked(exc: BaseException) -> bool:
    from keyring.errors import KeyringLocked

    if isinstance(exc, KeyringLocked):
        return True
    name = type(exc).__name__
    return name in {"LockedException", "PromptDismissedException"} or "locked" in str(exc).lower()


def _looks_unavailable(exc: BaseException) -> bool:
    from keyring.errors import InitError, NoKeyringError

    if isinstance(exc, NoKeyringError | InitError):
        return True
    module = type(exc).__module__
    return module.startswith(("jeepney", "dbus", "secretstorage")) or isinstance(exc, OSError)


def _chainable(exc: BaseException, *secrets: str) -> BaseException | None:
    """``exc`` if it is safe to show as the cause in a traceback, else None.

    Unsafe: its text holds one of ``secrets``, a registered key, or anything
    shaped like a key.
    """
    for text in (str(exc), repr(exc)):
        if redact(text) != text or any(secret and secret in text for secret in secrets):
            return None
    return exc
