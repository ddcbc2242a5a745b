"""History in O(n): each message stored once, schema 1 migrated on open, restore() sending
what was sent; ``max_history`` through every front door; context-length errors.

Everything runs against the loopback fake server and real SQLite files in tmp_path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from ipyllm._manager.history import SCHEMA_VERSION, HistoryStore, TurnRecord
from ipyllm._manager.manager import SessionManager
from ipyllm._manager.tab import Tab
from ipyllm._panel.controller import PanelController
from ipyllm.testing import FakeLLMServer, Reply
from waiting import wait_until

KEY = "test-key-history-compact-0123"
WAIT = 10.0


def opts(fake: FakeLLMServer, provider: str = "openai", **more: Any) -> dict[str, Any]:
    return {"api_key": KEY, "base_url": fake.base_url(provider), "max_retries": 0, **more}


def sent(fake: FakeLLMServer) -> list[dict[str, str]]:
    """The messages of the latest request (OpenAI format)."""
    messages: list[dict[str, str]] = fake.requests[-1].json["messages"]
    return messages


def pair(query: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": query}, {"role": "assistant", "content": answer}]


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[SessionManager]:
    """A manager of its own, saving to a history file in tmp_path."""
    mgr = SessionManager(history=HistoryStore(tmp_path / "history.sqlite3"))
    yield mgr
    for tab in mgr.tabs:
        tab.close()
    mgr.history.close()


def run_turns(tab: Tab, fake: FakeLLMServer, n: int, **options: Any) -> list[list[Any]]:
    """Send ``n`` prompts, each answered ``"answer i"``; the messages each request carried."""
    requests = []
    for i in range(n):
        fake.add_reply(Reply(f"answer {i}"))
        assert tab.send(f"question {i}", **opts(fake, **options)).wait(WAIT)
        assert tab.status == "done", tab.error
        requests.append(sent(fake))
    return requests


# ---- schema 1 -> 2 --------------------------------------------------------------------------

V1_SCHEMA = """CREATE TABLE turns (
    conversation_id TEXT NOT NULL, turn_index INTEGER NOT NULL, title TEXT NOT NULL,
    model TEXT NOT NULL, query TEXT NOT NULL, full_query TEXT NOT NULL,
    text TEXT NOT NULL, reasoning TEXT, status TEXT NOT NULL, tokens_in INTEGER,
    tokens_out INTEGER, cost REAL, error TEXT, started_at REAL NOT NULL,
    ttft_s REAL, elapsed_s REAL, finish_reason TEXT,
    UNIQUE (conversation_id, turn_index))"""
V1_COLUMNS = (
    "conversation_id", "turn_index", "title", "model", "query", "full_query", "text",
    "reasoning", "status", "tokens_in", "tokens_out", "cost", "error", "started_at", "ttft_s",
    "elapsed_s", "finish_reason",
)  # fmt: skip


def v1_row(cid: str, i: int, full_query: list[dict[str, str]], **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "conversation_id": cid, "turn_index": i, "title": "Old tab ✓", "model": "openai:m",
        "query": f"q{i}", "full_query": full_query, "text": f"a{i}", "reasoning": None,
        "status": "done", "tokens_in": 3, "tokens_out": 4, "cost": 0.5, "error": None,
        "started_at": 1_700_000_000.0 + i, "ttft_s": 0.1, "elapsed_s": 0.2,
        "finish_reason": "stop",
    }  # fmt: skip
    row.update(fields)
    return row


def write_v1(db: Path, rows: list[dict[str, Any]]) -> None:
    """A database as ipyllm with schema 1 left it: 0600, WAL, user_version 1."""
    os.close(os.open(db, os.O_RDWR | os.O_CREAT, 0o600))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(V1_SCHEMA)
    conn.execute("CREATE INDEX turns_started_at ON turns (started_at)")
    for row in rows:
        values = {**row, "full_query": json.dumps(row["full_query"], ensure_ascii=False)}
        conn.execute(
            f"INSERT INTO turns VALUES ({', '.join('?' * len(V1_COLUMNS))})",
            [values[c] for c in V1_COLUMNS],
        )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def v1_conversations() -> list[dict[str, Any]]:
    """Rows of every shape schema 1 holds: a plain chain, a failed turn (not in later
    history), a stopped one (in it), context in front of a prompt, a system message, a
    list that is no tab's (kept as it was), and a second conversation."""
    u0 = {"role": "user", "content": "q0"}
    chain = [
        v1_row("c1", 0, [u0]),
        v1_row("c1", 1, [*pair("q0", "a0"), {"role": "user", "content": "q1"}],
               status="error", text="", error="ServerError: 503", finish_reason=None),
        v1_row("c1", 2, [*pair("q0", "a0"), {"role": "user", "content": "ctx\n\nq2"}],
               status="stopped", reasoning="hmm…", finish_reason="stopped"),
        v1_row("c1", 3, [*pair("q0", "a0"), *pair("q2", "a2"),
                         {"role": "user", "content": "q3 ünï 🐍"}], query="q3 ünï 🐍"),
        v1_row("c1", 4, [{"role": "system", "content": "be brief"}, u0]),
        v1_row("c2", 0, [{"role": "user", "content": "other"}], query="other", title="B"),
        v1_row("c2", 1, [{"role": "user", "content": "not the history"}]),
    ]  # fmt: skip
    return chain


