"""A turn's tool calls as the ``%%llm`` cell leaves them: inert Markdown, HTML or one line.

The model wrote each call's name and arguments, and the tool's result may hold
anything a web page or file held (prompt injection is the point of such text):
all of it is untrusted. Names are escaped; arguments, results and errors go in
fences they cannot close (:func:`~ipyllm._untrusted.code_fence`) or in escaped
HTML, and each is clipped, so a tool that returns a whole file does not bury the
answer. The cell's own words (status, time) are the only text not escaped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._untrusted import code_fence, escape_html, escape_markdown

if TYPE_CHECKING:
    from .._manager.turn import Turn
    from .._types import ToolCall

NAME_CHARS = 100
"""Characters of a tool's name shown (providers allow 64; a hostile one may be longer)."""
BLOCK_CHARS = 2000
"""Characters of a call's arguments, result or error shown in the static output."""
LINE_CHARS = 200
"""Characters of arguments or result on a call's one-line summary (terminal, ``-f text``)."""

_STATUS = {
    "done": "done",
    "error": "error",
    "denied": "denied by the user",
    "skipped": "not run",
    "requested": "not run",
    "awaiting": "not run: the answer ended while it awaited approval",
    "running": "stopped while running",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Round:
    """One round of a turn: the text the model wrote, then the calls it asked for."""

    text: str
    calls: list[ToolCall] = field(default_factory=list)


def rounds(turn: Turn) -> tuple[list[Round], list[ToolCall]]:
    """The rounds before the answer (text and calls, from the turn's steps), and the calls
    the answer's own round asked for (not run: ``max_tool_rounds``, no tools, a stop)."""
    calls = list(turn.tool_calls)
    before: list[Round] = []
    for message in turn.steps:
        if message["role"] == "assistant":
            n = len(message.get("tool_calls") or [])
            before.append(Round(message["content"], calls[:n]))
            calls = calls[n:]
    return before, calls


def markdown(calls: list[ToolCall]) -> str:
    """``calls`` as inert Markdown blocks, one after another."""
    return "\n\n".join(_call_markdown(call) for call in calls)


def html(calls: list[ToolCall]) -> str:
    """``calls`` as escaped HTML (for ``-f html``)."""
    return "\n".join(_call_html(call) for call in calls)


def line(call: ToolCall) -> str:
    """``[tool name {"a": 1} → done, 0.02 s: result]``, one line of plain text with no
    control characters (a terminal would obey an escape sequence a model wrote)."""
    args = _clip(_compact(call.arguments) or "{}", LINE_CHARS)
    out = f"[tool {_one_line(call.name)} {args} → {_status(call)}"
    detail = _detail(call)
    if detail:
        out += f": {_clip(_compact(detail), LINE_CHARS)}"
    return _CONTROL.sub(_escaped_control, out + "]")


def is_final(call: ToolCall) -> bool:
    """Whether ``call`` will not change any more (ran, failed, was declined or skipped)."""
    return call.status in ("done", "error", "denied", "skipped")


# ---- one call -------------------------------------------------------------------------


def _call_markdown(call: ToolCall) -> str:
    parts = [f"**Tool call: {escape_markdown(_one_line(call.name))}** · {_status(call)}"]
    args, language = _pretty(call.arguments)
    if args and args != "{}":
        parts += ["Arguments:", code_fence(_clip(args, BLOCK_CHARS), language)]
    else:
        parts.append("No arguments.")
    detail = _detail(call)
    if detail:
        body, language = _pretty(detail)
        label = "Result:" if call.status == "done" else "Error:"
        parts += [label, code_fence(_clip(body, BLOCK_CHARS), language)]
    return "\n\n".join(parts)


def _call_html(call: ToolCall) -> str:
    parts = [
        f"<p><strong>Tool call: {escape_html(_one_line(call.name))}</strong>"
        f" · {escape_html(_status(call))}</p>"
    ]
    args, _ = _pretty(call.arguments)
    if args and args != "{}":
        parts.append(f"<pre><code>{escape_html(_clip(args, BLOCK_CHARS))}</code></pre>")
    detail = _detail(call)
    if detail:
        label = "Result" if call.status == "done" else "Error"
        body = escape_html(_clip(_pretty(detail)[0], BLOCK_CHARS))
        parts.append(f"<p>{label}:</p>\n<pre><code>{body}</code></pre>")
    return "\n".join(parts)


def _status(call: ToolCall) -> str:
    words = _STATUS.get(call.status, call.status)
    return f"{words}, {call.elapsed_s:.2f} s" if call.elapsed_s is not None else words


def _detail(call: ToolCall) -> str:
    """What came of the call: its result, its error, or nothing (not run, no reason)."""
    if call.status == "done":
        from .._tools import result_text

        return result_text(call.result)
    return call.error or ""  # a declined call says so in its status


def _pretty(text: str) -> tuple[str, str]:
    """``text`` indented as JSON (and ``"json"``) when it is JSON, else as it is."""
    try:
        value = json.loads(text)
    except ValueError:
        return text.strip("\n"), ""
    if not isinstance(value, dict | list):
        return text.strip("\n"), ""  # a bare string or number: show it, not its quoting
    return json.dumps(value, indent=2, ensure_ascii=False), "json"


def _compact(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return " ".join(text.split())
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else text


def _one_line(name: str | None) -> str:
    return _clip(" ".join((name or "?").split()), NAME_CHARS)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def _escaped_control(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"
