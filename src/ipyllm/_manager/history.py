"""The conversation history store: every finished turn, kept in SQLite across kernel restarts.

:meth:`HistoryStore.record` only enqueues; a daemon writer thread owns its own
connection and writes what is queued in one transaction. A broken database
(corrupt, unwritable, locked too long) warns once and turns history off for the
process; it never breaks the caller's session. Every stored text passes
through :func:`~ipyllm._errors.redact` first, so keys never reach the disk.

Prompts and answers are private: on POSIX the directory is created 0700 and
the database 0600 (SQLite gives its ``-wal`` and ``-shm`` files the database's
mode). An existing directory or file that is ours and open to others is
tightened to that whenever the store opens it; one that belongs to another
user is left alone. If that chmod fails, one warning says so and history
goes on.

Each message is stored once. A turn row holds its prompt and its answer; the
messages sent before its prompt are named, not copied: ``extends`` is the
turn whose conversation they continue (each turn of that chain adds its
prompt as typed and its answer) and ``kept`` how many of those turns went
along (``max_history``; NULL: all). ``prompt`` is the last message sent when it
differs from ``query`` (other tabs' context in front of it). A row whose
messages cannot be described that way (an old row, a record written with its
own list) keeps them in ``messages`` as JSON. :meth:`HistoryStore.conversation`
rebuilds the exact list each turn sent.

Attachments (images, files) are stored once each, by content hash, in the
``attachments`` table (``INSERT OR IGNORE``): a figure sent with a hundred turns is
one row. A turn's row names its own by hash (``attachments``, a JSON list); later
turns send them again as part of the history they extend. They are not redacted
(bytes of images and PDFs), and live in the same 0600 file.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import queue
import stat
import threading
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from .._errors import redact, redact_value
from .._types import Attachment
from .history_render import HistoryEntry, HistoryList
from .history_schema import SCHEMA_VERSION, Message, NewerSchemaError, migrate, user_message

if TYPE_CHECKING:
    import sqlite3

__all__ = ["HistoryEntry", "HistoryList", "HistoryStore", "TurnRecord"]

_FILENAME = "history.sqlite3"
_OFF = {"0", "false", "no", "off"}
_STOP = object()  # the writer's "drain and exit" marker
# SQLite's companions of the database: WAL mode's two, and a rollback journal.
_SIDECARS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One turn as stored.

    ``full_query`` is the list of messages sent. A tab writes ``None`` there and
    describes the list instead: the last ``kept`` turns (all if ``None``) of the
    conversation of turn ``extends``, then ``prompt`` (``query`` if ``None``) as the
    user's message. :meth:`HistoryStore.conversation` fills ``full_query`` in; message
    dicts may be shared between the records it returns.
    """

    conversation_id: str  # uuid hex of the tab's conversation
    title: str  # the tab's title at the time
    turn_index: int  # 0-based within the conversation
    model: str  # "provider:model" that answered (or was asked, if it failed)
    query: str
    full_query: list[Message] | None  # the messages actually sent: [{"role", "content"}]
    text: str  # the answer; partial if stopped or failed
    reasoning: str | None
    status: str  # "done" | "stopped" | "error"
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None  # USD
    error: str | None
    started_at: float  # epoch seconds
    ttft_s: float | None
    elapsed_s: float | None
    finish_reason: str | None
    extends: int | None = None  # turn_index whose conversation the history sent continues
    kept: int | None = None  # turns of that conversation sent (max_history); None: all
    prompt: str | None = None  # the last message sent, if not `query` (context added)
    # A turn that called tools: the messages between its prompt and its answer (each
    # round's assistant message and the calls' results), every call as a dict (id, name,
    # arguments, status, result as sent, error, elapsed_s), and where its answer starts
    # in `text` (the text before it is the earlier rounds').
    steps: list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    answer_from: int = 0
    attachments: list[Attachment] | None = None  # sent with `query` (later turns resend them)


