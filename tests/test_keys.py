"""Tests for ipyllm._keys: key resolution, the keyring guard rails, and a real keyring.

The tests marked ``keyring`` need a real Secret Service. Run them with::

    scripts/with-keyring.sh env IPYLLM_REQUIRE_KEYRING=1 .venv/bin/pytest tests/test_keys.py

Without a Secret Service, or outside that script (which sets
``IPYLLM_KEYRING_SANDBOX=1``, so a desktop user's real keyring is never
touched), they are skipped, unless ``IPYLLM_REQUIRE_KEYRING=1`` is set, in
which case they fail.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import SecretService, chainer, fail

import ipyllm
from ipyllm import _keys
from ipyllm._errors import KeyringError, MissingKeyError, UnknownProviderError
from ipyllm._keys import SERVICE, KeyStore
from ipyllm.testing import FakeLLMServer, Reply
from keyring_backends import MemoryKeyring

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "with-keyring.sh"

ENV_VARS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "ollama": (),
}
ALL_ENV_NAMES = sorted({name for names in ENV_VARS.values() for name in names})


def env_vars(provider: str) -> Sequence[str]:
    return ENV_VARS.get(provider, ())


def planted(label: str = "") -> str:
    """A unique fake key, long enough to be registered as a secret."""
    return f"planted-{label}-{uuid.uuid4().hex}"


# -- test backends ---------------------------------------------------------
# `viable = False` keeps keyring's own discovery (and its chainer) from ever
# picking these up; tests install them explicitly with keyring.set_keyring().


class FileLikeKeyring(MemoryKeyring):
    """Pretends to be a keyrings.alt file backend (plaintext on disk)."""

    __module__ = "keyrings.alt.file"
    priority = 1


class LowPriorityKeyring(MemoryKeyring):
    priority = 0.5


class BrokenKeyring(KeyringBackend):
    """Every operation raises ``exc``, as a locked keyring or a dead D-Bus would."""

    priority = 5
    viable = False

    def __init__(self, exc: Callable[[], BaseException]) -> None:
        super().__init__()
        self.exc = exc

    def get_password(self, service: str, username: str) -> str | None:
        raise self.exc()

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.exc()

    def delete_password(self, service: str, username: str) -> None:
        raise self.exc()


class LockedException(Exception):
    """Shaped like secretstorage.exceptions.LockedException."""

    __module__ = "secretstorage.exceptions"


class DBusErrorResponse(Exception):
    """Shaped like jeepney.wrappers.DBusErrorResponse."""

    __module__ = "jeepney.wrappers"


# -- fixtures --------------------------------------------------------------


@pytest.fixture(autouse=True)
def original_backend() -> Iterator[KeyringBackend]:
    """Install an in-memory keyring for the test; restore keyring's own choice afterwards."""
    original = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield original
    keyring.set_keyring(original)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    # The "warn once per process" flag starts fresh in every test.
    monkeypatch.setattr(_keys, "_read_warned", False)


