"""The finished panel in a real JupyterLab: what only a browser's layout and events show.

A cell's Stop stays in the window while a long answer streams; the full panel fits the
window; the grouped model picker sets the tab's model; Copy and Retry on a done answer;
a key the kernel refuses stays in the field.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from ipyllm.testing import FakeLLMServer, Reply

from .labdriver import LabServer, NotebookPage
from .test_panel import (
    STREAM_TIMEOUT_MS,
    completions,
    expect_answer,
    open_panel,
    send,
    wait_for_length,
)

pytestmark = pytest.mark.browser


def setup_cell(server: FakeLLMServer, extra: str = "") -> str:
    """The fake server as endpoint ``fake`` with two models, then the panel."""
    url = server.base_url("openai")
    return (
        "import os\nimport ipyllm\n"
        f"ipyllm.register_endpoint('fake', {url!r}, models=['fake-model', 'other-model'])\n"
        "os.environ['IPYLLM_MODEL'] = 'fake:fake-model'\n" + extra + "panel = ipyllm.chat()\n"
    )


def paragraphs(n: int) -> list[str]:
    """``n`` short paragraphs, one piece each: an answer far taller than the window."""
    return [f"Paragraph {i:03d} of a long answer.\n\n" for i in range(1, n + 1)]


def visible_at_its_centre(page: Page, target: Locator) -> bool:
    """Whether ``target`` is what the window shows at its centre (in view, not covered)."""
    box = target.bounding_box()
    if box is None:
        return False
    return bool(
        target.evaluate(
            "(el, [x, y]) => { const hit = document.elementFromPoint(x, y);"
            " return !!hit && (hit === el || el.contains(hit)); }",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
    )


# ---- a %%llm cell's Stop ---------------------------------------------------------------


def test_the_stop_of_a_cell_stays_in_the_window_while_a_long_answer_streams(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    page = notebook.page
    page.set_viewport_size({"width": 1100, "height": 700})
    pieces = paragraphs(150)
    fake.add_reply(Reply(pieces, delay_s=0.05))  # 7.5 s
    setup = (
        "%load_ext ipyllm\nimport ipyllm\n"
        f"ipyllm.register_endpoint('fake', {fake.base_url('openai')!r}, models=['m'])\n"
        "%llm default fake:m"
    )
    lab.write_notebook("sticky.ipynb", [setup, "%%llm\nWrite a long answer."])
    notebook.open("sticky.ipynb")
    notebook.run_all(wait=False)
    live = notebook.outputs(1).locator(".ipyllm-panel[data-compact=true]")
    expect(live).to_be_visible(timeout=STREAM_TIMEOUT_MS)
    turn = live.locator("[data-testid=turn]")
    stop = live.locator("[data-testid=send]")
    # Well past the window's height: the answer goes on below the fold.
    wait_for_length(page, turn, len("".join(pieces[:60])), timeout_s=STREAM_TIMEOUT_MS / 1000)
    assert turn.get_attribute("data-status") == "streaming", "the answer ended too soon"
    answer_box = turn.locator("[data-testid=answer]").bounding_box()
    assert answer_box
    assert answer_box["y"] + answer_box["height"] > 700, answer_box
    expect(stop).to_be_visible()
    assert visible_at_its_centre(page, stop), "Stop drifted out of the window"
    # The cell's view does not scroll inside itself: it grows in the notebook's scroll.
    conversation = live.locator(".ipyllm-conversation")
    inner = conversation.evaluate("el => el.scrollHeight - el.clientHeight")
    assert inner <= 1, f"the cell's view scrolls inside itself by {inner}px"
    stop.click()
    # The stopped cell ends as static Markdown (the live view goes away, perhaps before
    # it shows "stopped"): the saved answer says it was stopped.
    rendered = notebook.outputs(1).locator(".jp-RenderedMarkdown")
    expect(rendered).to_contain_text("stopped", timeout=10_000)
    assert fake.wait_for_disconnect(5.0), "the stream to the provider was not closed"


# ---- the full panel's height -----------------------------------------------------------


def test_the_panel_fits_the_window(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    page = notebook.page
    page.set_viewport_size({"width": 1100, "height": 760})
    fake.add_reply(Reply(paragraphs(60), delay_s=0.0))
    panel = open_panel(lab, notebook, "fits.ipynb", [setup_cell(fake)])
    turn = send(panel, "A long answer, please")
    expect(turn).to_have_attribute("data-status", "done", timeout=STREAM_TIMEOUT_MS)
    conversation = panel.locator(".ipyllm-conversation")
    scroll, client = conversation.evaluate("el => [el.scrollHeight, el.clientHeight]")
    assert scroll > client, "the answer should be taller than the conversation's box"
    box = panel.bounding_box()
    assert box is not None
    assert box["height"] <= 760, f"the panel is {box['height']}px tall in a 760px window"
    # The composer is reachable without scrolling the conversation.
    expect(panel.locator("[data-testid=prompt]")).to_be_visible()


# ---- the model picker ------------------------------------------------------------------


def test_the_grouped_picker_sets_the_tabs_model(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    fake.add_reply(Reply("First answer."))
    fake.add_reply(Reply("Second answer."))
    panel = open_panel(lab, notebook, "picker.ipynb", [setup_cell(fake)])
    # No other chat: the context choice takes no room.
    expect(panel.locator("[data-testid=context-picker]")).to_be_hidden()
    turn = send(panel, "Which model are you?")
    expect_answer(turn, "First answer.")
    # The chat is named after its first prompt.
    tab = panel.locator("[data-testid=tab]")
    expect(tab).to_have_text("Which model are you?")

    picker = panel.locator("[data-testid=model-picker]")
    # The endpoint's models are grouped under its label, each option the model alone.
    other = picker.locator("option[value='fake:other-model']")
    label = other.evaluate("o => o.parentElement.label")
    assert label
    assert picker.locator(f"optgroup[label='{label}'] option").count() == 2
    expect(picker.locator("option[value='fake:other-model']")).to_have_text("other-model")
    expect(picker.locator("option:checked")).to_have_text(f"{label} · fake-model")
    picker.select_option("fake:other-model")
    expect(tab).to_have_attribute("title", re.compile(r"\(fake:other-model\)"))
    expect(picker.locator("option:checked")).to_have_text(f"{label} · other-model")
    expect(picker.locator("option[value='fake:fake-model']")).to_have_text("fake-model")
    turn = send(panel, "And now?")
    expect_answer(turn, "Second answer.")
    assert [r.json["model"] for r in completions(fake)] == ["fake-model", "other-model"]
    footer = turn.locator("[data-testid=footer]").inner_text()
    assert "other-model" in footer, footer
    assert "—" not in footer, footer


# ---- Copy and Retry --------------------------------------------------------------------


def test_copy_and_retry_on_a_done_answer(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    source = "Use **pandas**:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    fake.add_reply(Reply(source))
    fake.add_reply(Reply("Again: use pandas."))
    panel = open_panel(lab, notebook, "retry.ipynb", [setup_cell(fake)])
    page = notebook.page
    send(panel, "How do I read a CSV?")
    turn = panel.locator("[data-testid=turn]").first  # send() gives the last turn, whichever it is
    expect_answer(turn, source, plain=False)
    # Table headers are shaded.
    th_bg = turn.locator("th").first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert th_bg not in ("rgba(0, 0, 0, 0)", "transparent"), th_bg

    page.evaluate(
        "() => { window.__copied = null;"
        " navigator.clipboard.writeText = async (t) => { window.__copied = t; }; }"
    )
    turn.locator("[data-testid=copy-answer]").click()
    expect(turn.locator("[data-testid=copy-answer]")).to_have_text("Copied")
    assert page.evaluate("() => window.__copied") == source

    turn.locator("[data-testid=retry]").click()
    turns = panel.locator("[data-testid=turn]")
    expect(turns).to_have_count(2)
    again = turns.last
    expect(again.locator("[data-testid=query]")).to_have_text("How do I read a CSV?")
    expect_answer(again, "Again: use pandas.")
    # Only the latest turn offers Retry.
    expect(turn.locator("[data-testid=retry]")).to_be_hidden()
    expect(again.locator("[data-testid=retry]")).to_be_visible()
    requests = completions(fake)
    assert len(requests) == 2
    assert requests[1].json["messages"][-1]["content"] == "How do I read a CSV?"


# ---- a refused key ---------------------------------------------------------------------

REFUSE = (
    "from ipyllm import _registry\n"
    "from ipyllm._errors import MissingKeyError\n"
    "def _refuse(provider, key):\n"
    "    raise MissingKeyError(f'The {provider} key was refused: it is not a key.')\n"
    "_registry.key_store().set = _refuse\n"
)


def test_a_refused_key_stays_in_the_field(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    panel = open_panel(lab, notebook, "refused.ipynb", [setup_cell(fake, REFUSE)])
    panel.locator("[data-testid=settings-toggle]").click()
    expect(panel.locator("[data-testid=settings]")).to_be_visible()
    status = panel.locator("[data-testid=key-status][data-provider=openai]")
    delete = panel.locator("[data-testid=key-delete][data-provider=openai]")
    if status.inner_text() != "keyring":
        expect(delete).to_be_disabled()
    box = panel.locator("[data-testid=key-input][data-provider=openai]")
    box.fill("not-a-key")
    panel.locator("[data-testid=key-save][data-provider=openai]").click()
    expect(panel.locator("[data-testid=notice]")).to_contain_text("was refused")
    expect(box).to_have_value("not-a-key")
    assert "not-a-key" not in (panel.evaluate("el => el.outerHTML"))
    # The rows line up: every key field starts at the same x.
    xs = {
        round(b["x"])
        for b in (f.bounding_box() for f in panel.locator("[data-testid=key-input]").all())
        if b
    }
    assert len(xs) == 1, f"the key fields do not line up: {xs}"
