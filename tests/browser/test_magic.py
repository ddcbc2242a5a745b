"""A ``%%llm`` cell in a real JupyterLab: the answer streams into the cell's compact view,
its Stop button works while the cell is busy, and the cell ends as rendered Markdown."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, expect

from ipyllm.testing import FakeLLMServer, Reply

from .labdriver import LabServer, NotebookPage
from .test_panel import STREAM_TIMEOUT_MS, answer_length, normalized, wait_for_length, words

pytestmark = pytest.mark.browser


def setup(server: FakeLLMServer) -> str:
    return (
        "%load_ext ipyllm\nimport ipyllm\n"
        f"ipyllm.register_endpoint('fake', {server.base_url('openai')!r}, models=['m'])\n"
        "%llm default fake:m"
    )


def stream_cell(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer, name: str, cell: str, chars: int
) -> tuple[Locator, Locator]:
    """Run a notebook of the set-up cell and ``cell`` until ``chars`` characters of the
    answer show in the cell's live view; the view and its turn."""
    lab.write_notebook(name, [setup(fake), cell])
    notebook.open(name)
    notebook.run_all(wait=False)
    live = notebook.outputs(1).locator(".ipyllm-panel[data-compact=true]")
    expect(live).to_be_visible(timeout=STREAM_TIMEOUT_MS)
    turn = live.locator("[data-testid=turn]")
    wait_for_length(notebook.page, turn, chars)
    return live, turn


def test_a_cell_streams_then_shows_markdown(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    text = words(60)
    fake.add_reply(Reply(f"**Bold start** {text}", delay_s=0.03))  # ~2 s
    stream_cell(lab, notebook, fake, "magic.ipynb", "%%llm -o r\nCount for me.", 20)
    # Once the answer is complete the live view gives way to the static Markdown.
    rendered = notebook.outputs(1).locator(".jp-RenderedMarkdown")
    expect(rendered).to_be_visible(timeout=STREAM_TIMEOUT_MS)
    expect(notebook.outputs(1).locator(".ipyllm-panel")).to_have_count(0)
    expect(rendered.locator("strong")).to_have_text("Bold start")
    assert normalized(text) in normalized(rendered.inner_text())
    assert "fake:m ·" in rendered.inner_text()  # the footer


def test_the_stop_button_of_a_busy_cell_stops_the_answer(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    text = words(400)
    fake.add_reply(Reply(text, delay_s=0.03))  # 12 s if nobody stops it
    live, turn = stream_cell(lab, notebook, fake, "magic-stop.ipynb", "%%llm\nCount slowly.", 40)
    kept_at_least = answer_length(turn)
    # The cell is still running (it waits for the answer): the click must get through.
    live.locator("[data-testid=send][data-state=stop]").click()
    rendered = notebook.outputs(1).locator(".jp-RenderedMarkdown")
    expect(rendered).to_be_visible(timeout=10_000)
    assert fake.wait_for_disconnect(5.0), "the stream to the provider was not closed"
    shown = normalized(rendered.inner_text())
    assert "stopped" in shown
    partial = shown.split("fake:m ·")[0].strip()
    assert len(partial) >= kept_at_least
    assert text.startswith(partial)
    assert len(partial) < len(text)
