"""What model and provider text may become on a page: the one rendering policy (Python side).

Everything a model or a provider writes is untrusted input. JupyterLab trusts
the outputs a kernel emits and renders raw HTML inside ``text/markdown``, so
every place where such text becomes Markdown or HTML goes through here:

- :func:`inert_markdown` keeps Markdown formatting (headings, lists, tables,
  code, emphasis, http(s)/mailto links) and makes everything else text: raw
  HTML shows as the characters that were typed, links to any other scheme
  lose their target, and images become a placeholder that names the URL
  instead of loading it. No tag, event attribute, script URL or fetch can come
  out of it, whichever CommonMark renderer reads it.
- :func:`escape_markdown` turns plain text (a model name, an error message)
  into Markdown that shows exactly that text.
- :func:`code_fence` wraps text in a fenced block that it cannot close.
- :func:`sanitize_html` passes model-written HTML (``%%llm -f html``) through an
  allow-list sanitizer (nh3, i.e. ammonia), with images as placeholders.

The panel's front end applies the same policy (``js/src/markdown.ts``); both
are tested on the corpus in ``tests/fixtures/hostile/``.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from mdformat.renderer import RenderContext, RenderTreeNode

__all__ = [
    "IMAGE_PLACEHOLDER",
    "code_fence",
    "escape_html",
    "escape_markdown",
    "inert_markdown",
    "safe_href",
    "sanitize_html",
]

log = logging.getLogger("ipyllm")

IMAGE_PLACEHOLDER = "image not loaded"
"""The words an image placeholder shows before the image's description and URL."""

# A placeholder shows this much of an image URL (a data: URI can be megabytes).
_URL_SHOWN = 200
_SAFE_SCHEMES = ("http:", "https:", "mailto:")
# Browsers ignore ASCII whitespace and control characters inside a scheme
# ("java\tscript:"), so the check does too.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")
# What can open inline markup: code, emphasis, strikethrough, links, images, tags,
# entities, tables, math (JupyterLab typesets $…$) and the backslash itself.
_INLINE_MARKUP = re.compile(r"[\\`*_~\[\]<>&!|$]")
# Where a GFM bare URL or e-mail link would start. In plain text nothing is a link,
# and marked would let such a link run on over the references that follow it.
_BARE_URL_START = re.compile(r"(?i)(\b(?:https?|ftp)(?=://)|\bwww(?=\.)|\w(?=@\w))(.)")
# What starts a block at the beginning of a line: a heading, quote, list item or rule.
_BLOCK_START = re.compile(r"#|>|[-+=]|\d{1,9}[.)]")
# Written as character references, not backslash escapes: marked lets a bare URL
# swallow the backslash of "\<" and re-reads a link's label with "\[" undone.
_REFERENCES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "&#91;", "]": "&#93;"}
_LANGUAGE = re.compile(r"[\w+#.-]{1,40}")

escape_html = html.escape
"""``&``, ``<``, ``>`` and quotes as entities: text inside HTML we write ourselves."""


def safe_href(url: str) -> str | None:
    """``url`` if a link may point there (http, https, mailto or ``#fragment``), else None."""
    bare = _IGNORED_IN_SCHEME.sub("", url).lower()
    if bare.startswith(_SAFE_SCHEMES) or bare.startswith("#"):
        return url.strip()
    return None


def escape_markdown(text: str) -> str:
    """Markdown that renders as exactly ``text`` (one paragraph), whatever ``text`` holds.

    Every character that can open inline markup is escaped (the five that can open
    a tag, an entity or a link become character references), and so is any marker
    that would start a block at the beginning of a line; other punctuation stays
    as it is, so the Markdown source stays readable. Line breaks are kept as hard
    breaks; blank lines collapse into one break.
    """
    lines = [_escape_line(line.strip()) for line in text.splitlines()]
    return "\\\n".join(line for line in lines if line)


def _escape_line(line: str) -> str:
    escaped = _BARE_URL_START.sub(r"\1\\\2", _INLINE_MARKUP.sub(_escaped, line))
    block = _BLOCK_START.match(escaped)
    if block is None:
        return escaped
    # A heading, quote, list or rule marker at the start: escape its last character.
    end = block.end()
    return escaped[: end - 1] + "\\" + escaped[end - 1 :]


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _REFERENCES.get(char) or "\\" + char


