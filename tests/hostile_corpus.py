"""The hostile corpus (tests/fixtures/hostile/cases.json) and the checks every renderer passes.

A rendering is inert when the HTML it becomes has only formatting tags, no
event or resource attribute, and links only to http(s), mailto or #fragments.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

HOSTILE_DIR = Path(__file__).parent / "fixtures" / "hostile"
_DOC = json.loads((HOSTILE_DIR / "cases.json").read_text(encoding="utf-8"))
CANARY: str = _DOC["canary"]
ORIGIN_PLACEHOLDER: str = _DOC["origin_placeholder"]
JS_DIR = Path(__file__).parent.parent / "js"

# What Markdown renderers emit for formatting, plus the few tags our bundle writes itself.
ALLOWED_TAGS = frozenset({
    "a", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "small", "span", "strong",
    "summary", "table", "tbody", "td", "th", "thead", "tr", "ul", "input",
})  # fmt: skip
ALLOWED_ATTRIBUTES = frozenset(
    {"href", "class", "align", "title", "start", "id", "rel", "target", "colspan", "rowspan"}
)
_CHECKBOX = {"type": "checkbox", "disabled": "", "checked": ""}  # GFM task lists


@dataclass(frozen=True)
class Case:
    """One hostile text, with the text that must stay visible and where else it is used."""

    id: str
    text: str
    shows: tuple[str, ...]
    also: tuple[str, ...]


def cases(origin: str = "http://127.0.0.1:9") -> list[Case]:
    """Every case, with ``{ORIGIN}`` replaced by ``origin``."""

    def fill(value: str) -> str:
        return value.replace(ORIGIN_PLACEHOLDER, origin)

    return [
        Case(c["id"], fill(c["text"]), tuple(map(fill, c["shows"])), tuple(c.get("also", ())))
        for c in _DOC["cases"]
    ]


def case_params(where: str | None = None) -> list[Any]:
    """``pytest.param`` per case (those also used ``where``, if given), named by id."""
    return [pytest.param(c, id=c.id) for c in cases() if where is None or where in c.also]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.text.append("\n")
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            value = value or ""
            if tag == "input":
                if name not in _CHECKBOX or (name == "type" and value != "checkbox"):
                    self.problems.append(f"<input {name}={value!r}>")
            elif name == "style" and re.fullmatch(r"text-align:\s*\w+;?", value):
                pass  # ipyllm's own tables align their columns
            elif name not in ALLOWED_ATTRIBUTES:
                self.problems.append(f"attribute {name}={value!r} on <{tag}>")
            elif name == "href" and not _safe_href(value):
                self.problems.append(f"href {value!r}")

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _safe_href(url: str) -> bool:
    bare = "".join(ch for ch in url if ord(ch) > 0x20 and ch != "\x7f").lower()
    return bare.startswith(("http:", "https:", "mailto:", "#"))


def inspect_html(html: str) -> tuple[list[str], str]:
    """The problems found in ``html`` (empty if inert) and its visible text."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.problems, "".join(collector.text)


def assert_inert_html(html: str, shows: tuple[str, ...] = ()) -> None:
    """Fail unless ``html`` is inert and shows each of ``shows`` as text."""
    problems, text = inspect_html(html)
    assert not problems, f"{problems} in {html!r}"
    flat = " ".join(text.split())
    for expected in shows:
        assert " ".join(expected.split()) in flat, f"{expected!r} not visible in {text!r}"


def render_with_marked(texts: list[str]) -> list[str]:
    """Each Markdown text rendered by marked as JupyterLab renders trusted output."""
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "marked").is_dir():
        message = "needs node and js/node_modules (npm ci in js/)"
        if os.environ.get("IPYLLM_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [node, str(Path(__file__).parent / "render_marked.mjs")],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rendered: list[str] = json.loads(done.stdout)
    return rendered


def render_with_markdown_it(text: str) -> str:
    """``text`` rendered by markdown-it (CommonMark + tables), raw HTML and every link allowed."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md.render(text)
