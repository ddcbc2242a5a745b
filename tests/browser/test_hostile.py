"""The hostile corpus in a real JupyterLab: every case as a ``%%llm`` answer, as reasoning, as
a provider's error and as a model name, then all of them in the chat panel; again after the
notebook is saved and reopened (JupyterLab trusts the outputs it saved).

What must hold: the page's canary stays unset, the page requests no URL an answer named
(neither the loopback server's ``/exfil/…`` nor a relative ``x``), and the text each case
must show is visible as typed.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from hostile_corpus import CANARY, Case, cases
from ipyllm.testing import FakeLLMServer, Reply

from .labdriver import KERNEL_TIMEOUT_MS, LabServer, NotebookPage
from .test_magic import setup
from .test_panel import STREAM_TIMEOUT_MS

pytestmark = pytest.mark.browser

NAME = "hostile-corpus.ipynb"


TAB = "hostile"


def _prompt(label: str) -> str:
    return f"%%llm -t {TAB}\nAnswer #{label}."


def _setup(fake: FakeLLMServer) -> str:
    # The panel comes first, on the tab every cell writes to: it then shows each answer,
    # reasoning and error as it arrives, and again after the page is reopened.
    return setup(fake) + f"\nipyllm.manager().new_tab({TAB!r}, model='fake:m')\nipyllm.chat()"


def _is_fetch_an_answer_asked_for(url: str) -> bool:
    path = urlsplit(url).path
    return "/exfil/" in path or path.rsplit("/", 1)[-1] in ("x", "y")


class Watch:
    """Every request the page makes, and the canary."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.urls: list[str] = []
        page.on("request", self._on_request)

    def _on_request(self, request: Request) -> None:
        self.urls.append(request.url)

    def check(self, fake: FakeLLMServer, when: str) -> None:
        self.page.wait_for_timeout(1500)  # an onerror, onload or fetch would have fired
        assert self.page.evaluate(f"() => typeof {CANARY}") == "undefined", (
            f"{when}: script ran: {CANARY} = {self.page.evaluate(f'() => {CANARY}')!r}"
        )
        # Rendered Markdown and HTML, and the panel: where answers become links. (The
        # plain-text traceback of an error is linkified by JupyterLab itself.)
        links = self.page.evaluate(
            """() => [...document.querySelectorAll(
                '.jp-RenderedMarkdown a[href], .jp-RenderedHTML a[href], .ipyllm-panel a[href]'
            )].map((a) => a.getAttribute('href'))"""
        )
        unsafe = [h for h in links if not re.match(r"(?i)\s*(https?:|mailto:|#)", h)]
        assert not unsafe, f"{when}: links an answer made: {unsafe}"
        fetched = [url for url in self.urls if _is_fetch_an_answer_asked_for(url)]
        assert not fetched, f"{when}: the page fetched what an answer named: {fetched}"
        asked = [r.path for r in fake.requests if not r.path.endswith("/chat/completions")]
        assert not asked, f"{when}: the loopback server was asked for {asked}"


def _plan(fake: FakeLLMServer, corpus: list[Case]) -> tuple[list[str], list[str]]:
    """Queue one reply per cell; the cells that run normally, and those that fail."""
    cells = []
    for case in corpus:
        fake.add_reply(Reply(case.text))
        cells.append(_prompt(f"{case.id}-answer"))
    for case in corpus:
        if "reasoning" in case.also:
            fake.add_reply(Reply("Reasoned.", reasoning=case.text))
            cells.append(_prompt(f"{case.id}-reasoning"))
        if "model" in case.also:
            fake.add_reply(Reply("Named."))
            cells.append(f"%%llm {json.dumps('fake:' + case.text)} -t {TAB}\nWho are you?")
    failing = []
    for case in corpus:
        if "error" in case.also:
            fake.add_reply(Reply(status=400, error_message=case.text))
            failing.append(_prompt(f"{case.id}-error"))
    return cells, failing


def _run_failing_cell(notebook: NotebookPage, index: int) -> None:
    notebook.run_cell(index, wait=False)
    notebook.page.wait_for_function(
        """([p, i]) => {
            const counts = window.__lab.executionCounts(p);
            return counts && counts[i] !== null && window.__lab.kernelStatus(p) === 'idle';
        }""",
        arg=[notebook.name, index],
        timeout=KERNEL_TIMEOUT_MS,
    )


def test_the_corpus_stays_inert_in_cells_panel_errors_and_after_reopening(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    base = urlsplit(fake.base_url("openai"))
    corpus = cases(origin=f"{base.scheme}://{base.netloc}")
    cells, failing = _plan(fake, corpus)
    all_cells = [_setup(fake), *cells, *failing]
    lab.write_notebook(NAME, all_cells)
    watch = Watch(notebook.page)
    notebook.open(NAME)

    # The cells that succeed run as one "run all above" the first failing cell, then the
    # failing ones one at a time (a failed cell stops a run of several).
    first_failing = len(cells) + 1
    notebook.page.evaluate(
        """([p, i]) => {
            const nb = window.__lab.notebook(p);
            nb.content.activeCellIndex = i;
            nb.content.deselectAll();
            window.jupyterapp.commands.execute('notebook:run-all-above');
        }""",
        [NAME, first_failing],
    )
    notebook.page.wait_for_function(
        """([p, end]) => {
            const counts = window.__lab.executionCounts(p);
            return counts && counts.slice(0, end).every((n) => n !== null)
                && window.__lab.kernelStatus(p) === 'idle';
        }""",
        arg=[NAME, first_failing],
        timeout=KERNEL_TIMEOUT_MS * 2,
    )
    for index in range(first_failing, len(all_cells)):
        _run_failing_cell(notebook, index)

    page = notebook.page
    rendered = page.locator(".jp-RenderedMarkdown")
    expect(rendered).to_have_count(len(cells) + len(failing), timeout=STREAM_TIMEOUT_MS)
    panel = notebook.outputs(0).locator(".ipyllm-panel")
    expect(panel.locator("[data-testid=turn]")).to_have_count(len(cells) + len(failing))
    # textContent: innerText is empty for cells scrolled out of view (content-visibility).
    shown_in_cells = " ".join(rendered.all_text_contents())
    shown_in_panel = panel.text_content() or ""
    for case in corpus:
        for text in case.shows:
            flat = " ".join(text.split())
            assert flat in " ".join(shown_in_cells.split()), f"{case.id}: {text!r} not shown"
            assert flat in " ".join(shown_in_panel.split()), f"{case.id}: {text!r} not in panel"
    assert "image not loaded" in shown_in_cells
    assert "image not loaded" in shown_in_panel
    assert "Error:" in shown_in_cells
    watch.check(fake, "after running")

    notebook.save()
    notebook.reload()
    expect(page.locator(".jp-RenderedMarkdown")).to_have_count(
        len(cells) + len(failing), timeout=STREAM_TIMEOUT_MS
    )
    watch.check(fake, "after saving and reopening")