@pytest.fixture
def memory() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def store() -> KeyStore:
    return KeyStore(env_vars)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME, XDG dirs and working directory: any file written shows up here."""
    home = tmp_path / "sandbox"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.chdir(home)
    return home


def all_text(exc: BaseException) -> str:
    """Everything a user could see of ``exc``: str, repr and the full traceback."""
    return "\n".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


# -- resolution ------------------------------------------------------------


def test_explicit_beats_env_beats_keyring(
    store: KeyStore, memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit, env, stored = planted("explicit"), planted("env"), planted("keyring")
    memory.store[(SERVICE, "openai")] = stored
    assert store.find("openai") == (stored, "keyring")

    monkeypatch.setenv("OPENAI_API_KEY", env)
    assert store.find("openai") == (env, "env")
    assert store.find("openai", explicit) == (explicit, "explicit")
    assert store.require("openai", explicit) == explicit
    assert store.require("openai") == env
    assert store.get("openai") == env

    monkeypatch.delenv("OPENAI_API_KEY")
    assert store.get("openai") == stored
    assert store.find("openai", explicit=None) == (stored, "keyring")


def test_blank_explicit_is_ignored(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    env = planted("env")
    monkeypatch.setenv("OPENAI_API_KEY", env)
    assert store.find("openai", "") == (env, "env")
    assert store.find("openai", "  \n") == (env, "env")


def test_gemini_env_var_order(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    gemini, google = planted("gemini"), planted("google")
    monkeypatch.setenv("GOOGLE_API_KEY", google)
    assert store.find("gemini") == (google, "env")
    monkeypatch.setenv("GEMINI_API_KEY", gemini)
    assert store.find("gemini") == (gemini, "env")
    monkeypatch.setenv("GEMINI_API_KEY", "   ")
    assert store.find("gemini") == (google, "env")


@pytest.mark.parametrize("blank", ["", " ", "\n", " \t\r\n "])
def test_blank_env_counts_as_unset(
    store: KeyStore, memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", blank)
    assert store.find("openai") is None
    assert store.source("openai") is None
    stored = planted("keyring")
    memory.store[(SERVICE, "anthropic")] = stored
    monkeypatch.setenv("ANTHROPIC_API_KEY", blank)
    assert store.find("anthropic") == (stored, "keyring")


def test_whitespace_is_stripped(
    store: KeyStore, memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = planted("pasted")
    monkeypatch.setenv("OPENAI_API_KEY", f"  {key}\n")
    assert store.find("openai") == (key, "env")
    assert store.find("openai", f"\t{key}\r\n") == (key, "explicit")

    memory.store[(SERVICE, "ollama")] = f"{key}\n"
    assert store.find("ollama") == (key, "keyring")

    store.set("anthropic", f" {key}\n")
    assert memory.store[(SERVICE, "anthropic")] == key
    assert KeyStore(env_vars).find("anthropic") == (key, "keyring")


def test_provider_without_env_vars(store: KeyStore, memory: MemoryKeyring) -> None:
    assert store.find("ollama") is None
    key = planted()
    store.set("ollama", key)
    assert store.find("ollama") == (key, "keyring")


def test_missing_key_message(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    other = planted("other")
    monkeypatch.setenv("ANTHROPIC_API_KEY", other)
    monkeypatch.setenv("OPENAI_API_KEY", "  ")
    with pytest.raises(MissingKeyError) as info:
        store.require("openai")
    message = str(info.value)
    assert message == (
        "No API key for openai. Set the OPENAI_API_KEY environment variable, or store one "
        "in the OS keyring with ipyllm.keys.set('openai') or %llm keys set openai."
    )
    assert info.value.provider == "openai"
    assert other not in all_text(info.value)


def test_missing_key_message_names_first_env_var(store: KeyStore) -> None:
    with pytest.raises(MissingKeyError, match="GEMINI_API_KEY") as info:
        store.require("gemini")
    assert "ipyllm.keys.set('gemini')" in str(info.value)
    assert "%llm keys set gemini" in str(info.value)


def test_missing_key_message_without_env_var(store: KeyStore) -> None:
    with pytest.raises(MissingKeyError) as info:
        store.require("ollama")
    assert "environment variable" not in str(info.value)
    assert "ipyllm.keys.set('ollama')" in str(info.value)
    assert "%llm keys set ollama" in str(info.value)


def test_status_and_source_never_show_values(
    store: KeyStore, memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, stored = planted("env"), planted("keyring")
    monkeypatch.setenv("GOOGLE_API_KEY", env)
    memory.store[(SERVICE, "anthropic")] = stored
    status = store.status(["openai", "anthropic", "gemini", "ollama"])
    assert status == {"openai": None, "anthropic": "keyring", "gemini": "env", "ollama": None}
    assert store.source("gemini") == "env"
    assert store.source("anthropic") == "keyring"
    for text in (repr(status), str(status), json.dumps(status), repr(store)):
        assert env not in text
        assert stored not in text


@pytest.mark.parametrize("bad", ["", " ", "open ai", "openai\n", "\topenai"])
def test_provider_names_are_validated(store: KeyStore, bad: str) -> None:
    for call in (
        lambda: store.find(bad),
        lambda: store.require(bad),
        lambda: store.set(bad, planted()),
        lambda: store.delete(bad),
        lambda: store.status([bad]),
    ):
        with pytest.raises(UnknownProviderError, match="provider name"):
            call()


def test_set_rejects_empty_key(store: KeyStore, memory: MemoryKeyring) -> None:
    with pytest.raises(MissingKeyError, match="empty"):
        store.set("openai", " \n")
    assert memory.sets == 0


def test_keys_are_registered_for_redaction(
    store: KeyStore, memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipyllm._errors import redact

    env, explicit, stored, written = planted("e"), planted("x"), planted("k"), planted("w")
    monkeypatch.setenv("OPENAI_API_KEY", env)
    memory.store[(SERVICE, "anthropic")] = stored
    store.find("openai")
    store.find("ollama", explicit)
    store.find("anthropic")
    store.set("gemini", written)
    for key in (env, explicit, stored, written):
        assert redact(f"oops {key}!") == "oops [REDACTED]!"


# -- set / delete ----------------------------------------------------------


def test_set_get_delete_roundtrip(store: KeyStore, memory: MemoryKeyring) -> None:
    key = planted()
    store.set("openai", key)
    assert memory.store == {(SERVICE, "openai"): key}
    assert store.find("openai") == (key, "keyring")
    assert KeyStore(env_vars).find("openai") == (key, "keyring")
    store.delete("openai")
    assert memory.store == {}
    assert store.find("openai") is None
    assert KeyStore(env_vars).find("openai") is None


def test_custom_service_name(memory: MemoryKeyring) -> None:
    key = planted()
    KeyStore(env_vars, service="ipyllm-test").set("openai", key)
    assert memory.store == {("ipyllm-test", "openai"): key}
    assert KeyStore(env_vars).find("openai") is None


def test_delete_missing_key_is_not_an_error(store: KeyStore, memory: MemoryKeyring) -> None:
    store.delete("openai")
    store.delete("openai")


def test_delete_ignores_env(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    env = planted()
    monkeypatch.setenv("OPENAI_API_KEY", env)
    store.delete("openai")
    assert os.environ["OPENAI_API_KEY"] == env
    assert store.find("openai") == (env, "env")


# -- caching ---------------------------------------------------------------


def test_keyring_reads_are_cached(store: KeyStore, memory: MemoryKeyring) -> None:
    key = planted()
    memory.store[(SERVICE, "openai")] = key
    for _ in range(5):
        assert store.find("openai") == (key, "keyring")
        assert store.find("anthropic") is None
    assert memory.gets == 2
    store.clear_cache()
    assert store.find("openai") == (key, "keyring")
    assert memory.gets == 3


def test_env_is_not_cached(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.find("openai") is None
    key = planted()
    monkeypatch.setenv("OPENAI_API_KEY", key)
    assert store.find("openai") == (key, "env")


def test_set_and_delete_invalidate_every_store(memory: MemoryKeyring) -> None:
    a, b = KeyStore(env_vars), KeyStore(env_vars)
    assert a.find("openai") is None
    assert b.find("openai") is None
    key = planted()
    a.set("openai", key)
    assert a.find("openai") == (key, "keyring")
    assert b.find("openai") == (key, "keyring")
    b.delete("openai")
    assert a.find("openai") is None
    assert b.find("openai") is None


def test_concurrent_lookups(store: KeyStore, memory: MemoryKeyring) -> None:
    key = planted()
    memory.store[(SERVICE, "openai")] = key
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def reader() -> None:
        try:
            barrier.wait()
            for _ in range(200):
                found = store.find("openai")
                assert found is None or found == (key, "keyring")
        except BaseException as exc:
            errors.append(exc)

    def writer() -> None:
        try:
            barrier.wait()
            for _ in range(50):
                store.delete("openai")
                store.set("openai", key)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(7)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.find("openai") == (key, "keyring")
    assert KeyStore(env_vars).find("openai") == (key, "keyring")


# -- no usable keyring -----------------------------------------------------


def test_fail_backend(
    store: KeyStore,
    sandbox: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keyring.set_keyring(fail.Keyring())
    key = planted()
    caplog.set_level(logging.DEBUG)

    with pytest.raises(KeyringError) as info:
        store.set("openai", key)
    message = str(info.value)
    assert "OPENAI_API_KEY" in message
    assert "gnome-keyring" in message
    assert "KWallet" in message
    assert "Secret Service" in message
    assert "keyrings.alt" not in message
    assert "pip install" not in message
    assert info.value.provider == "openai"
    assert key not in all_text(info.value)

    # Reading without a keyring is "not found", quietly: env vars still work.
    assert store.find("openai") is None
    assert KeyStore(env_vars).get("openai") is None
    assert store.status(["openai"]) == {"openai": None}
    store.delete("openai")
    env = planted("env")
    monkeypatch.setenv("OPENAI_API_KEY", env)
    assert store.require("openai") == env
    assert caplog.records == []

    assert [p for p in sandbox.rglob("*")] == []


def test_fail_backend_message_without_env_var(store: KeyStore) -> None:
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(KeyringError) as info:
        store.set("ollama", planted())
    assert "environment variable" not in str(info.value)
    assert "Install and unlock an OS keyring" in str(info.value)


def test_empty_chainer_is_refused(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    keyring.set_keyring(chainer.ChainerBackend())
    with pytest.raises(KeyringError, match="no OS keyring backend"):
        store.set("openai", planted())
    assert store.find("openai") is None


def test_chainer_skips_file_backends(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    plaintext, real = FileLikeKeyring(), MemoryKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plaintext, real])
    keyring.set_keyring(chainer.ChainerBackend())
    key = planted()
    store.set("openai", key)
    assert plaintext.store == {}
    assert real.store == {(SERVICE, "openai"): key}
    assert KeyStore(env_vars).find("openai") == (key, "keyring")
    # delete() clears the key from every chained backend.
    plaintext.store[(SERVICE, "openai")] = key
    store.delete("openai")
    assert plaintext.store == real.store == {}


def test_chainer_of_only_file_backends_is_refused(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    plaintext = FileLikeKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plaintext])
    keyring.set_keyring(chainer.ChainerBackend())
    with pytest.raises(KeyringError, match="keeps keys in a file"):
        store.set("openai", planted())
    assert plaintext.sets == 0


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (FileLikeKeyring, "keeps keys in a file"),
        (LowPriorityKeyring, "not recommended"),
    ],
)
def test_file_and_low_priority_backends_are_refused(
    store: KeyStore, backend: type[MemoryKeyring], reason: str
) -> None:
    instance = backend()
    keyring.set_keyring(instance)
    key = planted()
    with pytest.raises(KeyringError, match=reason) as info:
        store.set("openai", key)
    assert instance.sets == 0
    assert instance.store == {}
    assert "OPENAI_API_KEY" in str(info.value)
    assert key not in all_text(info.value)


def test_null_backend_is_refused(store: KeyStore) -> None:
    from keyring.backends import null

    keyring.set_keyring(null.Keyring())
    with pytest.raises(KeyringError, match="not recommended"):
        store.set("openai", planted())
    assert store.find("openai") is None


# -- backend errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("make_exc", "hint"),
    [
        (lambda key: keyring.errors.KeyringLocked("Failed to unlock the collection!"), "locked"),
        (lambda key: LockedException(f"Item {key} is locked"), "locked"),
        (lambda key: keyring.errors.PasswordSetError(f"could not store {key}"), ""),
        (lambda key: keyring.errors.NoKeyringError("no backend"), "gnome-keyring"),
        (lambda key: keyring.errors.InitError("Failed to create the collection"), "gnome-keyring"),
        (lambda key: DBusErrorResponse(f"org.freedesktop.DBus.Error {key}"), "gnome-keyring"),
        (lambda key: ConnectionRefusedError(f"dbus socket {key}"), "gnome-keyring"),
        (lambda key: RuntimeError(f"weird {key!r}"), ""),
    ],
    ids=[
        "KeyringLocked",
        "LockedException",
        "PasswordSetError",
        "NoKeyringError",
        "InitError",
        "DBusErrorResponse",
        "ConnectionRefusedError",
        "RuntimeError",
    ],
)
def test_backend_errors_are_wrapped_without_the_key(
    store: KeyStore,
    caplog: pytest.LogCaptureFixture,
    make_exc: Callable[[str], BaseException],
    hint: str,
) -> None:
    key = planted()
    keyring.set_keyring(BrokenKeyring(lambda: make_exc(key)))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(KeyringError) as info:
        store.set("openai", key)
    assert "refused to store the openai key" in str(info.value)
    assert hint in str(info.value)
    assert key not in all_text(info.value)

    with pytest.raises(KeyringError) as info:
        store.delete("openai")
    assert "Could not delete the openai key" in str(info.value)
    assert key not in all_text(info.value)

    # Reads never raise: the keyring is treated as empty, with one warning.
    assert store.find("openai") is None
    assert KeyStore(env_vars).find("anthropic") is None
    with pytest.raises(MissingKeyError) as missing:
        KeyStore(env_vars).require("gemini")
    assert key not in all_text(missing.value)
    warnings = [r for r in caplog.records if r.name == "ipyllm"]
    if isinstance(make_exc(key), keyring.errors.NoKeyringError):
        assert warnings == []  # "no keyring here" is normal, not worth a warning
    else:
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING
        assert "OS keyring" in warnings[0].getMessage()
    for record in caplog.records:
        assert key not in record.getMessage()
        assert key not in caplog.text


def test_cause_is_kept_when_it_holds_no_key(store: KeyStore) -> None:
    keyring.set_keyring(
        BrokenKeyring(lambda: keyring.errors.KeyringLocked("Failed to unlock the collection!"))
    )
    with pytest.raises(KeyringError) as info:
        store.set("openai", planted())
    assert isinstance(info.value.__cause__, keyring.errors.KeyringLocked)


def test_backend_that_cannot_start(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> KeyringBackend:
        raise RuntimeError("keyringrc names a backend that does not exist")

    monkeypatch.setattr(keyring, "get_keyring", broken)
    with pytest.raises(KeyringError, match="could not start"):
        store.set("openai", planted())
    assert store.find("openai") is None


# -- import cost -------------------------------------------------------------


def test_import_does_not_load_keyring() -> None:
    code = (
        "import sys, ipyllm, ipyllm._keys\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('keyring', 'secretstorage', 'jeepney'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- the real OS keyring -------------------------------------------------------


@pytest.fixture
def real_keyring(original_backend: KeyringBackend) -> KeyringBackend:
    """keyring's own backend choice, which must be the Secret Service."""
    message = None
    if not isinstance(original_backend, SecretService.Keyring):
        message = f"the active keyring backend is {original_backend!r}, not SecretService.Keyring"
    elif os.environ.get("IPYLLM_KEYRING_SANDBOX") != "1":
        # A desktop session's own keyring: leave the user's real keyring alone.
        message = "this is not the throwaway keyring of scripts/with-keyring.sh"
    if message is not None:
        message += ": run these tests under scripts/with-keyring.sh"
        if os.environ.get("IPYLLM_REQUIRE_KEYRING") == "1":
            pytest.fail(f"IPYLLM_REQUIRE_KEYRING=1 but {message}")
        pytest.skip(message)
    keyring.set_keyring(original_backend)
    return original_backend


