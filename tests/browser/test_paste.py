"""A file pasted or dropped into the panel's composer goes with the prompt (issue 13).

In a real JupyterLab: a small PNG is pasted (a ``DataTransfer`` built in the page), shows
as a chip, is sent with the prompt, reaches the fake server as an image part, and the
turn shows it (a chip, with a thumbnail from the local blob in the view that sent it).
"""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Locator, expect

from ipyllm.testing import FakeLLMServer

from .labdriver import LabServer, NotebookPage
from .test_panel import STREAM_TIMEOUT_MS, completions, expect_answer, open_panel

pytestmark = pytest.mark.browser


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


def setup_cell(server: FakeLLMServer) -> str:
    url = server.base_url("openai")
    return (
        "import os\nimport ipyllm\n"
        f"ipyllm.register_endpoint('fakeimg', {url!r}, models=['m'], attachments={{'image'}})\n"
        "os.environ['IPYLLM_MODEL'] = 'fakeimg:m'\n"
        "panel = ipyllm.chat()\n"
    )


_DISPATCH = """([sel, kind, b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, { type: "image/png" }));
  const target = document.querySelector(sel);
  const event = kind === "paste"
    ? new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true })
    : new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true });
  target.dispatchEvent(event);
  return event.defaultPrevented;
}"""


def _put_file(panel: Locator, kind: str, name: str) -> None:
    selector = ".ipyllm-panel [data-testid=prompt]"
    if kind == "drop":
        selector = ".ipyllm-panel .ipyllm-composer"
    taken = panel.page.evaluate(_DISPATCH, [selector, kind, base64.b64encode(PNG).decode(), name])
    assert taken, f"the panel did not take the {kind}"


@pytest.mark.parametrize("kind", ["paste", "drop"])
def test_a_pasted_image_is_sent_as_an_image_part_and_shown_in_the_turn(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer, kind: str
) -> None:
    fake.add_reply("A small red image.")
    panel = open_panel(lab, notebook, f"paste-{kind}.ipynb", [setup_cell(fake)])
    _put_file(panel, kind, "shot.png")
    chip = panel.locator("[data-testid=attachment-chip]")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("shot.png")
    box = panel.locator("[data-testid=prompt]")
    box.click()
    box.fill("what is this?")
    box.press("Enter")
    turn = panel.locator("[data-testid=turn]").last
    expect(turn.locator("[data-testid=query]")).to_have_text("what is this?")
    expect(chip).to_have_count(0)
    expect_answer(turn, "A small red image.")
    [request] = completions(fake)
    image, text = request.json["messages"][-1]["content"]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert text == {"type": "text", "text": "what is this?"}
    shown = turn.locator("[data-testid=turn-attachment]")
    expect(shown).to_have_count(1, timeout=STREAM_TIMEOUT_MS)
    expect(shown).to_contain_text("shot.png")
    expect(shown).to_contain_text("4×3")
    thumb = shown.locator("[data-testid=attachment-thumb]")
    expect(thumb).to_have_count(1)
    assert (thumb.get_attribute("src") or "").startswith("blob:")
