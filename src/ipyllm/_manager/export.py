"""A tab's conversation as a file: Markdown, a Jupyter notebook, or JSON that loads back.

Markdown and notebooks are read (and rendered as trusted Markdown by Jupyter), so the
model's text goes through :func:`~ipyllm._untrusted.inert_markdown`, names through
:func:`~ipyllm._untrusted.escape_markdown`, and tool arguments and results into fences
they cannot close. Attachments are named there, never inlined. The JSON keeps every
turn as the history stores it (tool rounds included, attachments as base64), and
:meth:`SessionManager.load <ipyllm.SessionManager.load>` rebuilds a tab from it whose
next prompt sends the same messages.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._errors import InvalidOptionError
from .._types import Attachment, Message
from .._untrusted import code_fence, escape_markdown, inert_markdown

if TYPE_CHECKING:
    from .history import TurnRecord
    from .tab import Tab
    from .turn import Turn

ExportFormat = Literal["md", "ipynb", "json"]
FORMATS: tuple[ExportFormat, ...] = ("md", "ipynb", "json")
EXPORT_KIND = "ipyllm-tab"
EXPORT_VERSION = 1
# Fences an answer's code goes into a notebook code cell from (others stay Markdown).
_PYTHON_FENCES = frozenset({"", "python", "py", "python3", "ipython", "ipython3"})


def check_format(fmt: object) -> ExportFormat:
    """``fmt`` if it is an export format, else :class:`~ipyllm.InvalidOptionError`."""
    if fmt not in FORMATS:
        raise InvalidOptionError(
            f"Cannot export as {fmt!r}: use one of {', '.join(map(repr, FORMATS))}."
        )
    return fmt


def export_text(tab: Tab, fmt: ExportFormat, turns: Sequence[Turn]) -> str:
    """The tab as ``fmt`` (turns taken under the tab's lock by the caller)."""
    if fmt == "md":
        return to_markdown(tab.title, tab.model, turns)
    if fmt == "ipynb":
        return to_notebook(tab.title, tab.model, turns)
    return to_json(tab, turns)


# ---- Markdown ----------------------------------------------------------------------


def _attachments_line(attachments: Sequence[Attachment]) -> str:
    names = "; ".join(a.describe() for a in attachments)
    return "*Attached:* " + escape_markdown(names)


def _heading(turn: Turn) -> str:
    status = "" if turn.status == "done" else f" ({turn.status})"
    return escape_markdown(f"Turn {turn.index + 1}{status}")


def _pretty(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except ValueError:
        return arguments


def _tool_sections(turn: Turn) -> Iterator[str]:
    """The turn's tool rounds as Markdown blocks: each round's text, each call with its
    arguments, and each result."""
    statuses = {c.id: c.status for c in turn.tool_calls if c.id}
    for message in turn.steps:
        if message["role"] == "assistant":
            if message["content"].strip():
                yield inert_markdown(message["content"])
            for call in message.get("tool_calls", ()):
                status = statuses.get(call["id"] or "", "")
                title = f"Tool call: {call['name']}" + (f" ({status})" if status else "")
                yield f"#### {escape_markdown(title)}"
                yield code_fence(_pretty(call["arguments"]), "json")
        elif message["role"] == "tool":
            label = "Error" if message.get("is_error") else "Result"
            name = message.get("name") or ""
            yield escape_markdown(f"{label} of {name}:" if name else f"{label}:")
            yield code_fence(message["content"])


def to_markdown(title: str, model: str, turns: Sequence[Turn]) -> str:
    """The conversation as one Markdown document, inert whatever the model wrote."""
    blocks = [f"# {escape_markdown(title)}", escape_markdown(f"Model: {model}")]
    for turn in turns:
        blocks.append(f"## {_heading(turn)}")
        blocks.append("### " + escape_markdown("You"))
        blocks.append(inert_markdown(turn.query) or escape_markdown("(empty)"))
        if turn.attachments:
            blocks.append(_attachments_line(turn.attachments))
        blocks.append("### " + escape_markdown(turn.answered_by or turn.model))
        blocks.extend(_tool_sections(turn))
        if turn.answer.strip():
            blocks.append(inert_markdown(turn.answer))
        if turn.error:
            blocks.append("*Error:* " + escape_markdown(turn.error))
    return "\n\n".join(b for b in blocks if b) + "\n"


# ---- Jupyter notebook (nbformat 4.5, built by hand) ----------------------------------


def _cell(kind: Literal["markdown", "code"], source: str) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "cell_type": kind,
        "metadata": {},
        "source": source.splitlines(keepends=True),
    }
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []  # code only: nothing that renders
    return cell


def _answer_cells(answer: str) -> Iterator[dict[str, Any]]:
    """The answer's text as Markdown cells, its Python (or unlabelled) fenced blocks at
    the top level as code cells, in order."""
    from markdown_it import MarkdownIt

    lines = answer.splitlines(keepends=True)
    start = 0
    for token in MarkdownIt("commonmark").parse(answer):
        if token.type != "fence" or token.level != 0 or token.map is None:
            continue
        language = token.info.strip().split(" ", 1)[0].lower()
        if language not in _PYTHON_FENCES:
            continue
        first, end = token.map
        text = inert_markdown("".join(lines[start:first]))
        if text:
            yield _cell("markdown", text)
        code = token.content.rstrip("\n")
        if code.strip():
            yield _cell("code", code)
        start = end
    text = inert_markdown("".join(lines[start:]))
    if text:
        yield _cell("markdown", text)


def to_notebook(title: str, model: str, turns: Sequence[Turn]) -> str:
    """The conversation as a notebook: a Markdown cell per message, an answer's Python
    code blocks as code cells (no outputs). Every Markdown cell is inert."""
    cells = [
        _cell("markdown", f"# {escape_markdown(title)}\n\n{escape_markdown(f'Model: {model}')}")
    ]
    for turn in turns:
        prompt = [f"## {_heading(turn)}", "**You:**", inert_markdown(turn.query)]
        if turn.attachments:
            prompt.append(_attachments_line(turn.attachments))
        cells.append(_cell("markdown", "\n\n".join(p for p in prompt if p)))
        tools = list(_tool_sections(turn))
        if tools:
            cells.append(_cell("markdown", "\n\n".join(tools)))
        who = escape_markdown(f"{turn.answered_by or turn.model}:")
        cells.append(_cell("markdown", f"**{who}**"))
        cells.extend(_answer_cells(turn.answer))
        if turn.error:
            cells.append(_cell("markdown", "*Error:* " + escape_markdown(turn.error)))
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"  # the same conversation exports the same file
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


# ---- JSON --------------------------------------------------------------------------


def _attachment_json(att: Attachment) -> dict[str, Any]:
    out: dict[str, Any] = {f.name: getattr(att, f.name) for f in dataclasses.fields(att)}
    out["data"] = base64.b64encode(att.data).decode("ascii")
    return out


def _attachment_from_json(raw: Any) -> Attachment:
    if not isinstance(raw, Mapping) or raw.get("kind") not in ("image", "pdf", "text"):
        raise ValueError(f"not an attachment: {raw!r:.80}")
    return Attachment(
        kind=raw["kind"],
        mime=str(raw["mime"]),
        data=base64.b64decode(raw.get("data") or "", validate=True),
        url=raw.get("url"),
        name=raw.get("name"),
        width=raw.get("width"),
        height=raw.get("height"),
    )


def _messages_json(messages: Sequence[Mapping[str, Any]] | None) -> Any:
    return _with_attachments(messages, _attachment_json)


def _messages_from_json(messages: Any) -> list[Message] | None:
    return _with_attachments(messages, _attachment_from_json)  # type: ignore[no-any-return]


def _with_attachments(messages: Any, convert: Callable[[Any], Any]) -> Any:
    """``messages`` as plain dicts, each attachment passed through ``convert``."""
    if messages is None:
        return None
    out = []
    for message in messages:
        plain = dict(message)
        if "attachments" in plain:
            plain["attachments"] = [convert(a) for a in plain["attachments"]]
        out.append(plain)
    return out


def to_json(tab: Tab, turns: Sequence[Turn]) -> str:
    """The tab's settled turns as the history keeps them, attachments as base64."""
    rows = []
    for turn in turns:
        if not turn.settled.is_set():
            continue  # still answering: its messages are not final
        record = turn.record(tab.conversation_id, tab.title)
        row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        row["attachments"] = [_attachment_json(a) for a in record.attachments or ()] or None
        row["full_query"] = _messages_json(record.full_query)
        row["steps"] = _messages_json(record.steps)
        del row["conversation_id"], row["title"]
        rows.append(row)
    document = {
        "format": EXPORT_KIND,
        "version": EXPORT_VERSION,
        "title": tab.title,
        "model": tab.model,
        "max_history": tab.max_history,
        "turns": rows,
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def records_from_json(text: str, conversation_id: str) -> tuple[dict[str, Any], list[TurnRecord]]:
    """The document's header (title, model, max_history) and its turns as records of
    conversation ``conversation_id``; :class:`~ipyllm.InvalidOptionError` if it is not
    a tab exported by :meth:`Tab.export`."""
    from .history import TurnRecord

    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("format") != EXPORT_KIND:
            raise ValueError("not a tab exported as JSON by Tab.export")
        if document.get("version") != EXPORT_VERSION:
            raise ValueError(f"version {document.get('version')!r}; this ipyllm reads 1")
        names = {f.name for f in dataclasses.fields(TurnRecord)}
        records = []
        for row in document["turns"]:
            fields = {k: v for k, v in row.items() if k in names}
            fields["attachments"] = [
                _attachment_from_json(a) for a in row.get("attachments") or ()
            ] or None
            fields["full_query"] = _messages_from_json(row.get("full_query"))
            fields["steps"] = _messages_from_json(row.get("steps"))
            records.append(
                TurnRecord(conversation_id=conversation_id, title=document["title"], **fields)
            )
        header = {k: document.get(k) for k in ("title", "model", "max_history")}
        if not isinstance(header["title"], str) or not isinstance(header["model"], str):
            raise ValueError("no title or model")
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidOptionError(f"Cannot load this export: {exc}") from None
    return header, records
