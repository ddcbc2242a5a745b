"""The rendering policy for untrusted text (ipyllm._untrusted) on the hostile corpus.

Markdown output is checked as JupyterLab renders it (marked, no sanitizer) and as a
CommonMark renderer does (markdown-it), so the guarantee does not hang on one parser.
"""

from __future__ import annotations

import random

import pytest

from hostile_corpus import (
    Case,
    assert_inert_html,
    case_params,
    cases,
    inspect_html,
    render_with_markdown_it,
    render_with_marked,
)
from ipyllm._magic import render
from ipyllm._manager.turn import Turn
from ipyllm._types import Response
from ipyllm._untrusted import (
    code_fence,
    escape_markdown,
    inert_markdown,
    safe_href,
    sanitize_html,
)

FORMATTED = """# Plan

Some *emphasis*, **bold**, ~~gone~~ and `inline <code>`.

1. first
2. second
   - nested [link](https://example.org/a?b=1&c=2 "title")

| name | value |
| ---- | ----: |
| a < b | 1 |

```python
if a < b and "<img>" in s:
    print("```")
```

> quoted

Mail <me@example.org> or visit https://example.org/page.
"""


@pytest.mark.parametrize("case", case_params())
def test_each_case_is_inert_in_commonmark(case: Case) -> None:
    assert_inert_html(render_with_markdown_it(inert_markdown(case.text)), case.shows)


def test_every_case_is_inert_as_jupyterlab_renders_it() -> None:
    corpus = cases()
    for case, html in zip(
        corpus, render_with_marked([inert_markdown(c.text) for c in corpus]), strict=True
    ):
        assert_inert_html(html, case.shows)


def test_the_corpus_is_hostile_without_the_policy() -> None:
    # The checks above could pass by checking nothing: rendered raw, by marked or by a
    # CommonMark renderer, nearly every case is active. (The others test escaping that
    # looks right already: entities, a quoted title, comments; or a renderer of the
    # page's own: MathJax.)
    corpus = cases()
    raw = render_with_marked([c.text for c in corpus])
    dangerous = [
        c.id
        for c, html in zip(corpus, raw, strict=True)
        if inspect_html(html)[0] or inspect_html(render_with_markdown_it(c.text))[0]
    ]
    assert len(dangerous) >= len(corpus) - 5, dangerous


def test_formatting_survives() -> None:
    (html,) = render_with_marked([inert_markdown(FORMATTED)])
    for tag in ("<h1", "<em>", "<strong>", "<del>", "<ol>", "<ul>", "<table>", "<blockquote>"):
        assert tag in html, tag
    assert '<a href="https://example.org/a?b=1&amp;c=2">link</a>' in html
    assert '<code class="language-python">' in html
    assert_inert_html(html, ('if a < b and "<img>" in s:', 'print("```")', "a < b", "<code>"))
    assert "https://example.org/page" in html
    assert "mailto:me@example.org" in html


def test_an_image_is_a_placeholder_naming_its_url() -> None:
    text = inert_markdown("See ![a chart](https://img.example/c.png?id=7) here")
    (html,) = render_with_marked([text])
    assert "<img" not in html
    assert_inert_html(html, ("[image not loaded: a chart]", "https://img.example/c.png?id=7"))


def test_a_long_data_url_is_clipped_in_the_placeholder() -> None:
    text = inert_markdown("![x](data:image/png;base64," + "A" * 100_000 + ")")
    assert len(text) < 400
    assert "…" in text


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.org", True),
        ("HTTP://example.org", True),
        ("mailto:a@b.c", True),
        ("#section", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("java\tscript:alert(1)", False),
        (" \x01javascript:alert(1)", False),
        ("vbscript:msgbox", False),
        ("data:text/html,x", False),
        ("file:///etc/passwd", False),
        ("/lab/tree/x", False),
        ("x", False),
    ],
)
def test_safe_href(url: str, allowed: bool) -> None:
    assert (safe_href(url) is not None) is allowed


def test_escape_markdown_shows_exactly_the_text() -> None:
    text = "model <img src=x onerror=1> [a](javascript:b) ![i](http://h/i) `c` *d* # e &lt;"
    (html,) = render_with_marked([escape_markdown(text)])
    problems, visible = inspect_html(html)
    assert not problems
    assert visible.strip() == text


@pytest.mark.parametrize("code", ["plain", "a\n```\nb", "````\n<img>\n````", "`x`"])
def test_a_code_fence_cannot_be_closed_from_inside(code: str) -> None:
    (html,) = render_with_marked([code_fence(code, 'py" onerror="x')])
    assert html.count("<pre>") == 1
    problems, visible = inspect_html(html)
    assert not problems
    assert visible.strip("\n") == code


@pytest.mark.parametrize("case", case_params())
def test_sanitize_html_keeps_nothing_active(case: Case) -> None:
    assert_inert_html(sanitize_html(case.text))


