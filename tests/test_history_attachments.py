"""History keeps attachments: each stored once by content hash (schema 4), brought back
by ``conversation()`` and ``restore()`` so that later prompts send them again; schema 3
files migrate. Real SQLite files in tmp_path, the loopback fake server, a real
matplotlib figure (Agg)."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ipyllm
from attachment_samples import TINY_PDF, figure
from ipyllm._attachments import to_attachment
from ipyllm._manager.history import SCHEMA_VERSION, HistoryStore
from ipyllm._manager.history_schema import _MIGRATIONS
from ipyllm._manager.manager import SessionManager
from ipyllm.testing import FakeLLMServer, Reply

KEY = "test-key-history-attachments-0123"
WAIT = 10.0


def opts(fake: FakeLLMServer, **more: Any) -> dict[str, Any]:
    return {"api_key": KEY, "base_url": fake.base_url("openai"), "max_retries": 0, **more}


def image_urls(fake: FakeLLMServer) -> list[str]:
    """The image parts of the latest request (OpenAI format), in order."""
    urls = []
    for message in fake.requests[-1].json["messages"]:
        content = message["content"]
        if isinstance(content, list):
            urls += [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    return urls


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def manager(db: Path) -> Iterator[SessionManager]:
    mgr = SessionManager(history=HistoryStore(db))
    yield mgr
    for tab in mgr.tabs:
        tab.close()
    mgr.history.close()


def test_100_turns_with_the_same_figure_store_it_once_and_restore_sends_it_again(
    fake: FakeLLMServer, manager: SessionManager, db: Path
) -> None:
    fig = figure()
    png = to_attachment(fig).data
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    tab = manager.new_tab("plots", "openai:gpt-4o-mini")
    for i in range(100):
        fake.add_reply(Reply(f"answer {i}"))
        # max_history=1 keeps the requests small: the history's copy goes along too.
        assert tab.send([f"question {i}", fig], **opts(fake, max_history=1)).wait(WAIT)
        assert tab.status == "done", tab.error
    assert image_urls(fake) == [uri, uri]
    assert manager.history.flush(WAIT)
    manager.history.close()

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM attachments").fetchone()[0] == 1
        (stored,) = conn.execute("SELECT data FROM attachments").fetchone()
        hashes = {r[0] for r in conn.execute("SELECT attachments FROM turns")}
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert stored == png
    assert len(hashes) == 1  # every turn names the same one
    # 100 copies would be 100 × the PNG; one copy and 100 small rows is far less.
    assert db.stat().st_size < 5 * len(png)
    if os.name == "posix":
        assert stat.S_IMODE(db.stat().st_mode) == 0o600

    # A new process's view: the figure comes back with every turn, and goes again.
    store = HistoryStore(db)
    again = SessionManager(history=store)
    try:
        records = store.conversation(tab.conversation_id)
        assert [len(r.attachments or ()) for r in records] == [1] * 100
        assert records[5].full_query is not None
        assert records[5].full_query[-1]["attachments"][0].data == png
        restored = again.restore(tab.conversation_id)
        assert [t.attachments[0].data for t in restored.turns] == [png] * 100
        fake.add_reply(Reply("the same plot, a hundred times"))
        assert restored.send("What did I show you?", **opts(fake, max_history=3)).wait(WAIT)
        assert restored.status == "done", restored.error
        assert image_urls(fake) == [uri] * 3
        assert fake.requests[-1].json["messages"][-1]["content"] == "What did I show you?"
    finally:
        for t in again.tabs:
            t.close()
        store.close()


def test_a_pdf_and_an_image_url_round_trip(
    fake: FakeLLMServer, manager: SessionManager, db: Path
) -> None:
    tab = manager.new_tab("docs", "openai:gpt-4o-mini")
    pdf = ipyllm.File(TINY_PDF)
    url = ipyllm.Image("https://example.com/chart.png")
    fake.add_reply(Reply("ok"))
    assert tab.send(["Read these.", pdf, url], **opts(fake)).wait(WAIT)
    assert manager.history.flush(WAIT)
    (record,) = manager.history.conversation(tab.conversation_id)
    assert record.attachments == [pdf.attachment, url.attachment]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT kind, url, length(data) FROM attachments ORDER BY kind")
        assert sorted(rows.fetchall()) == [
            ("image", "https://example.com/chart.png", 0),
            ("pdf", None, len(TINY_PDF)),
        ]
    conn.close()


def write_v3(db: Path) -> None:
    """A database as ipyllm with schema 3 left it, holding one turn."""
    os.close(os.open(db, os.O_RDWR | os.O_CREAT, 0o600))
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for steps in _MIGRATIONS[:3]:
        for step in steps:
            if isinstance(step, str):
                conn.execute(step)
            else:
                step(conn)
    conn.execute(
        "INSERT INTO turns (conversation_id, turn_index, title, model, query, text, status, "
        "started_at) VALUES ('c3', 0, 'old', 'openai:gpt-4o-mini', 'q0', 'a0', 'done', 1.0)"
    )
    conn.execute("PRAGMA user_version = 3")
    conn.close()


def test_a_schema_3_database_migrates_and_then_keeps_attachments(
    fake: FakeLLMServer, db: Path
) -> None:
    write_v3(db)
    mgr = SessionManager(history=HistoryStore(db))
    try:
        tab = mgr.restore("c3")
        (old,) = tab.turns
        assert (old.query, old.text, old.attachments) == ("q0", "a0", ())
        fake.add_reply(Reply("a1"))
        fig = figure()
        assert tab.send(["q1", fig], **opts(fake)).wait(WAIT)
        assert tab.status == "done", tab.error
        assert mgr.history.flush(WAIT)
        records = mgr.history.conversation("c3")
        assert [r.attachments for r in records] == [None, [to_attachment(fig)]]
    finally:
        for t in mgr.tabs:
            t.close()
        mgr.history.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert conn.execute("SELECT count(*) FROM attachments").fetchone()[0] == 1
    conn.close()
    if os.name == "posix":
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
