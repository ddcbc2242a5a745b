"""A finished ``%%llm`` answer as static output: what a saved notebook shows with no kernel.

nbviewer, GitHub and ``jupyter nbconvert`` render these bundles without the
widget: the answer as Markdown (or code, JSON, HTML), reasoning in a
collapsed ``<details>``, and a one-line footer. JupyterLab trusts these
outputs (and keeps trusting them in the saved notebook), so every piece of
model or provider text in them goes through :mod:`ipyllm._untrusted` first.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .._untrusted import code_fence, escape_html, escape_markdown, inert_markdown, sanitize_html

if TYPE_CHECKING:
    from .._manager.turn import Turn

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
    """``model · 12 in / 340 out tokens · $0.0012 · first token 0.41 s · total 3.2 s``."""
    parts = [turn.answered_by or turn.model]
    if turn.tokens_in is not None or turn.tokens_out is not None:
        parts.append(f"{_count(turn.tokens_in)} in / {_count(turn.tokens_out)} out tokens")
    if turn.cost is not None:
        parts.append(f"${turn.cost:.4g}")
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


def bundle(turn: Turn, fmt: str) -> dict[str, Any]:
    """The display bundle of a settled turn in format ``fmt``."""
    text = turn.text
    foot = footer(turn)
    if fmt == "text":
        return {"text/plain": f"{text}\n\n[{foot}]" if text else f"[{foot}]"}
    # Short: the answer is in the rich part already; sending it twice costs bytes.
    plain = f"<answer: {len(text)} characters; {foot}>"
    if fmt == "html" and turn.status == "done":
        return {
            "text/html": f"{sanitize_html(text)}\n<p><small>{escape_html(foot)}</small></p>",
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
    if fmt == "code" and turn.status == "done":
        language, code = code_block(text)
        parts.append(code_fence(code, language))
    elif fmt == "json" and turn.status == "done":
        try:
            parts.append(
                code_fence(json.dumps(parse_json(text), indent=2, ensure_ascii=False), "json")
            )
        except ValueError:
            parts.append(inert_markdown(text))
    else:
        parts.append(inert_markdown(text))
    if turn.error:
        parts.append(f"\n**Error:** {escape_markdown(turn.error)}")
    parts.append(f"\n<small>{escape_markdown(foot)}</small>")
    return {"text/markdown": "\n".join(parts), "text/plain": plain}


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)
