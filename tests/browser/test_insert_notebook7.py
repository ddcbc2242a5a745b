"""Insert below in Notebook 7 (issue 13): the same panel, in Jupyter Notebook 7's page.

The ``notebook`` package's server extension is loaded by the test's Jupyter server, so
``/notebooks/NAME`` is Notebook 7 on the same kernel machinery. The panel reaches the
notebook the same way as in JupyterLab (the widget manager's document context); this
runs it there: the code lands in a new cell right under the panel's, not run.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from ipyllm.testing import FakeLLMServer

from .labdriver import LabServer
from .test_insert import ANSWER, CODE, insert_first_block
from .test_panel import expect_answer, send, setup_cell

pytestmark = pytest.mark.browser

pytest.importorskip("notebook", minversion="7", reason="Notebook 7 is not installed")


def notebook7_url(lab: LabServer, name: str) -> str:
    return f"{lab.url}/notebooks/{name}?token={lab.token}"


def run_first_cell(lab: LabServer, page: Page, name: str) -> None:
    """Run the first cell with Shift+Enter once the page's kernel is idle; again if a
    key pressed while the page was still settling did not start it (no window.jupyterapp
    in Notebook 7's page to run it by command)."""
    deadline = time.monotonic() + 60
    while not any(
        s["path"] == name and s["kernel"]["execution_state"] == "idle"
        for s in lab.api("GET", "/api/sessions") or []
    ):
        assert time.monotonic() < deadline, "the notebook's kernel never became idle"
        time.sleep(0.2)
    prompt = page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".jp-InputPrompt")
    for _ in range(3):
        page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        try:
            expect(prompt).not_to_have_text("[ ]:", timeout=10_000)
            return
        except AssertionError:
            continue
    raise AssertionError("Shift+Enter never ran the first cell")


def test_insert_below_in_notebook_7(lab: LabServer, page: Page, fake: FakeLLMServer) -> None:
    fake.add_reply(ANSWER)
    lab.write_notebook("insert7.ipynb", [setup_cell(fake), "y = 2"])
    page.goto(notebook7_url(lab, "insert7.ipynb"))
    cells = page.locator(".jp-Notebook .jp-Cell")
    expect(cells).to_have_count(2, timeout=30_000)
    # Notebook 7's own page, not JupyterLab's: it marks its body and shows its logo.
    assert page.evaluate("() => document.body.dataset.notebook") == "notebooks"
    expect(page.locator("#jp-NotebookLogo")).to_have_count(1)
    run_first_cell(lab, page, "insert7.ipynb")
    panel = cells.nth(0).locator(".ipyllm-panel")
    expect(panel).to_be_visible(timeout=60_000)
    expect(panel).to_have_attribute("data-insert", "true")
    turn = send(panel, "some code please")
    expect_answer(turn, ANSWER, plain=False)

    insert_first_block(turn.locator("[data-testid=answer]"))

    expect(cells).to_have_count(3)
    inserted = cells.nth(1).locator(".cm-content")
    expect(inserted).to_contain_text("x = 41 + 1")
    assert inserted.inner_text().strip() == CODE.strip()
    expect(cells.nth(2).locator(".cm-content")).to_have_text("y = 2")
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