@pytest.fixture
def provider(real_keyring: KeyringBackend) -> Iterator[str]:
    """A provider name used by this test only, removed from the keyring afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    yield name
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        real_keyring.delete_password(SERVICE, name)


@pytest.mark.keyring
def test_real_keyring_roundtrip(provider: str) -> None:
    store = KeyStore(env_vars)
    key = planted("real")
    assert store.find(provider) is None
    store.set(provider, f"{key}\n")
    assert keyring.get_password(SERVICE, provider) == key
    assert store.find(provider) == (key, "keyring")

    fresh = KeyStore(env_vars)
    assert fresh._cache == {}
    assert fresh.find(provider) == (key, "keyring")
    assert fresh.source(provider) == "keyring"
    assert fresh.status([provider]) == {provider: "keyring"}

    replacement = planted("again")
    store.set(provider, replacement)
    assert KeyStore(env_vars).get(provider) == replacement

    store.delete(provider)
    assert store.find(provider) is None
    assert KeyStore(env_vars).find(provider) is None
    assert keyring.get_password(SERVICE, provider) is None
    store.delete(provider)  # already gone: not an error


@pytest.mark.keyring
def test_real_keyring_sees_writes_from_outside_after_clear_cache(provider: str) -> None:
    store = KeyStore(env_vars)
    assert store.find(provider) is None
    key = planted("outside")
    keyring.set_password(SERVICE, provider, key)
    assert store.find(provider) is None  # cached miss
    store.clear_cache()
    assert store.find(provider) == (key, "keyring")


@pytest.mark.keyring
def test_real_keyring_never_leaks_the_key(
    provider: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    store = KeyStore(lambda p: (f"IPYLLM_TEST_{uuid.uuid4().hex.upper()}",))
    key = planted("leak")
    store.set(provider, key)
    errors: list[BaseException] = []
    for call in (
        lambda: store.require("nothing-" + provider),
        lambda: store.set("bad name", key),
        lambda: store.set(provider, "   "),
    ):
        try:
            call()
        except Exception as exc:
            errors.append(exc)
    assert len(errors) == 3
    for error in errors:
        assert key not in all_text(error)
    store.delete(provider)
    for record in caplog.records:
        assert key not in record.getMessage()
    out, err = capfd.readouterr()
    assert key not in out
    assert key not in err


LOCKED_SCRIPT = textwrap.dedent(
    """
    import io, json, logging, sys, traceback
    import keyring, secretstorage
    from ipyllm._errors import KeyringError
    from ipyllm._keys import KeyStore

    log = io.StringIO()
    logging.getLogger("ipyllm").addHandler(logging.StreamHandler(log))
    key, provider = sys.argv[1], sys.argv[2]
    envs = lambda p: ("IPYLLM_TEST_NO_SUCH_VAR",)
    result = {"backend": type(keyring.get_keyring()).__module__}
    KeyStore(envs).set(provider, key)
    result["before"] = KeyStore(envs).source(provider)

    collection = secretstorage.get_default_collection(secretstorage.dbus_init())
    collection.lock()
    result["locked"] = collection.is_locked()

    store = KeyStore(envs)
    result["find"] = store.find(provider)
    result["find_other"] = store.find(provider + "-other")
    texts = []
    for name, call in (("set", lambda: store.set(provider, key)),
                       ("delete", lambda: store.delete(provider))):
        try:
            call()
            result[name] = "no error"
        except KeyringError as exc:
            result[name] = str(exc)
            texts.append(repr(exc) + "".join(traceback.format_exception(exc)))
    result["log"] = log.getvalue()
    result["leaked"] = any(key in t for t in texts) or key in log.getvalue()
    print(json.dumps(result))
    """
)


@pytest.mark.keyring
def test_locked_keyring(real_keyring: KeyringBackend, tmp_path: Path) -> None:
    """A locked collection, in a separate throwaway session so this run's keyring stays open."""
    if shutil.which("dbus-run-session") is None or shutil.which("gnome-keyring-daemon") is None:
        pytest.fail("dbus-run-session / gnome-keyring-daemon missing although the keyring works")
    script = tmp_path / "locked.py"
    script.write_text(LOCKED_SCRIPT)
    key, provider = planted("locked"), f"test-{uuid.uuid4().hex}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [str(SCRIPT), sys.executable, str(script), key, provider],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert key not in proc.stdout
    assert key not in proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == "keyring.backends.SecretService"
    assert result["before"] == "keyring"
    assert result["locked"] is True
    assert result["find"] is None
    assert result["find_other"] is None
    assert "locked" in result["set"].lower()
    assert "locked" in result["delete"].lower()
    assert result["log"].count("Could not read the OS keyring") == 1
    assert result["leaked"] is False