def as_record(row: dict[str, Any], **fields: Any) -> TurnRecord:
    values = {c: row[c] for c in V1_COLUMNS}
    return TurnRecord(**{**values, **fields})


def test_a_schema_1_database_migrates_on_open_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    rows = v1_conversations()
    write_v1(db, rows)
    store = HistoryStore(db)
    try:
        # Opened to read only: it migrates anyway, and every turn and list survives.
        c1, c2 = store.conversation("c1"), store.conversation("c2")
        assert [r.full_query for r in c1 + c2] == [r["full_query"] for r in rows]
        for record, row in zip(c1 + c2, rows, strict=True):
            assert {c: getattr(record, c) for c in V1_COLUMNS} == row
        assert len(store.search(limit=100)) == len(rows)
        assert [e.query for e in store.search("ünï")] == ["q3 ünï 🐍"]
    finally:
        store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        stored = conn.execute(
            "SELECT conversation_id, turn_index, extends, kept, prompt, messages IS NOT NULL "
            "FROM turns ORDER BY conversation_id, turn_index"
        ).fetchall()
        indexes = [r[1] for r in conn.execute("PRAGMA index_list(turns)")]
    conn.close()
    # What a tab would have sent is kept by reference; the two lists no tab sends as they are.
    assert stored == [
        ("c1", 0, None, None, None, 0),
        ("c1", 1, 0, None, None, 0),
        ("c1", 2, 0, None, "ctx\n\nq2", 0),
        ("c1", 3, 2, None, None, 0),
        ("c1", 4, 3, None, None, 1),
        ("c2", 0, None, None, None, 0),
        ("c2", 1, 0, None, None, 1),
    ]
    assert "turns_started_at" in indexes
    if os.name == "posix":
        assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_a_migrated_conversation_restores_and_goes_on(fake: FakeLLMServer, tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    rows = v1_conversations()[:4]  # c1 up to its stopped and context turns
    write_v1(db, rows)
    mgr = SessionManager(history=HistoryStore(db))
    try:
        tab = mgr.restore("c1")
        assert [t.full_query for t in tab.turns] == [r["full_query"] for r in rows]
        fake.add_reply(Reply("a4"))
        assert tab.send("q4", **opts(fake)).wait(WAIT)
        # The failed turn stays out; the stopped one and the answers go along.
        assert sent(fake) == [*pair("q0", "a0"), *pair("q2", "a2"), *pair("q3 ünï 🐍", "a3"),
                              {"role": "user", "content": "q4"}]  # fmt: skip
        assert mgr.history.flush(5)
        assert mgr.history.conversation("c1")[-1].full_query == sent(fake)
    finally:
        mgr.history.close()


def test_a_schema_1_database_written_to_first_migrates_too(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    rows = v1_conversations()
    write_v1(db, rows)
    store = HistoryStore(db)
    new = as_record(v1_row("c3", 0, []), full_query=None, query="fresh", text="new")
    store.record(new)
    assert store.flush()
    assert [r.full_query for r in store.conversation("c1")] == [
        r["full_query"] for r in rows if r["conversation_id"] == "c1"
    ]
    assert store.conversation("c3") == [
        dataclasses.replace(new, full_query=[{"role": "user", "content": "fresh"}])
    ]
    store.close()


def test_records_written_with_their_own_list_round_trip(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    row = v1_row("c", 0, [{"role": "system", "content": "s"}, {"role": "user", "content": "q0"}])
    record = as_record(row)
    store.record(record)
    assert store.flush()
    assert store.conversation("c") == [record]
    assert store.conversation("c", fill=False) == [record]
    store.close()


# ---- restore() sends what was sent ---------------------------------------------------------


def test_restore_rebuilds_every_turn_exactly_as_the_provider_received_it(
    fake: FakeLLMServer, manager: SessionManager, tmp_path: Path
) -> None:
    other = manager.new_tab("notes", "openai:m")
    run_turns(other, fake, 1)
    tab = manager.new_tab("main", "openai:m")
    requests = run_turns(tab, fake, 3)
    fake.add_reply(Reply(status=500, error_message="down"))  # failed: not in later history
    assert tab.send("fails", **opts(fake)).wait(WAIT)
    assert tab.status == "error"
    requests.append(sent(fake))
    fake.add_reply(Reply([f"w{i} " for i in range(200)], delay_s=0.02))
    tab.send("stopped one", **opts(fake))
    assert wait_until(lambda: len(tab.text) > 0)
    tab.stop()
    assert tab.turns[-1].settled.wait(WAIT)
    assert tab.status == "stopped"
    requests.append(sent(fake))
    fake.add_reply(Reply("with context"))
    assert tab.send("use the notes", context=["notes"], **opts(fake)).wait(WAIT)
    requests.append(sent(fake))
    fake.add_reply(Reply("short"))
    assert tab.send("only the last two", **opts(fake, max_history=2)).wait(WAIT)
    requests.append(sent(fake))
    fake.add_reply(Reply("none"))
    assert tab.send("no history", **opts(fake, max_history=0)).wait(WAIT)
    requests.append(sent(fake))

    assert [t.full_query for t in tab.turns] == requests
    assert requests[-2][:4] == [*pair("stopped one", tab.turns[4].text),
                                *pair("use the notes", "with context")]  # fmt: skip
    assert requests[-1] == [{"role": "user", "content": "no history"}]
    assert manager.history.flush(5)
    records = manager.history.conversation(tab.conversation_id)
    assert [r.full_query for r in records] == requests

    later = SessionManager(history=HistoryStore(tmp_path / "history.sqlite3"))
    try:
        restored = later.restore(tab.conversation_id)
        assert [t.full_query for t in restored.turns] == requests
        assert restored.messages == tab.messages
        fake.add_reply(Reply("next"))
        assert restored.send("and next", **opts(fake)).wait(WAIT)
        assert sent(fake) == [*tab.messages, {"role": "user", "content": "and next"}]
    finally:
        for t in later.tabs:
            t.close()
        later.history.close()


# ---- O(n) at rest and in memory ------------------------------------------------------------


def test_200_turns_store_each_message_once(
    fake: FakeLLMServer, manager: SessionManager, tmp_path: Path
) -> None:
    n = 200
    tab = manager.new_tab("long", "openai:m")
    requests = run_turns(tab, fake, n)
    assert len(requests[-1]) == 2 * n - 1  # everything was sent
    assert manager.history.flush(10)
    manager.history.close()
    db = tmp_path / "history.sqlite3"
    text = sum(len(f"question {i}") + len(f"answer {i}") for i in range(n))
    with sqlite3.connect(db) as conn:
        rows, lists, stored = conn.execute(
            "SELECT count(*), count(messages), "
            "sum(length(query) + length(text) + coalesce(length(prompt), 0)) FROM turns"
        ).fetchone()
        # Every prompt and every answer is in exactly one row, once.
        everything = "\x00".join(
            "\x00".join(str(v) for v in row if v is not None)
            for row in conn.execute("SELECT * FROM turns")
        )
    conn.close()
    assert (rows, lists, stored) == (n, 0, text)
    for i in (0, 1, 57, 150, n - 1):
        assert everything.count(f"answer {i}\x00") == 1
        assert everything.count(f"question {i}\x00") == 1
    assert db.stat().st_size < 3 * text + 64 * 1024
    # ...and the lists come back whole.
    store = HistoryStore(db)
    assert [r.full_query for r in store.conversation(tab.conversation_id)] == requests
    store.close()


def test_turns_keep_no_copy_of_the_conversation(fake: FakeLLMServer) -> None:
    tab = ipyllm.manager().new_tab(f"mem-{uuid.uuid4().hex[:6]}", "openai:m")
    try:
        requests = run_turns(tab, fake, 30)
        for turn, request in zip(tab.turns, requests, strict=True):
            # A reference to the turn before and the turn's own strings, nothing more.
            lists = {k: v for k, v in vars(turn).items() if isinstance(v, list)}
            assert lists == {"_text": [turn.text], "_reasoning": [], "steps": [], "tool_calls": []}
            assert turn.extends is (tab.turns[turn.index - 1] if turn.index else None)
            assert turn.prompt is turn.query
            assert turn.full_query == request
    finally:
        tab.close()


# ---- max_history through every front door --------------------------------------------------


def test_max_history_on_send_and_on_the_tab(fake: FakeLLMServer) -> None:
    tab = ipyllm.manager().new_tab(f"mh-{uuid.uuid4().hex[:6]}", "openai:m")
    try:
        run_turns(tab, fake, 4)
        assert tab.max_history is None
        fake.add_reply(Reply("x"))
        assert tab.send("two", **opts(fake, max_history=2, system="Be brief.")).wait(WAIT)
        assert sent(fake) == [
            {"role": "system", "content": "Be brief."},
            *pair("question 2", "answer 2"),
            *pair("question 3", "answer 3"),
            {"role": "user", "content": "two"},
        ]
        tab.max_history = 1
        fake.add_reply(Reply("y"))
        assert tab.send("one", **opts(fake)).wait(WAIT)
        assert sent(fake) == [*pair("two", "x"), {"role": "user", "content": "one"}]
        fake.add_reply(Reply("z"))
        assert tab.send("all", **opts(fake, max_history=100)).wait(WAIT)
        assert len(sent(fake)) == 2 * 6 + 1
        tab.max_history = None
        fake.add_reply(Reply("w"))
        assert tab.send("all again", **opts(fake)).wait(WAIT)
        assert len(sent(fake)) == 2 * 7 + 1
    finally:
        tab.close()


def test_max_history_keeps_the_context_of_other_tabs(fake: FakeLLMServer) -> None:
    mgr = ipyllm.manager()
    notes = mgr.new_tab(f"notes-{uuid.uuid4().hex[:6]}", "openai:m")
    tab = mgr.new_tab(f"ctx-{uuid.uuid4().hex[:6]}", "openai:m")
    try:
        run_turns(notes, fake, 1)
        run_turns(tab, fake, 2)
        fake.add_reply(Reply("ok"))
        assert tab.send("q", context=[notes.title], **opts(fake, max_history=0)).wait(WAIT)
        [message] = sent(fake)
        assert message["content"].startswith(f'<context tab="{notes.title}">')
        assert message["content"].endswith("\n\nq")
    finally:
        notes.close()
        tab.close()


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_a_bad_max_history_is_refused_before_anything_is_sent(
    fake: FakeLLMServer, bad: object
) -> None:
    tab = ipyllm.manager().new_tab(f"bad-{uuid.uuid4().hex[:6]}", "openai:m")
    try:
        with pytest.raises(ipyllm.InvalidOptionError, match="max_history"):
            tab.send("hi", **opts(fake, max_history=bad))
        with pytest.raises(ipyllm.InvalidOptionError, match="max_history"):
            tab.max_history = bad  # type: ignore[assignment]
        with pytest.raises(ipyllm.InvalidOptionError, match="max_history"):
            ipyllm.Session("openai:m", api_key=KEY, base_url=fake.base_url(), max_history=bad)  # type: ignore[arg-type]
        assert (tab.turns, tab.max_history, fake.requests) == ([], None, [])
    finally:
        tab.close()


def test_session_max_history(fake: FakeLLMServer) -> None:
    s = ipyllm.Session(
        "openai:m", api_key=KEY, base_url=fake.base_url(), max_retries=0, max_history=1
    )
    try:
        for i in range(3):
            fake.add_reply(Reply(f"a{i}"))
            s.ask(f"q{i}")
        assert sent(fake) == [*pair("q1", "a1"), {"role": "user", "content": "q2"}]
        fake.add_reply(Reply("a3"))
        s.ask("q3", max_history=0)  # one call's own
        assert sent(fake) == [{"role": "user", "content": "q3"}]
        assert len(s.messages) == 8  # the conversation itself is whole
    finally:
        s.tab.close()


def test_magic_max_history(ip: InteractiveShell, fake: FakeLLMServer) -> None:
    name = f"fake{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
    for i in range(3):
        fake.add_reply(f"a{i}")
        result = ip.run_cell(f"%%llm {name}:m -t hist\nq{i}")
        assert result.success, result.error_in_exec
    assert len(sent(fake)) == 5
    fake.add_reply("a3")
    result = ip.run_cell(f"%%llm {name}:m -t hist -H 1\nq3")
    assert result.success, result.error_in_exec
    assert sent(fake) == [*pair("q2", "a2"), {"role": "user", "content": "q3"}]
    fake.add_reply("a4")
    result = ip.run_cell(f"%%llm {name}:m -t hist --max-history 0\nq4")
    assert result.success, result.error_in_exec
    assert sent(fake) == [{"role": "user", "content": "q4"}]
    requests = len(fake.requests)
    result = ip.run_cell(f"%%llm {name}:m -t hist -H -2\nq5")
    assert isinstance(result.error_in_exec, UsageError)
    assert "max_history" in str(result.error_in_exec)
    assert len(fake.requests) == requests


def test_panel_max_history(fake: FakeLLMServer) -> None:
    name = f"fake{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
    manager = SessionManager()
    messages: list[dict[str, Any]] = []

    class Model:
        def __init__(self) -> None:
            self.tabs: list[dict[str, Any]] = []
            self.providers: list[dict[str, Any]] = []
            self.default_model = ""

        def send(self, content: dict[str, Any], buffers: Any = None) -> None:
            messages.append(content)

    model = Model()
    controller = PanelController(model, manager)
    try:
        tab = manager.new_tab("panel", f"{name}:m")

        def send(prompt: str, **more: Any) -> None:
            fake.add_reply(Reply(f"re {prompt}"))
            controller.handle(None, {"type": "send", "tab": tab.id, "prompt": prompt, **more})
            assert wait_until(lambda: tab.turns[-1].settled.is_set())
            assert tab.status == "done", (tab.error, messages)

        for i in range(3):
            send(f"p{i}")
        send("one back", max_history=1)
        assert sent(fake) == [*pair("p2", "re p2"), {"role": "user", "content": "one back"}]

        controller.handle(None, {"type": "set_max_history", "tab": tab.id, "max_history": 0})
        assert tab.max_history == 0
        assert wait_until(lambda: [t["max_history"] for t in model.tabs] == [0])
        send("alone")
        assert sent(fake) == [{"role": "user", "content": "alone"}]

        requests = len(fake.requests)
        controller.handle(None, {"type": "set_max_history", "tab": tab.id, "max_history": -1})
        controller.handle(None, {"type": "send", "tab": tab.id, "prompt": "x", "max_history": "2"})
        errors = [m for m in messages if m["type"] == "error"]
        assert len(errors) == 2
        assert all("max_history" in e["message"] for e in errors)
        assert (tab.max_history, len(fake.requests)) == (0, requests)
    finally:
        controller.close()
        for t in manager.tabs:
            t.close()


# ---- the context window is full ------------------------------------------------------------

OPENAI_BODY = json.dumps(
    {
        "error": {
            "message": "This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 130415 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
).encode()
CODE_ONLY_BODY = json.dumps(
    {"error": {"message": "Too many tokens.", "type": "invalid_request_error",
               "code": "context_length_exceeded"}}
).encode()  # fmt: skip

CONTEXT_CASES = [
    pytest.param("openai", Reply(body=OPENAI_BODY, status=400), "maximum context length",
                 id="openai"),
    pytest.param("openai", Reply(body=CODE_ONLY_BODY, status=400), "Too many tokens",
                 id="openai-code-only"),
    pytest.param("anthropic",
                 Reply(status=400,
                       error_message="prompt is too long: 215321 tokens > 200000 maximum"),
                 "prompt is too long", id="anthropic"),
    pytest.param("anthropic",
                 Reply(status=400, error_message="input length and `max_tokens` exceed context "
                       "limit: 197000 + 8192 > 200000, decrease input length or `max_tokens`"),
                 "exceed context limit", id="anthropic-with-max-tokens"),
    pytest.param("gemini",
                 Reply(status=400, error_message="The input token count (1200000) exceeds the "
                       "maximum number of tokens allowed (1048576)."),
                 "input token count", id="gemini"),
    pytest.param("compatible",
                 Reply(status=400, error_message="This model's maximum context length is 4096 "
                       "tokens. However, you requested 5000 tokens (4000 in the messages, 1000 "
                       "in the completion). Please reduce the length of the messages or "
                       "completion."),
                 "maximum context length is 4096", id="vllm"),
]  # fmt: skip


@pytest.mark.parametrize(("family", "reply", "quoted"), CONTEXT_CASES)
def test_a_full_context_window_is_one_error_that_says_what_to_do(
    fake: FakeLLMServer, family: str, reply: Reply, quoted: str
) -> None:
    if family == "compatible":
        name = f"vllm{uuid.uuid4().hex[:6]}"
        ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
        s = ipyllm.Session(f"{name}:m", max_retries=3)
    else:
        s = ipyllm.Session(f"{family}:m", api_key=KEY, base_url=fake.base_url(family),
                           max_retries=3)  # fmt: skip
    fake.add_reply(reply)
    fake.add_reply(Reply("a retry would have got this"))
    try:
        with pytest.raises(ipyllm.ContextLengthError) as caught:
            s.ask("one prompt too many")
    finally:
        s.tab.close()
    err = caught.value
    assert isinstance(err, ipyllm.BadRequestError)
    assert err.status == 400
    assert len(fake.requests) == 1, "a full context window was retried"
    message = str(err)
    assert quoted in message
    assert "new tab" in message
    assert "max_history" in message
    assert s.tab.status == "error"
    assert "max_history" in (s.tab.error or "")


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (400, "Invalid value for 'temperature'.", ipyllm.BadRequestError),
        (429, "Rate limit reached for tokens per min (TPM): Limit 30000", ipyllm.RateLimitError),
        (503, "maximum context length of the pool reached; try later", ipyllm.ServerError),
    ],
)
def test_other_errors_are_not_taken_for_a_full_context_window(
    fake: FakeLLMServer, status: int, message: str, expected: type[Exception]
) -> None:
    s = ipyllm.Session("openai:m", api_key=KEY, base_url=fake.base_url(), max_retries=0)
    fake.add_reply(Reply(status=status, error_message=message))
    try:
        with pytest.raises(expected) as caught:
            s.ask("hi")
    finally:
        s.tab.close()
    assert type(caught.value) is expected


# ---- two stores on one file ----------------------------------------------------------------


def test_a_second_store_on_the_same_file_leaves_the_first_ones_locks(tmp_path: Path) -> None:
    # Opening and closing the database file by hand drops every POSIX lock this process's
    # SQLite connections hold on it; another process that closes the database then takes
    # itself for the last user, checkpoints and deletes the WAL under the first store
    # ("disk I/O error", history off: what made whole test runs flaky).
    db = tmp_path / "history.sqlite3"
    first, second = HistoryStore(db), HistoryStore(db)
    try:
        first.record(as_record(v1_row("a", 0, [])))
        assert first.flush()
        assert first.search()  # its writer's and a reader's connections have been open
        second.record(as_record(v1_row("b", 0, [])))
        assert second.flush()
        src = Path(ipyllm.__file__).parent.parent
        child = (
            f"import sys; sys.path.insert(0, {str(src)!r})\n"
            "from ipyllm._manager.history import HistoryStore\n"
            f"s = HistoryStore({str(db)!r}); assert len(s.search()) == 2; s.close()"
        )
        subprocess.run([sys.executable, "-c", child], check=True, timeout=60)
        first.record(as_record(v1_row("a", 1, [])))
        assert first.flush()
        assert first.enabled
        assert len(first.search()) == 3
    finally:
        first.close()
        second.close()
