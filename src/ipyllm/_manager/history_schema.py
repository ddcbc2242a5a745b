"""The history database's schema and its migrations, one step per version.

Schema 1 kept every turn's whole ``full_query``; schema 2 keeps each message
once (see :mod:`ipyllm._manager.history`); schema 3 adds a turn's tool rounds
(``steps``: the messages between its prompt and its answer, ``tool_calls``, and
``answer_from``, where the answer starts in ``text``); schema 4 keeps each attachment once,
by content hash, in ``attachments``, and a turn's as a JSON list of those hashes (its
``attachments`` column). :func:`migrate` brings any older file to :data:`SCHEMA_VERSION`
in one transaction.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import sqlite3

__all__ = ["SCHEMA_VERSION", "Message", "NewerSchemaError", "migrate", "user_message"]

SCHEMA_VERSION = 4

Message: TypeAlias = dict[str, Any]  # role and content; a user message's attachments too

_TURNS_V2 = """CREATE TABLE IF NOT EXISTS {name} (
    conversation_id TEXT NOT NULL, turn_index INTEGER NOT NULL, title TEXT NOT NULL,
    model TEXT NOT NULL, query TEXT NOT NULL, text TEXT NOT NULL, reasoning TEXT,
    status TEXT NOT NULL, tokens_in INTEGER, tokens_out INTEGER, cost REAL, error TEXT,
    started_at REAL NOT NULL, ttft_s REAL, elapsed_s REAL, finish_reason TEXT,
    extends INTEGER, kept INTEGER, prompt TEXT, messages TEXT,
    UNIQUE (conversation_id, turn_index))"""


def user_message(content: str) -> Message:
    return {"role": "user", "content": content}


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Schema 1 kept every turn's whole ``full_query``; keep each message once instead.

    A row whose list is exactly what its turn would send today (the earlier done and
    stopped turns' prompts and answers, then its own prompt) is stored by reference;
    any other row keeps its list as it was. Nothing is lost either way.
    """
    conn.execute(_TURNS_V2.format(name="turns_v2"))
    # Schema 1's columns, less full_query; fixed here, whatever later schemas add.
    columns = (
        "conversation_id", "turn_index", "title", "model", "query", "text", "reasoning",
        "status", "tokens_in", "tokens_out", "cost", "error", "started_at", "ttft_s",
        "elapsed_s", "finish_reason",
    )  # fmt: skip
    insert = (
        f"INSERT INTO turns_v2 ({', '.join(columns)}, extends, prompt, messages) "
        f"VALUES ({', '.join('?' * (len(columns) + 3))})"
    )
    rows = conn.execute(
        f"SELECT {', '.join(columns)}, full_query FROM turns ORDER BY conversation_id, turn_index"
    )
    conversation_id: object = None
    history: list[Message] = []
    extends: int | None = None
    for row in rows:
        values = dict(zip(columns, row, strict=False))
        if values["conversation_id"] != conversation_id:
            conversation_id, history, extends = values["conversation_id"], [], None
        prompt = _prompt_after(json.loads(row[-1]), history)
        if prompt is None:  # not what a tab sends: keep the list as it was
            conn.execute(insert, (*row[:-1], extends, None, row[-1]))
        else:
            prompt = None if prompt == values["query"] else prompt
            conn.execute(insert, (*row[:-1], extends, prompt, None))
        if values["status"] in ("done", "stopped"):
            history += (
                user_message(values["query"]),
                {"role": "assistant", "content": values["text"]},
            )
            extends = values["turn_index"]
    conn.execute("DROP TABLE turns")
    conn.execute("ALTER TABLE turns_v2 RENAME TO turns")
    conn.execute("CREATE INDEX IF NOT EXISTS turns_started_at ON turns (started_at)")


def _prompt_after(sent: Any, history: list[Message]) -> str | None:
    """The last message of ``sent`` if ``sent`` is ``history`` and then one user message."""
    if not isinstance(sent, list) or not sent or sent[:-1] != history:
        return None
    last = sent[-1]
    if not isinstance(last, dict) or set(last) != {"role", "content"} or last["role"] != "user":
        return None
    content = last["content"]
    return content if isinstance(content, str) else None


_Step: TypeAlias = "str | Callable[[sqlite3.Connection], None]"

# Index i holds the steps (SQL, or a function of the connection) that take user_version
# from i to i + 1, all in one transaction.
_MIGRATIONS: tuple[tuple[_Step, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS turns (
            conversation_id TEXT NOT NULL, turn_index INTEGER NOT NULL, title TEXT NOT NULL,
            model TEXT NOT NULL, query TEXT NOT NULL, full_query TEXT NOT NULL,
            text TEXT NOT NULL, reasoning TEXT, status TEXT NOT NULL, tokens_in INTEGER,
            tokens_out INTEGER, cost REAL, error TEXT, started_at REAL NOT NULL,
            ttft_s REAL, elapsed_s REAL, finish_reason TEXT,
            UNIQUE (conversation_id, turn_index))""",
        "CREATE INDEX IF NOT EXISTS turns_started_at ON turns (started_at)",
    ),
    (_migrate_v1,),
    (
        "ALTER TABLE turns ADD COLUMN steps TEXT",
        "ALTER TABLE turns ADD COLUMN tool_calls TEXT",
        "ALTER TABLE turns ADD COLUMN answer_from INTEGER NOT NULL DEFAULT 0",
    ),
    (
        "ALTER TABLE turns ADD COLUMN attachments TEXT",
        # An image given by URL keeps its URL and no data.
        """CREATE TABLE IF NOT EXISTS attachments (
            hash TEXT PRIMARY KEY, kind TEXT NOT NULL, mime TEXT NOT NULL, name TEXT,
            width INTEGER, height INTEGER, url TEXT, data BLOB NOT NULL)""",
    ),
)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION` in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    # Another process may have migrated while we waited for the lock.
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(version)
    for steps in _MIGRATIONS[version:]:
        for step in steps:
            if isinstance(step, str):
                conn.execute(step)
            else:
                step(conn)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.execute("COMMIT")
    # Tables were copied and dropped (schema 1's rows, or a new file's empty ones): give
    # the freed pages back. Cheap for a new file; a failure only leaves the file larger.
    with contextlib.suppress(Exception):
        conn.execute("VACUUM")


class NewerSchemaError(Exception):
    """The file was written by a newer ipyllm than this one."""

    def __init__(self, version: int) -> None:
        super().__init__(f"schema version {version}, this ipyllm knows {SCHEMA_VERSION}")