# Columns in dataclass field order, so rows map straight onto TurnRecord / HistoryEntry;
# full_query is stored as `messages`, and only when the other fields cannot describe it.
_COLUMNS = tuple("messages" if f.name == "full_query" else f.name for f in fields(TurnRecord))
_ENTRY_COLUMNS = ", ".join(f.name for f in fields(HistoryEntry))
_KEYS = ("conversation_id", "turn_index")
_UPSERT = (
    f"INSERT INTO turns ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    f"ON CONFLICT ({', '.join(_KEYS)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in _KEYS)
)
_REDACTED = (
    "title", "query", "full_query", "text", "reasoning", "error", "prompt", "steps", "tool_calls",
)  # fmt: skip
_JSON = ("full_query", "steps", "tool_calls", "attachments")
_INSERT_ATTACHMENT = (
    "INSERT OR IGNORE INTO attachments (hash, kind, mime, name, width, height, url, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_ATTACHMENT_COLUMNS = "hash, kind, mime, name, width, height, url, data"
_CHUNK = 500  # hashes per SELECT ... IN (...), under SQLite's variable limit
_MATCH = "instr(fold(query), ?) OR instr(fold(text), ?) OR instr(fold(title), ?)"


def _row(rec: TurnRecord) -> tuple[Any, ...]:
    """``rec`` as a row of ``_COLUMNS``, every text redacted and full_query as JSON."""
    row = {f.name: getattr(rec, f.name) for f in fields(TurnRecord)}
    row["attachments"] = [attachment_hash(a) for a in rec.attachments or ()] or None
    if row["full_query"] is not None:
        row["full_query"] = [_hashed(m) for m in row["full_query"]]
    for name in _REDACTED:
        row[name] = redact_value(row[name])
    for name in _JSON:
        if row[name] is not None:
            row[name] = json.dumps(row[name], ensure_ascii=False, default=str)
    if row["prompt"] == row["query"]:
        row["prompt"] = None
    return tuple(row.values())


def attachment_hash(att: Attachment) -> str:
    """The key an attachment is stored under: a SHA-256 of everything it holds."""
    digest = hashlib.sha256()
    for part in (att.kind, att.mime, att.name or "", att.url or ""):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(att.data)
    return digest.hexdigest()


def _record_attachments(rec: TurnRecord) -> list[Attachment]:
    """Every attachment ``rec`` stores: its own, and any in a list of messages it keeps."""
    found = list(rec.attachments or ())
    for message in rec.full_query or ():
        found += message.get("attachments") or ()
    return found


def _hashed(message: Message) -> Message:
    """``message`` with its attachments named by hash (as stored)."""
    if not message.get("attachments"):
        return message
    return {**message, "attachments": [attachment_hash(a) for a in message["attachments"]]}


def _user(text: str, attachments: list[Attachment] | None) -> Message:
    message = user_message(text)
    if attachments:
        message["attachments"] = list(attachments)
    return message


# A conversation so far, as a list that later turns of the same chain extend in place;
# where each of its turns starts in it, then its length (also a list extended in place);
# and how many of those marks belong to it: most turns share both lists.
_Conversation: TypeAlias = tuple[list[Message], list[int], int]


def _rebuild(records: list[TurnRecord]) -> list[TurnRecord]:
    """``records`` (by turn_index) with ``full_query`` filled in from the rows they extend.

    A row whose ``extends`` is missing or not earlier than itself continues nothing.
    """
    conversations: dict[int, _Conversation] = {}
    out = []
    for rec in records:
        base: _Conversation = ([], [0], 1)
        if rec.extends is not None and rec.extends < rec.turn_index:
            base = conversations.get(rec.extends, base)
        messages, marks, count = base
        length = marks[count - 1]
        if rec.full_query is None:
            start = 0 if rec.kept is None else marks[max(0, count - 1 - rec.kept)]
            prompt = rec.query if rec.prompt is None else rec.prompt
            sent = [*messages[start:length], _user(prompt, rec.attachments)]
            rec = replace(rec, full_query=sent)
        if len(messages) != length:  # another turn extended these lists: branch off
            messages, marks = messages[:length], marks[:count]
        answer = rec.text[rec.answer_from :] if rec.answer_from else rec.text
        messages += (
            _user(rec.query, rec.attachments),
            *(rec.steps or ()),
            {"role": "assistant", "content": answer},
        )
        marks.append(len(messages))
        conversations[rec.turn_index] = (messages, marks, count + 1)
        out.append(rec)
    return out


def _from_row(row: tuple[Any, ...]) -> TurnRecord:
    """A record as stored: its attachments (and those of a list of messages it keeps) are
    still hashes, which :func:`_resolved` replaces."""
    values = dict(zip(_COLUMNS, row, strict=True))
    sent = values.pop("messages")
    for name in ("steps", "tool_calls", "attachments"):
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return TurnRecord(full_query=None if sent is None else json.loads(sent), **values)


def _hashes(rec: TurnRecord) -> list[str]:
    found: list[Any] = list(rec.attachments or ())
    for message in rec.full_query or ():
        found += message.get("attachments") or ()
    return [h for h in found if isinstance(h, str)]


def _resolved(rec: TurnRecord, stored: dict[str, Attachment]) -> TurnRecord:
    """``rec`` with its hashes replaced by the attachments stored under them (one object
    per hash, shared by every record); a hash not stored is dropped."""

    def named(hashes: Any) -> list[Attachment]:
        return [stored[h] for h in hashes or () if isinstance(h, str) and h in stored]

    if rec.attachments is None and not any("attachments" in m for m in rec.full_query or ()):
        return rec
    full_query = rec.full_query
    if full_query is not None:
        full_query = [
            {**m, "attachments": named(m["attachments"])} if "attachments" in m else m
            for m in full_query
        ]
    return replace(rec, attachments=named(rec.attachments) or None, full_query=full_query)


def _attachment_from_row(row: tuple[Any, ...]) -> tuple[str, Attachment]:
    key, kind, mime, name, width, height, url, data = row
    return key, Attachment(kind, mime, bytes(data), url, name, width, height)


def _fold(value: object) -> str:
    return value.casefold() if isinstance(value, str) else ""


class HistoryStore:
    """Turns in a SQLite file, written off the caller's thread; ``path=None`` disables it."""

    def __init__(self, path: Path | str | None, *, busy_timeout: float = 5.0) -> None:
        self.path = None if path is None else Path(path)
        self.busy_timeout = busy_timeout
        self._broken = False
        self._closed = False
        self._warned_private = False
        self._lock = threading.Lock()
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None

    @classmethod
    def default(cls) -> HistoryStore:
        """The store in ``$IPYLLM_HOME`` or the user data dir; off if ``IPYLLM_HISTORY=0``."""
        if os.environ.get("IPYLLM_HISTORY", "").strip().lower() in _OFF:
            return cls(None)
        home = os.environ.get("IPYLLM_HOME")
        if home:
            directory = Path(home).expanduser()
        else:
            import platformdirs

            directory = Path(platformdirs.user_data_dir("ipyllm"))
        return cls(directory / _FILENAME)

    @property
    def enabled(self) -> bool:
        """Whether turns are being saved (``False`` if disabled or broken)."""
        return self.path is not None and not self._broken

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"HistoryStore({str(self.path)!r}, {state})"

    def record(self, rec: TurnRecord) -> None:
        """Queue ``rec`` for writing and return at once; never raises."""
        if not self.enabled:
            return
        try:
            with self._lock:
                if self._closed:
                    return
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="ipyllm-history", daemon=True)
                    thread.start()
                    self._thread = thread
                    atexit.register(self.close)
                self._queue.put(rec)
        except Exception:  # e.g. no new threads at interpreter shutdown: drop the turn
            pass

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is handled; ``False`` only on timeout.

        "Handled" means written, or dropped because history turned itself off.
        """
        done = threading.Event()
        with self._lock:
            thread = self._thread
            if thread is None or not thread.is_alive():
                return self._queue.empty()
            self._queue.put(done)
        return done.wait(timeout)

    def search(self, search: str | None = None, limit: int = 50) -> HistoryList:
        """Past turns, newest first; ``search`` matches query, answer or title, any case."""
        where, params = "", []
        if search:
            where = f"WHERE {_MATCH}"
            params = [search.casefold()] * 3
        sql = (
            f"SELECT {_ENTRY_COLUMNS} FROM turns {where} "
            "ORDER BY started_at DESC, turn_index DESC LIMIT ?"
        )
        rows = self._read(sql, (*params, max(0, limit)))
        return HistoryList(HistoryEntry(*row) for row in rows)

    def conversation(self, conversation_id: str, *, fill: bool = True) -> list[TurnRecord]:
        """Every stored turn of one conversation, by ``turn_index``; ``[]`` if unknown.

        Each record's ``full_query`` is the exact list of messages its turn sent. With
        ``fill=False`` it stays ``None`` where ``extends``, ``kept`` and ``prompt``
        describe it (what a tab rebuilds by itself, in memory that grows with the
        conversation, not with its square).
        """
        sql = (
            f"SELECT {', '.join(_COLUMNS)} FROM turns WHERE conversation_id = ? ORDER BY turn_index"
        )
        records = [_from_row(row) for row in self._read(sql, (conversation_id,))]
        hashes = sorted({h for rec in records for h in _hashes(rec)})
        stored: dict[str, Attachment] = {}
        for i in range(0, len(hashes), _CHUNK):
            chunk = hashes[i : i + _CHUNK]
            sql = (
                f"SELECT {_ATTACHMENT_COLUMNS} FROM attachments "
                f"WHERE hash IN ({', '.join('?' * len(chunk))})"
            )
            stored.update(_attachment_from_row(row) for row in self._read(sql, tuple(chunk)))
        records = [_resolved(rec, stored) for rec in records]
        return _rebuild(records) if fill else records

    def conversations(self, limit: int = 50) -> list[tuple[str, str, float]]:
        """``(conversation_id, latest title, last started_at)``, most recent first."""
        # SQLite takes the bare column `title` from the row that holds max(started_at).
        sql = (
            "SELECT conversation_id, title, max(started_at) AS last FROM turns "
            "GROUP BY conversation_id ORDER BY last DESC LIMIT ?"
        )
        return [(c, t, s) for c, t, s in self._read(sql, (max(0, limit),))]

    def close(self) -> None:
        """Write what is queued, stop the writer and close its connection; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(self.busy_timeout + 5.0)
        atexit.unregister(self.close)

    # -- internals ---------------------------------------------------------------------------

    def _connect(self, *, write: bool) -> sqlite3.Connection:
        import sqlite3

        assert self.path is not None
        if write:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # SQLite would create the file 0644 (less the umask), and its -wal and -shm
            # files take the database's mode: create it 0600 first. Only if it is new:
            # closing any descriptor of a database drops every POSIX lock this process's
            # SQLite connections hold on it (another store's, on the same file), and
            # another process may then take the database for unused and reset its WAL.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        self._make_private()
        # `timeout` is SQLite's busy_timeout: how long to wait for another process's lock.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            conn.create_function("fold", 1, _fold, deterministic=True)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise NewerSchemaError(version)
            # An older database migrates when it is first opened, even just to read it.
            if write or 0 < version < SCHEMA_VERSION:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                if version < SCHEMA_VERSION:
                    migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _write_batch(self, conn: sqlite3.Connection, records: list[TurnRecord]) -> None:
        rows = [_row(rec) for rec in records]
        files = {attachment_hash(a): a for rec in records for a in _record_attachments(rec)}
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                _INSERT_ATTACHMENT,
                [
                    (key, a.kind, a.mime, a.name, a.width, a.height, a.url, a.data)
                    for key, a in files.items()
                ],
            )
            conn.executemany(_UPSERT, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                batch = [self._queue.get()]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                records = [item for item in batch if isinstance(item, TurnRecord)]
                if records and self.enabled:
                    try:
                        if conn is None:
                            conn = self._connect(write=True)
                        self._write_batch(conn, records)
                    except Exception as exc:
                        if conn is not None:
                            conn.close()
                            conn = None
                        # A warnings filter set to "error" must not kill the writer.
                        with contextlib.suppress(Exception):
                            self._fail(exc)
                for item in batch:
                    if isinstance(item, threading.Event):
                        item.set()
                if _STOP in batch:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if not self.enabled or self.path is None or not self.path.exists():
            return []
        try:
            conn = self._connect(write=False)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        except Exception as exc:
            if "no such table" in str(exc):  # the writer has not created it yet
                return []
            self._fail(exc)
            return []

    def _make_private(self) -> None:
        """Take group and other permissions off the directory and the database files, where
        they are ours; a failure warns once and is otherwise ignored."""
        assert self.path is not None
        if os.name != "posix":  # chmod cannot express this elsewhere; ACLs are the user's
            return
        targets = [self.path.parent, self.path]
        targets += [self.path.with_name(self.path.name + suffix) for suffix in _SIDECARS]
        for target in targets:
            try:
                _tighten(target)
            except OSError as exc:
                with self._lock:
                    warned, self._warned_private = self._warned_private, True
                if not warned:
                    # A warnings filter set to "error" must not break the store.
                    with contextlib.suppress(Exception):
                        warnings.warn(_private_message(target, exc), RuntimeWarning, stacklevel=3)

    def _fail(self, exc: BaseException) -> None:
        """Turn history off for this process, with one warning that says how to fix it."""
        with self._lock:
            if self._broken:
                return
            self._broken = True
        message = _failure_message(self.path, exc, self.busy_timeout)
        warnings.warn(message, RuntimeWarning, stacklevel=2)


def _tighten(path: Path) -> None:
    """Remove group and other permissions from ``path`` if it exists and is ours."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == os.getuid() and mode & 0o077:
        os.chmod(path, mode & ~0o077)


def _private_message(path: Path, exc: OSError) -> str:
    detail = redact(f"{type(exc).__name__}: {exc}")
    return (
        f"ipyllm could not make {path} private ({detail}): other users of this machine may "
        "read your prompts and answers. Run chmod go-rwx on it, or set IPYLLM_HOME to a "
        "private directory; history goes on."
    )


def _failure_message(path: Path | None, exc: BaseException, busy_timeout: float) -> str:
    fix = "or set IPYLLM_HOME to another directory, or IPYLLM_HISTORY=0 to turn history off"
    detail = redact(f"{type(exc).__name__}: {exc}")
    text = str(exc).lower()
    if isinstance(exc, NewerSchemaError):
        problem = f"{path} was written by a newer ipyllm ({exc})"
        fix = f"Upgrade ipyllm, {fix}."
    elif "not a database" in text or "malformed" in text:
        problem = f"{path} is not a readable SQLite database ({detail})"
        fix = f"Move or delete that file to start a fresh history, {fix}."
    elif "locked" in text or "busy" in text:
        problem = f"{path} stayed locked by another process for over {busy_timeout:g} s ({detail})"
        fix = f"Close the other program or kernel using it, {fix}."
    elif isinstance(exc, OSError) or any(w in text for w in ("open", "readonly", "i/o")):
        problem = f"cannot write {path} ({detail})"
        fix = f"Make its directory writable, move or delete the file, {fix}."
    else:
        problem = f"{path} failed ({detail})"
        fix = f"Move or delete that file, {fix}."
    return f"ipyllm history is off for this session: {problem}. {fix}"
