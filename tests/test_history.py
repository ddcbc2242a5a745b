"""The history store: real SQLite in tmp_path, written off-thread, never breaking the caller."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipyllm._errors import register_secret
from ipyllm._manager.history import (
    SCHEMA_VERSION,
    HistoryEntry,
    HistoryList,
    HistoryStore,
    TurnRecord,
)

T0 = 1_700_000_000.0


def make(
    conversation_id: str = "c1", turn_index: int = 0, **fields: Any
) -> TurnRecord:  # a complete record; tests override what they care about
    values: dict[str, Any] = {
        "conversation_id": conversation_id,
        "title": "Tab 1",
        "turn_index": turn_index,
        "model": "openai:gpt-4o-mini",
        "query": f"question {turn_index}",
        "full_query": [{"role": "user", "content": f"question {turn_index}"}],
        "text": f"answer {turn_index}",
        "reasoning": None,
        "status": "done",
        "tokens_in": 10,
        "tokens_out": 20,
        "cost": 0.0001,
        "error": None,
        "started_at": T0 + turn_index,
        "ttft_s": 0.25,
        "elapsed_s": 1.5,
        "finish_reason": "stop",
    }
    values.update(fields)
    return TurnRecord(**values)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[HistoryStore]:
    s = HistoryStore(db)
    yield s
    s.close()


def written(store: HistoryStore, *records: TurnRecord) -> HistoryStore:
    for rec in records:
        store.record(rec)
    assert store.flush()
    return store


def timed(store: HistoryStore, rec: TurnRecord) -> tuple[float, float]:
    """Seconds that record() took, and seconds until flush() returned."""
    start = time.perf_counter()
    store.record(rec)
    took = time.perf_counter() - start
    assert store.flush()
    return took, time.perf_counter() - start


def test_round_trip_keeps_every_field(store: HistoryStore) -> None:
    rec = make(
        title="Ünïcødé 標題 🚀",
        query="¿Qué tal? 你好 🐍",
        full_query=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": '¿Qué tal? 你好 🐍\n"quoted"'},
        ],
        text="Très bien — 很好",
        reasoning="thinking…",
        status="error",
        tokens_in=None,
        tokens_out=None,
        cost=None,
        error="ServerError: overloaded",
        ttft_s=None,
        elapsed_s=None,
        finish_reason=None,
    )
    written(store, rec)
    assert store.conversation("c1") == [rec]
    [entry] = store.search()
    assert entry == HistoryEntry(
        conversation_id="c1", title=rec.title, turn_index=0, model=rec.model, query=rec.query,
        text=rec.text, status="error", tokens_in=None, tokens_out=None, cost=None, started_at=T0,
    )  # fmt: skip
    assert isinstance(store.search(), HistoryList)
    assert store.conversation("nope") == []


def test_same_turn_written_again_replaces_it(store: HistoryStore) -> None:
    written(store, make(text="partial", status="stopped"))
    written(store, make(text="whole answer", status="done", title="Renamed"))
    [rec] = store.conversation("c1")
    assert (rec.text, rec.status, rec.title) == ("whole answer", "done", "Renamed")
    assert len(store.search()) == 1


def test_search_is_newest_first_limited_and_case_insensitive(store: HistoryStore) -> None:
    written(
        store,
        make("a", 0, query="How do I PARSE json?", started_at=T0 + 1),
        make("a", 1, text="Use json.loads", started_at=T0 + 5),
        make("b", 0, title="Ünïcode Parsing", started_at=T0 + 3),
        make("c", 0, query="unrelated", text="nothing", title="other", started_at=T0 + 4),
    )
    assert [(e.conversation_id, e.turn_index) for e in store.search()] == [
        ("a", 1), ("c", 0), ("b", 0), ("a", 0),
    ]  # fmt: skip
    assert [e.conversation_id for e in store.search(limit=2)] == ["a", "c"]
    assert {(e.conversation_id, e.turn_index) for e in store.search("PARS")} == {
        ("a", 0), ("b", 0),
    }  # fmt: skip
    assert [e.turn_index for e in store.search("JSON.LOADS")] == [1]
    assert [e.conversation_id for e in store.search("ünïCODE")] == ["b"]
    assert store.search("100%_") == []


def test_ties_on_started_at_order_by_turn_index(store: HistoryStore) -> None:
    written(store, make("a", 0, started_at=T0), make("a", 1, started_at=T0))
    assert [e.turn_index for e in store.search()] == [1, 0]


def test_conversations_list_latest_title_newest_first(store: HistoryStore) -> None:
    written(
        store,
        make("a", 0, title="first", started_at=T0),
        make("a", 1, title="renamed", started_at=T0 + 10),
        make("b", 0, title="other", started_at=T0 + 5),
    )
    assert store.conversations() == [("a", "renamed", T0 + 10), ("b", "other", T0 + 5)]
    assert store.conversations(limit=1) == [("a", "renamed", T0 + 10)]
    assert [r.turn_index for r in store.conversation("a")] == [0, 1]


def test_a_new_store_on_the_same_file_sees_everything(db: Path) -> None:
    first = HistoryStore(db)
    written(first, make(turn_index=0), make(turn_index=1))
    first.close()
    first.close()  # idempotent
    again = HistoryStore(db)
    try:
        assert [r.turn_index for r in again.conversation("c1")] == [0, 1]
        written(again, make(turn_index=2))
        assert len(again.search()) == 3
    finally:
        again.close()


def test_close_writes_what_is_queued(db: Path) -> None:
    s = HistoryStore(db)
    for i in range(20):
        s.record(make(turn_index=i))
    s.close()
    s.record(make(turn_index=99))  # after close: dropped, no error
    assert len(HistoryStore(db).search(limit=100)) == 20


def test_another_process_reads_the_history(store: HistoryStore, db: Path) -> None:
    # What a kernel restart looks like: a fresh interpreter opening the same file.
    written(store, make(query="before the restart ✓"))
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from ipyllm._manager.history import HistoryStore\n"
        "s = HistoryStore(Path(sys.argv[1]))\n"
        "print(json.dumps([[e.conversation_id, e.turn_index, e.query] for e in s.search()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(db)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [["c1", 0, "before the restart ✓"]]


def test_database_is_in_wal_mode(store: HistoryStore, db: Path) -> None:
    written(store, make())
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = [r[1] for r in conn.execute("PRAGMA index_list(turns)")]
    conn.close()
    assert "turns_started_at" in indexes


def test_history_off_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_HOME", str(tmp_path / "home"))
    for off in ("0", "false", "No", " off "):
        monkeypatch.setenv("IPYLLM_HISTORY", off)
        s = HistoryStore.default()
        assert (s.enabled, s.path) == (False, None)
        s.record(make())
        assert s.flush()
        assert s.search() == []
        assert s.conversation("c1") == []
        s.close()
    assert list(tmp_path.iterdir()) == []


def test_ipyllm_home_holds_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPYLLM_HISTORY", raising=False)
    monkeypatch.setenv("IPYLLM_HOME", str(tmp_path / "deep" / "home"))
    s = HistoryStore.default()
    assert s.enabled
    assert s.path == tmp_path / "deep" / "home" / "history.sqlite3"
    written(s, make())
    s.close()
    assert s.path.is_file()


def test_default_without_home_uses_the_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("IPYLLM_HISTORY", raising=False)
    monkeypatch.delenv("IPYLLM_HOME", raising=False)
    s = HistoryStore.default()
    assert s.path == Path(platformdirs.user_data_dir("ipyllm")) / "history.sqlite3"


def test_corrupt_file_warns_once_then_history_is_off(db: Path) -> None:
    db.write_bytes(b"this is not a sqlite database at all\x00\xff" * 200)
    s = HistoryStore(db)
    with pytest.warns(RuntimeWarning, match="not a readable SQLite database") as caught:
        written(s, make())
    assert len(caught) == 1
    message = str(caught[0].message)
    assert str(db) in message
    assert "delete" in message
    assert "IPYLLM_HOME" in message
    assert "IPYLLM_HISTORY=0" in message
    assert not s.enabled
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        s.record(make(turn_index=1))
        assert s.flush()
        assert s.search("x") == []
        assert s.conversation("c1") == []
        assert s.conversations() == []
        s.close()
    assert later == []
    assert db.read_bytes().startswith(b"this is not")  # the user's file is left alone


def test_corrupt_file_found_by_a_read_first(db: Path) -> None:
    db.write_bytes(b"garbage" * 1000)
    s = HistoryStore(db)
    with pytest.warns(RuntimeWarning, match="not a readable") as caught:
        found = s.search()
    assert found == []
    assert len(caught) == 1
    assert s.conversation("c1") == []
    s.record(make())  # dropped silently
    s.close()


def test_unwritable_directory_warns_and_turns_off(tmp_path: Path) -> None:
    # A directory cannot be created under a regular file (works even as root).
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    s = HistoryStore(blocker / "sub" / "history.sqlite3")
    with pytest.warns(RuntimeWarning, match="cannot write") as caught:
        written(s, make())
    assert len(caught) == 1
    assert "IPYLLM_HOME" in str(caught[0].message)
    assert not s.enabled
    s.close()


def test_newer_schema_is_left_alone(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    s = HistoryStore(db)
    with pytest.warns(RuntimeWarning, match="newer ipyllm"):
        written(s, make())
    s.close()


def test_lock_held_too_long_warns_without_blocking_the_caller(db: Path) -> None:
    s = HistoryStore(db, busy_timeout=1.0)
    written(s, make(turn_index=0))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.warns(RuntimeWarning, match="locked") as caught:
            took, until_flushed = timed(s, make(turn_index=1))
        assert took < 0.5  # record() returned before the writer gave up on the lock
        assert 0.9 < until_flushed < 4.0  # waited about busy_timeout, not the default 5 s
        assert len(caught) == 1
        assert str(db) in str(caught[0].message)
        assert not s.enabled
        s.record(make(turn_index=2))
        assert s.search() == []
    finally:
        other.execute("ROLLBACK")
        other.close()
        s.close()
    assert [r.turn_index for r in HistoryStore(db).conversation("c1")] == [0]


def test_record_does_not_wait_for_the_writer(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store._write_batch
    started, release = threading.Event(), threading.Event()

    def blocked(conn: sqlite3.Connection, records: list[TurnRecord]) -> None:
        started.set()
        release.wait(10)
        real(conn, records)

    monkeypatch.setattr(store, "_write_batch", blocked)
    store.record(make(turn_index=0))
    assert started.wait(10)
    # The writer is stuck until released: five more records must still return.
    recording = threading.Thread(
        target=lambda: [store.record(make(turn_index=i)) for i in range(1, 6)]
    )
    recording.start()
    recording.join(5)
    assert not recording.is_alive(), "record() waited for the writer"
    assert not store.flush(timeout=0.01)  # still busy: flush reports the timeout
    release.set()
    assert store.flush()
    assert len(store.search()) == 6


def test_record_from_many_threads(store: HistoryStore) -> None:
    def work(conversation: int) -> None:
        for i in range(25):
            store.record(make(f"c{conversation}", i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.flush()
    assert len(store.search(limit=1000)) == 200
    assert len(store.conversations(limit=100)) == 8


def test_keys_never_reach_the_file(store: HistoryStore, db: Path) -> None:
    secret = "planted-Secret-0123456789abcdef"
    register_secret(secret)
    shaped = "sk-proj-" + "A1b2C3d4" * 4  # never registered, but shaped like a key
    rec = make(
        title=f"tab {secret}",
        query=f"my key is {secret}",
        full_query=[
            {"role": "system", "content": f"key={shaped}"},
            {"role": "user", "content": f"my key is {secret}"},
        ],
        text=f"you said {secret}",
        reasoning=f"the user pasted {shaped}",
        status="error",
        error=f"AuthenticationError: bad key {secret}",
    )
    written(store, rec)
    stored = store.conversation("c1")[0]
    assert "[REDACTED]" in stored.query
    assert stored.full_query[1]["content"] == "my key is [REDACTED]"
    blobs = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))
    assert secret.encode() not in blobs
    assert shaped.encode() not in blobs


def test_history_list_renders_as_table_and_lines(store: HistoryStore) -> None:
    written(
        store,
        make("a", 0, query="<script>alert('x')</script>", title="A & B", text="<b>bold</b>"),
        make("a", 1, query="second\nline " + "long " * 40, cost=None, tokens_in=None),
    )
    entries = store.search()
    page = entries._repr_html_()
    assert page.count("<table") == 1
    assert page.count("<tr>") == 3  # header and two entries
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "A &amp; B" in page
    assert "<b>bold" not in page
    lines = repr(entries).splitlines()
    assert len(lines) == 3  # header and one line per entry
    assert lines[1].startswith("2023-11-")
    assert "second line long" in lines[1]
    assert "<script>" in lines[2]
    assert str(entries) == repr(entries)
    assert "openai:gpt-4o-mini" in repr(entries[0])
    assert "\n" not in repr(entries[0])
    assert len(repr(entries[0])) < 150
    assert repr(HistoryList()) == "(no history)"
    assert "<table" in HistoryList()._repr_html_()


def test_records_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().text = "changed"  # type: ignore[misc]


def test_warnings_as_errors_do_not_kill_the_writer(db: Path) -> None:
    db.write_bytes(b"garbage" * 1000)
    s = HistoryStore(db)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.record(make())
        assert s.flush()  # the writer survived its own warning turning into an exception
    assert not s.enabled
    s.close()


def test_importing_the_store_loads_neither_sqlite_nor_platformdirs() -> None:
    code = (
        "import sys, json, ipyllm._manager.history; "
        "print(json.dumps([m for m in ('sqlite3', 'platformdirs') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