def test_sanitize_html_keeps_formatting_and_marks_links() -> None:
    html = sanitize_html(
        '<h2>T</h2><p>a <b>b</b> <a href="https://x.org">x</a></p>'
        '<img src="https://x.org/i.png" alt="pic"><table><tr><td>1</td></tr></table>'
    )
    assert "<h2>T</h2>" in html
    assert "<b>b</b>" in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert 'target="_blank"' in html
    assert "<table>" in html
    assert_inert_html(html, ("[image not loaded: pic]", "https://x.org/i.png"))


def _turn(case: Case, where: str) -> Turn:
    turn = Turn(index=0, query="q", full_query=[], model="openai:gpt-5-mini", status="done")
    turn.append("text", case.text if where == "answer" else "The answer.")
    if where == "reasoning":
        turn.append("reasoning", case.text)
    if where == "error":
        turn.status, turn.error = "error", f"OpenAI error 400: {case.text} — Check the request."
    if where == "model":
        turn.answered_by = f"openai:{case.text}"
    return turn


@pytest.mark.parametrize(
    ("case", "where"),
    [pytest.param(c, w, id=f"{c.id}-{w}") for c in cases() for w in ("answer", *c.also)],
)
@pytest.mark.parametrize("fmt", ["markdown", "code", "json", "html"])
def test_the_magic_bundle_is_inert(case: Case, where: str, fmt: str) -> None:
    bundle = render.bundle(_turn(case, where), fmt)
    if "text/html" in bundle:
        assert_inert_html(bundle["text/html"])
    else:
        html = render_with_markdown_it(bundle["text/markdown"])
        # The bundle's own wrapper: one <details> at most, and it stays closed around
        # the reasoning only.
        assert html.count("<details>") == html.count("</details>") <= 1
        assert_inert_html(html, case.shows if fmt == "markdown" and where != "model" else ())


def test_every_bundle_is_inert_as_jupyterlab_renders_it() -> None:
    bundles = [
        render.bundle(_turn(c, where), "markdown")["text/markdown"]
        for c in cases()
        for where in ("answer", *c.also)
    ]
    for html in render_with_marked(bundles):
        assert_inert_html(html)
        assert html.count("<details>") == html.count("</details>") <= 1


def test_response_repr_markdown_is_inert() -> None:
    corpus = cases()
    rendered = render_with_marked([Response(text=c.text)._repr_markdown_() for c in corpus])
    for case, html in zip(corpus, rendered, strict=True):
        assert_inert_html(html, case.shows)


_PIECES = [c.text for c in cases()] + [
    "\n",
    "\n\n",
    "- ",
    "1. ",
    "> ",
    "    ",
    "```",
    "~~~",
    "`",
    "[",
    "]",
    "(",
    ")",
    "![",
    "<",
    ">",
    "|",
    "---",
    "\\",
    "&",
    "&#",
    "*",
    "_",
    "$",
    ":",
    '"',
    "javascript:",
    "http://",
    "www.x.org/",
    "  ",
    "\n  ```\n",
    "- ```\n",
    "\n</details>\n",
    "<<",
    "\\<",
    "[r]: ",
    "<b>",
    "<!--",
]


def test_random_mixtures_stay_inert(caplog: pytest.LogCaptureFixture) -> None:
    # Fragments of the corpus and of Markdown syntax, glued at random: whatever
    # structure they make, the output stays inert under both renderers.
    rng = random.Random(20261130)
    texts = ["".join(rng.choices(_PIECES, k=rng.randint(2, 14))) for _ in range(1500)]
    inert = [inert_markdown(t) for t in texts]
    assert not caplog.records  # no text needed the plain-text fallback
    for html in [render_with_markdown_it(t) for t in inert] + render_with_marked(inert):
        problems, _ = inspect_html(html)
        assert not problems, html


def test_history_and_usage_tables_are_inert() -> None:
    from ipyllm._manager.history_render import HistoryEntry, HistoryList
    from ipyllm._manager.usage import UsageRow, UsageSummary

    corpus = cases()
    entries = HistoryList(
        HistoryEntry("c", c.text, 0, f"fake:{c.text}", c.text, c.text, "done", 1, 2, 0.1, 0.0)
        for c in corpus
    )
    assert_inert_html(entries._repr_html_(), tuple(c.text[:20] for c in corpus))
    rows = [UsageRow(c.text, 1, 1, 1, None) for c in corpus]
    assert_inert_html(UsageSummary(by_tab=rows, by_model=rows)._repr_html_())


def test_escape_markdown_keeps_random_text_exact() -> None:
    # Any mixture of corpus and syntax fragments, escaped, reads back as typed (one
    # paragraph; whitespace aside) under both renderers.
    rng = random.Random(7)
    texts = [
        "".join(rng.choices(_PIECES, k=rng.randint(1, 10))).replace("\x00", "") for _ in range(500)
    ]
    escaped = [escape_markdown(t) for t in texts]
    rendered = render_with_marked(escaped)
    for text, md, html in zip(texts, escaped, rendered, strict=True):
        for out in (html, render_with_markdown_it(md)):
            problems, visible = inspect_html(out)
            assert not problems, out
            assert " ".join(visible.split()) == " ".join(text.split()), md
