"""History at rest is private: a 0700 directory and 0600 files, new or tightened on open."""

from __future__ import annotations

import os
import sqlite3
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipyllm._manager.history import HistoryStore
from test_history import make, written

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")

SIDECARS = ("-wal", "-shm")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def files(db: Path) -> list[Path]:
    return [db, *(db.with_name(db.name + s) for s in SIDECARS)]


@pytest.fixture
def open_umask() -> Iterator[None]:
    # With umask 000 nothing is private by accident: every mode below is ipyllm's doing.
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def exposed(tmp_path: Path) -> Iterator[Path]:
    """A history as an older ipyllm left it: directory 0755, database, -wal and -shm 0644.

    Another connection stays open, so SQLite keeps the -wal and -shm files.
    """
    home = tmp_path / "home"
    home.mkdir()
    db = home / "history.sqlite3"
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("PRAGMA journal_mode = WAL")
    other.execute("CREATE TABLE unrelated (x)")
    other.execute("INSERT INTO unrelated VALUES (1)")
    for path in files(db):
        assert path.exists(), path
        os.chmod(path, 0o644)
    os.chmod(home, 0o755)
    yield db
    other.close()


@pytest.mark.usefixtures("open_umask")
def test_a_fresh_history_is_created_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "home" / "history.sqlite3"
    store = written(HistoryStore(db), make())
    try:
        assert mode(db.parent) == 0o700
        for path in files(db):  # the writer's connection is open: WAL and SHM exist
            assert mode(path) == 0o600, path
        assert len(store.search()) == 1
    finally:
        store.close()


def test_an_exposed_history_is_tightened_by_the_writer(exposed: Path) -> None:
    store = written(HistoryStore(exposed), make())
    try:
        assert mode(exposed.parent) == 0o700
        for path in files(exposed):
            assert mode(path) == 0o600, path
        assert len(store.search()) == 1
    finally:
        store.close()


def test_an_exposed_history_is_tightened_by_a_read_too(exposed: Path) -> None:
    store = HistoryStore(exposed)
    assert store.search() == []  # no turns table yet: nothing written, only opened
    assert mode(exposed.parent) == 0o700
    for path in files(exposed):
        assert mode(path) == 0o600, path
    store.close()


def test_another_users_files_are_left_as_they_are(
    exposed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "getuid", lambda: os.stat(exposed).st_uid + 4242)
    store = written(HistoryStore(exposed), make())
    try:
        assert mode(exposed.parent) == 0o755
        assert mode(exposed) == 0o644
        assert len(store.search()) == 1  # and history works
    finally:
        store.close()


def test_a_chmod_that_fails_warns_once_and_history_goes_on(
    exposed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr(os, "chmod", refuse)
    store = HistoryStore(exposed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written(store, make(turn_index=0))  # the writer's open warns
        written(store, make(turn_index=1))
        found = store.search()  # and a read opens again: no second warning
    assert [w.category for w in caught] == [RuntimeWarning]
    message = str(caught[0].message)
    assert "could not make" in message
    assert "IPYLLM_HOME" in message
    assert "\n" not in message
    assert store.enabled
    assert len(found) == 2
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        store.search()
    assert later == []
    store.close()
