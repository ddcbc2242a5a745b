"""Insert below: an answer's code block becomes a new cell under the panel's (issue 13).

In a real JupyterLab: the panel (cell 0) gets an answer with a code block, the block's
Insert below button puts that code, as text, into a new code cell right under cell 0,
not run. Where a front end gives no way to
reach the notebook the button is absent (``js/test/notebookCells.test.ts``).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, expect

from ipyllm.testing import FakeLLMServer

from .labdriver import LabServer, NotebookPage
from .test_panel import expect_answer, open_panel, send, setup_cell

pytestmark = pytest.mark.browser

CODE = 'print("<b>hi</b>")  # <script>window.__pwned = 1</script>\nx = 41 + 1\n'
ANSWER = f"Run this:\n\n```python\n{CODE}```\n\nThat is all."

_CELLS = """(p) => window.__lab.notebook(p).content.model.sharedModel.cells
    .map((c) => ({ type: c.cell_type, source: c.source, count: c.execution_count ?? null }))"""


def cells(notebook: NotebookPage) -> list[dict[str, object]]:
    return list(notebook.page.evaluate(_CELLS, notebook.name))


def insert_first_block(answer: Locator) -> None:
    block = answer.locator(".ipyllm-code").first
    block.hover()
    button = block.locator(".ipyllm-insert")
    expect(button).to_be_visible()
    button.click()
    expect(button).to_have_attribute("data-state", "inserted")


def test_insert_below_puts_the_code_under_the_panels_cell(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    fake.add_reply(ANSWER)
    panel = open_panel(lab, notebook, "insert.ipynb", [setup_cell(fake), "y = 2"])
    turn = send(panel, "some code please")
    expect_answer(turn, ANSWER, plain=False)

    insert_first_block(turn.locator("[data-testid=answer]"))

    after = cells(notebook)
    assert [c["source"] for c in after] == [after[0]["source"], CODE, "y = 2"]
    assert after[1]["type"] == "code"
    assert after[1]["count"] is None, "the inserted cell must not run"
    assert notebook.page.evaluate("() => typeof window.__pwned") == "undefined"
    notebook.check_errors()