def code_fence(code: str, language: str = "") -> str:
    """A fenced code block holding ``code``: the fence is longer than any run inside it."""
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
    fence = "`" * (longest + 1)
    language = language.strip()
    info = language if _LANGUAGE.fullmatch(language) else ""
    return f"{fence}{info}\n{code}\n{fence}"


def _shown_url(url: str) -> str:
    return url if len(url) <= _URL_SHOWN else url[:_URL_SHOWN] + "…"


# ---- Markdown → inert Markdown ------------------------------------------------------
#
# The answer is parsed by markdown-it (CommonMark + GFM tables, strikethrough and
# autolinks) and written back by mdformat's renderer, with four node kinds rendered
# by the rules below. Every link is parsed as a link whatever its scheme (markdown-it
# would otherwise leave a javascript: link as text that other renderers, marked for
# one, still read as a link), so the link rule sees and drops it.


def _render_children(node: RenderTreeNode, context: RenderContext) -> str:
    return "".join(child.render(context) for child in node.children)


# "<", "[" or "]" in text mdformat has escaped, with the backslashes before it.
_OPENER = re.compile(r"(\\*)([<\[\]])")


def _as_reference(match: re.Match[str]) -> str:
    backslashes, char = match.groups()
    # An odd count ends in the backslash that escaped the character: the reference replaces it.
    return backslashes[: len(backslashes) // 2 * 2] + _REFERENCES[char]


def _text(node: RenderTreeNode, context: RenderContext) -> str:
    from mdformat.renderer import DEFAULT_RENDERERS

    # mdformat escapes "<", "[" and "]" only where markdown-it would read them as
    # syntax (and misses "<<tag"). Other renderers draw that line elsewhere, and marked
    # lets a bare URL swallow the backslash of "\<". As character references they are
    # text in every renderer. A bare URL markdown-it left as text is escaped too: marked
    # would make it a link anyway, running on over a backtick that opens a code span.
    text = _OPENER.sub(_as_reference, DEFAULT_RENDERERS["text"](node, context))
    return _BARE_URL_START.sub(r"\1\\\2", text)


def _html_inline(node: RenderTreeNode, context: RenderContext) -> str:
    return escape_markdown(node.content)


def _html_block(node: RenderTreeNode, context: RenderContext) -> str:
    return escape_markdown(node.content)


def _image_label(node: RenderTreeNode) -> str:
    description = "".join(_plain_text(child) for child in node.children).strip()
    return f"[{IMAGE_PLACEHOLDER}: {description}]" if description else f"[{IMAGE_PLACEHOLDER}]"


def _image(node: RenderTreeNode, context: RenderContext) -> str:
    # Plain text, not a code span: one would merge with a code span written next to it.
    return escape_markdown(_plain_text(node))


def _plain_text(node: RenderTreeNode) -> str:
    """The words of an inline node: text and code as typed, images as their placeholder."""
    if node.type == "image":
        return f"{_image_label(node)} {_shown_url(str(node.attrs.get('src', '')))}"
    if node.type in ("softbreak", "hardbreak"):
        return " "
    if not node.children:
        return node.content
    return "".join(_plain_text(child) for child in node.children)


def _link(node: RenderTreeNode, context: RenderContext) -> str:
    # The label is plain escaped text, formatting dropped: marked re-reads a link's
    # label after undoing its escapes, so "!\[d\](data:…)" there would be an image.
    label = escape_markdown(_plain_text(node).replace("\n", " "))
    href = safe_href(str(node.attrs.get("href", "")))
    if href is None:
        return label  # the words stay, the target goes
    # Percent-encoding leaves no space, angle bracket or newline to end <…> early.
    return f"[{label}](<{quote(href, safe=_URL_SAFE)}>)"


def _bare_url(node: RenderTreeNode, context: RenderContext) -> str:
    # A bare URL (GFM autolink) goes out as an explicit link: no other renderer can end
    # it elsewhere and read what follows as a link of its own.
    label = escape_markdown(_plain_text(node))
    href = safe_href(str(node.attrs.get("href", "")))
    if href is None:
        return label
    return f"[{label}](<{quote(href, safe=_URL_SAFE)}>)"


_URL_SAFE = "/:?#[]@!$&*+,;=%-._~"


class _InertPlugin:
    """An mdformat parser extension: GitHub-flavoured Markdown, rendered inert.

    It wraps mdformat-gfm (tables, strikethrough, task lists, bare-URL autolinks)
    and replaces the renderers of text, raw HTML, images and links.
    """

    RENDERERS: ClassVar[dict[str, Any]] = {}
    POSTPROCESSORS: ClassVar[dict[str, Any]] = {}

    @classmethod
    def load(cls) -> None:
        from mdformat.plugins import PARSER_EXTENSIONS

        gfm = PARSER_EXTENSIONS["gfm"]
        cls.RENDERERS = {
            **gfm.RENDERERS,
            "text": _text,
            "html_inline": _html_inline,
            "html_block": _html_block,
            "image": _image,
            "link": _link,
            "gfm_autolink": _bare_url,
        }
        cls.POSTPROCESSORS = dict(gfm.POSTPROCESSORS)
        cls._gfm_update_mdit = gfm.update_mdit

    _gfm_update_mdit: ClassVar[Any] = None

    @classmethod
    def update_mdit(cls, mdit: MarkdownIt) -> None:
        cls._gfm_update_mdit(mdit)
        mdit.validateLink = lambda url: True  # type: ignore[method-assign]


_parser: MarkdownIt | None = None
_parser_lock = threading.Lock()


def _markdown_parser() -> MarkdownIt:
    global _parser
    with _parser_lock:
        if _parser is None:
            from markdown_it import MarkdownIt
            from mdformat.renderer import MDRenderer

            mdit = MarkdownIt(renderer_cls=MDRenderer)  # type: ignore[arg-type]
            mdit.options["mdformat"] = {}
            mdit.options["store_labels"] = True
            mdit.options["parser_extension"] = []
            _InertPlugin.load()
            mdit.options["parser_extension"].append(_InertPlugin)
            _InertPlugin.update_mdit(mdit)
            _parser = mdit
        return _parser


def inert_markdown(text: str) -> str:
    """``text`` (Markdown from a model) with its formatting kept and nothing active left.

    Raw HTML becomes visible text, only http(s)/mailto/``#`` links keep their
    target, and images become ``[image not loaded: …] URL`` placeholders.
    """
    if not text.strip():
        return ""
    parser = _markdown_parser()
    try:
        with _parser_lock:  # the shared renderer keeps per-render state
            rendered: str = parser.render(text)
        return rendered.rstrip("\n")
    except Exception as exc:
        # A parser bug must not show the raw text: fall back to plain escaped text.
        log.warning("Showing an answer as plain text: its Markdown could not be read (%r)", exc)
        return escape_markdown(text)


# ---- HTML → sanitized HTML (%%llm -f html) -------------------------------------------

_ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div",
    "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
    "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
    "*": {"title"},
}
# An <img> tag as ammonia writes it: attribute values always in double quotes.
_IMG_TAG = re.compile(r'<img\b(?:[^>"]|"[^"]*")*>')
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')


def _image_placeholder_html(tag: str) -> str:
    attributes = {name: html.unescape(value) for name, value in _ATTRIBUTE.findall(tag)}
    alt = attributes.get("alt", "").strip()
    label = f"[{IMAGE_PLACEHOLDER}: {alt}]" if alt else f"[{IMAGE_PLACEHOLDER}]"
    url = _shown_url(attributes.get("src", ""))
    return f'<span class="ipyllm-image">{escape_html(label)} <code>{escape_html(url)}</code></span>'


def sanitize_html(text: str) -> str:
    """``text`` (HTML from a model) through an allow-list: formatting only, nothing active.

    Scripts, styles, event attributes, frames, forms, SVG and every other tag not
    on the list are removed; links keep only http(s)/mailto targets and open in a
    new tab with ``rel="noopener noreferrer nofollow"``; images become placeholders.
    """
    import nh3

    clean = nh3.clean(
        text,
        tags=set(_ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in _ALLOWED_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    # ammonia writes attributes as name="value" with '"' escaped: safe to read back here.
    return _IMG_TAG.sub(lambda match: _image_placeholder_html(match.group(0)), clean)