@pytest.mark.keyring
def test_public_keys_api_feeds_a_session(real_keyring: KeyringBackend, fake: FakeLLMServer) -> None:
    """ipyllm.keys.set → a Session finds the key in the OS keyring → keys.delete."""
    key = planted("e2e")
    ipyllm.keys.set("openai", key)
    try:
        assert ipyllm.keys.status()["openai"] == "keyring"
        assert ipyllm.keys.get("openai") == key
        fake.add_reply(Reply("keyring works"))
        s = ipyllm.Session("openai:m", base_url=fake.base_url("openai"))
        assert s.ask("hi").text == "keyring works"
        assert fake.requests[-1].headers["authorization"] == f"Bearer {key}"
        assert key not in repr(s)
    finally:
        ipyllm.keys.delete("openai")
    assert ipyllm.keys.status()["openai"] == "missing"  # was None before KeyStatus
    assert not ipyllm.keys.status()["openai"]  # still false, as None was
    assert keyring.get_password(SERVICE, "openai") is None


def test_keys_set_asks_with_a_hidden_prompt(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = planted("prompt")
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return key + "\n"

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    ipyllm.keys.set("anthropic")
    assert prompts == ["API key for anthropic (input hidden): "]
    assert memory.store[(SERVICE, "anthropic")] == key
    assert ipyllm.keys.status()["anthropic"] == "keyring"
    ipyllm.keys.delete("anthropic")
    assert ipyllm.keys.get("anthropic") is None


def test_keys_set_rejects_an_unknown_provider(memory: MemoryKeyring) -> None:
    with pytest.raises(UnknownProviderError, match="Unknown provider"):
        ipyllm.keys.set("nosuch", "whatever-key-123")
    assert memory.store == {}
