"""A finished ``%%llm`` answer as static output: what a saved notebook shows with no kernel.

nbviewer, GitHub and ``jupyter nbconvert`` render these bundles without the
widget: the answer as Markdown (or code, JSON, HTML), each round of tool calls
before it (:mod:`.calls`), reasoning in a collapsed ``<details>``, and a
one-line footer. JupyterLab trusts these outputs (and keeps trusting them in
the saved notebook), so every piece of model, provider or tool text in them
goes through :mod:`ipyllm._untrusted` first.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .._untrusted import code_fence, escape_html, escape_markdown, inert_markdown, sanitize_html
from . import calls

if TYPE_CHECKING:
    from .._manager.turn import Turn
    from .._types import ToolCall

_FENCE = re.compile(r"```([^\n`]*)\n(.*?)(?:\n```|\Z)", re.DOTALL)


def code_block(text: str) -> tuple[str, str]:
    """``(language, code)`` of the first fenced block of ``text`` (``("", text)`` if none)."""
    match = _FENCE.search(text)
    if match is None:
        return "", text.strip("\n")
    return match.group(1).strip(), match.group(2).strip("\n")


def extract_code(text: str) -> str:
    """The first fenced code block of ``text``, or the whole text if it has none."""
    return code_block(text)[1]


def parse_json(text: str) -> Any:
    """``text`` (maybe inside a fenced block) parsed as JSON; raises ``ValueError``."""
    return json.loads(extract_code(text))


def footer(turn: Turn) -> str:
    """``model · 12 in / 340 out tokens · $0.0012 · 2 tool calls · first token 0.41 s ·
    total 3.2 s``."""
    parts = [turn.answered_by or turn.model]
    if turn.tokens_in is not None or turn.tokens_out is not None:
        parts.append(f"{_count(turn.tokens_in)} in / {_count(turn.tokens_out)} out tokens")
    if turn.cost is not None:
        parts.append(f"${turn.cost:.4g}")
    if turn.tool_calls:
        n = len(turn.tool_calls)
        parts.append(f"{n} tool call{'' if n == 1 else 's'}")
    if turn.ttft_s is not None:
        parts.append(f"first token {turn.ttft_s:.2f} s")
    if turn.elapsed_s is not None:
        parts.append(f"total {turn.elapsed_s:.2f} s")
    if turn.status == "stopped":
        parts.append("stopped")
    elif turn.finish_reason == "answer_limit":
        parts.append("cut at max_answer_chars")
    elif turn.status == "error":
        parts.append("failed")
    return " · ".join(parts)


def bundle(turn: Turn, fmt: str, structured: bool = False) -> dict[str, Any]:
    """The display bundle of a settled turn in format ``fmt``; ``structured``: the cell
    gave a schema, and ``-f json`` shows the validated value (:attr:`Turn.data`)."""
    text = turn.text
    foot = footer(turn)
    before, after = calls.rounds(turn)
    answer = turn.answer
    if fmt == "text":
        shown = _plain(before, answer, after)
        return {"text/plain": f"{shown}\n\n[{foot}]" if shown else f"[{foot}]"}
    # Short: the answer is in the rich part already; sending it twice costs bytes.
    plain = f"<answer: {len(text)} characters; {foot}>"
    if fmt == "html" and turn.status == "done":
        blocks: list[str] = []
        for step in before:
            blocks += [sanitize_html(step.text)] if step.text.strip() else []
            blocks.append(calls.html(step.calls))
        blocks.append(sanitize_html(answer))
        blocks += [calls.html(after)] if after else []
        return {
            "text/html": "\n".join(blocks) + f"\n<p><small>{escape_html(foot)}</small></p>",
            "text/plain": plain,
        }
    parts = []
    if turn.reasoning:
        # The reasoning is inert Markdown, so no tag in it can close this <details>.
        parts.append(
            "<details><summary>Reasoning</summary>\n\n"
            + _quote(inert_markdown(turn.reasoning))
            + "\n\n</details>\n"
        )
    body: list[str] = []
    for step in before:
        body += [inert_markdown(step.text)] if step.text.strip() else []
        body.append(calls.markdown(step.calls))
    if answer or not before:
        body.append(_answer_markdown(turn, answer, fmt, structured))
    body += [calls.markdown(after)] if after else []
    parts.append("\n\n".join(body))
    if turn.error:
        parts.append(f"\n**Error:** {escape_markdown(turn.error)}")
    parts.append(f"\n<small>{escape_markdown(foot)}</small>")
    return {"text/markdown": "\n".join(parts), "text/plain": plain}


def _answer_markdown(turn: Turn, answer: str, fmt: str, structured: bool) -> str:
    """The final round's text as ``fmt`` asks (code and JSON only for a complete answer)."""
    if fmt == "code" and turn.status == "done":
        language, code = code_block(answer)
        return code_fence(code, language)
    if fmt == "json" and turn.status == "done":
        shown = structured_json(turn.data) if structured else None
        if shown is None:
            try:
                shown = json.dumps(parse_json(answer), indent=2, ensure_ascii=False)
            except ValueError:
                return inert_markdown(answer)
        return code_fence(shown, "json")
    return inert_markdown(answer)


def structured_json(data: Any) -> str | None:
    """A structured answer's validated value (a pydantic model, a dataclass, a dict…) as
    indented JSON; None if it has no JSON form."""
    from pydantic_core import to_json

    try:
        raw = to_json(data, indent=2, fallback=str, serialize_unknown=True, inf_nan_mode="null")
    except (TypeError, ValueError):
        return None
    return raw.decode("utf-8")


def _plain(before: list[calls.Round], answer: str, after: list[ToolCall]) -> str:
    """The rounds, the calls (one line each) and the answer as plain text."""
    blocks: list[str] = []
    for step in before:
        blocks += [step.text] if step.text.strip() else []
        blocks.append("\n".join(calls.line(c) for c in step.calls))
    blocks += [answer] if answer else []
    blocks += ["\n".join(calls.line(c) for c in after)] if after else []
    return "\n\n".join(blocks)


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)
