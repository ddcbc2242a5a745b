"""The chat panel in a real JupyterLab, driven through the DOM hooks of docs/panel-protocol.md.

The kernel talks to the session's :class:`FakeLLMServer` as an OpenAI-compatible endpoint
named ``fake`` (no key needed); each test scripts its replies with ``fake.add_reply``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from ipyllm.testing import FakeLLMServer, RecordedRequest, Reply

from .labdriver import LabServer, NotebookPage, output_texts

pytestmark = pytest.mark.browser

MODEL = "fake:fake-model"
STREAM_TIMEOUT_MS = 30_000
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def setup_cell(server: FakeLLMServer, *, as_openai: bool = False) -> str:
    """Kernel code: the fake server as endpoint ``fake``, the default model, the panel.

    ``as_openai``: the fake server stands in for OpenAI instead (a priced model, for
    screenshots that look like real use), with a made-up key in the kernel's environment.
    """
    url = server.base_url("openai")
    if as_openai:
        connect = (
            f"ipyllm.configure('openai', base_url={url!r})\n"
            "os.environ['OPENAI_API_KEY'] = 'sk-not-a-real-key'\n"
            "os.environ['IPYLLM_MODEL'] = 'openai:gpt-4o-mini'\n"
        )
    else:
        connect = (
            f"ipyllm.register_endpoint('fake', {url!r}, models=['fake-model'])\n"
            f"os.environ['IPYLLM_MODEL'] = {MODEL!r}\n"
        )
    return "import os\nimport ipyllm\n" + connect + "panel = ipyllm.chat()\n"


def words(n: int) -> str:
    """``w0001 w0002 …``: every piece unique, so a lost or doubled piece shows."""
    return " ".join(f"w{i:04d}" for i in range(1, n + 1))


def normalized(text: str) -> str:
    return " ".join(text.split())


def open_panel(lab: LabServer, notebook: NotebookPage, name: str, cells: list[str]) -> Locator:
    """Write and open ``name``, run its first cell only; the panel that cell shows."""
    lab.write_notebook(name, cells)
    notebook.open(name)
    notebook.run_cell(0)
    panel = notebook.outputs(0).locator(".ipyllm-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("[data-testid=prompt]")).to_be_editable()
    return panel


def send(panel: Locator, prompt: str) -> Locator:
    """Type ``prompt``, press Enter; the new (last) turn of the shown tab."""
    before = panel.locator("[data-testid=turn]").count()
    box = panel.locator("[data-testid=prompt]")
    box.click()
    box.fill(prompt)
    box.press("Enter")
    turns = panel.locator("[data-testid=turn]")
    expect(turns).to_have_count(before + 1)
    turn = turns.last
    expect(turn.locator("[data-testid=query]")).to_have_text(prompt)
    return turn


def answer_length(turn: Locator) -> int:
    value = turn.locator("[data-testid=answer]").get_attribute("data-length")
    return int(value or 0)


def wait_for_length(page: Page, turn: Locator, at_least: int, timeout_s: float = 15.0) -> int:
    deadline = time.monotonic() + timeout_s
    while (n := answer_length(turn)) < at_least:
        assert time.monotonic() < deadline, f"answer stuck at {n} code points (< {at_least})"
        page.wait_for_timeout(30)
    return n


def completions(server: FakeLLMServer) -> list[RecordedRequest]:
    """The chat requests the server received (not model-list requests)."""
    return [r for r in server.requests if r.method == "POST" and r.json]


def expect_answer(turn: Locator, text: str, *, plain: bool = True) -> None:
    """The turn settles as done with exactly ``text`` (as shown, when ``plain`` text)."""
    expect(turn).to_have_attribute("data-status", "done", timeout=STREAM_TIMEOUT_MS)
    answer = turn.locator("[data-testid=answer]")
    expect(answer).to_have_attribute("data-length", str(len(text)))
    if plain:
        assert normalized(answer.inner_text()) == normalized(text)


# ---- streaming ---------------------------------------------------------------------


def test_answer_streams_into_the_panel(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    text = words(60)
    fake.add_reply(Reply(text, delay_s=0.04, tokens_in=321, tokens_out=77))  # ~2.4 s
    panel = open_panel(lab, notebook, "stream.ipynb", [setup_cell(fake)])

    turn = send(panel, "Count for me")
    expect(panel.locator("[data-testid=send]")).to_have_attribute("data-state", "stop")
    lengths = []
    while turn.get_attribute("data-status") == "streaming":
        lengths.append(answer_length(turn))
        notebook.page.wait_for_timeout(100)
    expect_answer(turn, text)

    assert lengths == sorted(lengths), f"the answer shrank: {lengths}"
    partial = {n for n in lengths if 0 < n < len(text)}
    assert len(partial) >= 3, f"the answer did not grow in steps: {lengths}"
    footer = turn.locator("[data-testid=footer]").inner_text()
    assert "fake-model" in footer
    assert re.search(r"\b321\b", footer), f"no input tokens in the footer: {footer!r}"
    assert re.search(r"\b77\b", footer), f"no output tokens in the footer: {footer!r}"
    expect(panel.locator("[data-testid=send]")).to_have_attribute("data-state", "send")
    (request,) = completions(fake)
    assert request.json["messages"][-1]["content"] == "Count for me"


# ---- stop --------------------------------------------------------------------------


def test_stop_keeps_the_partial_answer(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    text = words(400)
    fake.add_reply(Reply(text, delay_s=0.03))  # 12 s if nobody stops it
    panel = open_panel(lab, notebook, "stop.ipynb", [setup_cell(fake)])

    turn = send(panel, "Count slowly")
    wait_for_length(notebook.page, turn, 60)
    button = panel.locator("[data-testid=send]")
    expect(button).to_have_attribute("data-state", "stop")
    button.click()

    expect(turn).to_have_attribute("data-status", "stopped", timeout=10_000)
    assert fake.wait_for_disconnect(5.0), "the stream to the provider was not closed"
    expect(button).to_have_attribute("data-state", "send")
    kept = answer_length(turn)
    notebook.page.wait_for_timeout(500)
    assert answer_length(turn) == kept, "text still arrived after Stop"
    partial = normalized(turn.locator("[data-testid=answer]").inner_text())
    assert 0 < kept < len(text)
    assert partial
    assert text.startswith(partial)


# ---- reload mid-stream -------------------------------------------------------------


def test_reload_mid_stream_ends_with_the_exact_text(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    text = words(500)
    fake.add_reply(Reply(text, delay_s=0.02))  # ~10 s; a reload takes about 4 s
    name = "reload.ipynb"
    panel = open_panel(lab, notebook, name, [setup_cell(fake)])

    turn = send(panel, "Count while I reload")
    wait_for_length(notebook.page, turn, 120)
    notebook.save()
    notebook.reload()

    panel = notebook.outputs(0).locator(".ipyllm-panel")
    expect(panel).to_be_visible(timeout=STREAM_TIMEOUT_MS)
    turn = panel.locator("[data-testid=turn]").last
    expect(turn).to_be_visible()
    seen_streaming = turn.get_attribute("data-status") == "streaming"
    expect_answer(turn, text)
    assert len(completions(fake)) == 1, "the reload sent the prompt again"
    # Otherwise the test only proved the snapshot of a finished turn.
    assert seen_streaming, "the answer finished before the reloaded panel showed it"


# ---- a second display of the same panel --------------------------------------------


def test_second_display_shows_the_same_conversation(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    text = words(120)
    fake.add_reply(Reply(text, delay_s=0.03))  # ~3.6 s
    panel = open_panel(lab, notebook, "twice.ipynb", [setup_cell(fake), "panel"])

    turn = send(panel, "Count for both views")
    wait_for_length(notebook.page, turn, 100)
    notebook.run_cell(1)  # mounts a second view while the answer streams

    second = notebook.outputs(1).locator(".ipyllm-panel")
    expect(second).to_be_visible()
    expect_answer(turn, text)
    expect_answer(second.locator("[data-testid=turn]").last, text)
    expect(second.locator("[data-testid=turn]")).to_have_count(1)


# ---- keys never leave the keyring --------------------------------------------------

STATE_CELL = """\
import json, ipywidgets
state = ipywidgets.Widget.get_manager_state(drop_defaults=False)
for entry in state["state"].values():
    for big in ("_esm", "_css"):
        entry["state"].pop(big, None)
print("WIDGET-STATE", json.dumps(state, default=str))
print("KEY-SOURCE", ipyllm.keys.status().get("openai"))
"""


@pytest.mark.skipif(
    os.environ.get("IPYLLM_KEYRING_SANDBOX") != "1",
    reason="stores a key in the OS keyring: run under scripts/with-keyring.sh",
)
def test_key_goes_to_the_keyring_and_nowhere_else(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    key = "sk-browser-" + secrets.token_hex(16)
    name = "keys.ipynb"
    panel = open_panel(lab, notebook, name, [setup_cell(fake), STATE_CELL])
    page = notebook.page

    panel.locator("[data-testid=settings-toggle]").click()
    expect(panel.locator("[data-testid=settings]")).to_be_visible()
    status = panel.locator("[data-testid=key-status][data-provider=openai]")
    expect(status).to_have_text("missing")
    box = panel.locator("[data-testid=key-input][data-provider=openai]")
    box.fill(key)
    panel.locator("[data-testid=key-save][data-provider=openai]").click()
    try:
        expect(status).to_have_text("keyring")
        expect(box).to_have_value("")
        notebook.run_cell(1)
        expect(notebook.outputs(1)).to_contain_text("KEY-SOURCE keyring")
        notebook.save()
        saved = notebook.path.read_text()
        assert "WIDGET-STATE" in output_texts(notebook.read(), 1)
        assert key not in saved, "the key is in the saved notebook"

        storage = page.evaluate(
            "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
        )
        assert key not in storage, "the key is in the browser's storage"
        assert key not in page.content(), "the key is still in the page"
        leaks = [
            str(path)
            for path in lab.base.rglob("*")
            if path.is_file() and key.encode() in path.read_bytes()
        ]
        assert not leaks, f"the key was written to {leaks}"
    finally:  # the keyring is a throwaway one, but leave it as it was
        panel.locator("[data-testid=key-delete][data-provider=openai]").click()
        expect(status).to_have_text("missing")


# ---- a hostile answer --------------------------------------------------------------

HOSTILE = (
    'Look: <img src=x onerror="window.__pwned=1">\n\n'
    "<script>window.__pwned=2</script>\n\n"
    '[click](javascript:window.__pwned=3) <a href="javascript:window.__pwned=4">me</a>\n\n'
    "The end."
)


def test_hostile_answer_runs_no_script(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    fake.add_reply(Reply(HOSTILE, delay_s=0.01))
    panel = open_panel(lab, notebook, "hostile.ipynb", [setup_cell(fake)])
    page = notebook.page

    turn = send(panel, '<img src=y onerror="window.__pwned=5">')
    expect(turn).to_have_attribute("data-status", "done", timeout=STREAM_TIMEOUT_MS)
    expect(turn.locator("[data-testid=answer]")).to_contain_text("The end.")
    for link in turn.locator("[data-testid=answer] a").all():
        link.click(force=True)
    page.wait_for_timeout(1000)  # an <img onerror> would have fired by now

    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert panel.locator("script").count() == 0
    assert panel.locator("[onerror]").count() == 0
    hrefs = [a.get_attribute("href") or "" for a in panel.locator("a").all()]
    assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")]


# ---- screenshots for the docs ------------------------------------------------------

SHOWCASE_PROMPT = "How do I read a CSV file with pandas?"
SHOWCASE = """\
Use `pandas.read_csv`; it infers the column types for you:

```python
import pandas as pd

df = pd.read_csv("sales.csv", parse_dates=["date"])
print(df.head())
```

A few options worth knowing:

| Option | What it does |
|---|---|
| `sep=";"` | reads semicolon-separated files |
| `usecols=[...]` | loads only some columns |
| `dtype={"id": "string"}` | keeps IDs as text |

For files larger than memory, pass `chunksize=100_000` and loop over the chunks.
"""


def test_screenshots(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer, tmp_path: Path
) -> None:
    """The panel mid-stream and finished, light then dark (a new tab); kept in docs/images
    with IPYLLM_SCREENSHOTS=1, else in the test's tmp_path."""
    out = DOCS_IMAGES if os.environ.get("IPYLLM_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    page = notebook.page
    page.set_viewport_size({"width": 960, "height": 1400})
    # The stream pauses halfway, so the mid-stream shot is not taken of a moving target.
    pieces = re.findall(r"\s*\S+|\s+", SHOWCASE)
    half = len(pieces) // 2
    paused_at = len("".join(pieces[:half]))
    for _ in range(2):
        fake.add_reply(
            Reply(pieces, delay_s=0.02, stall_after=half, stall_s=2.0, tokens_in=412, tokens_out=96)
        )
    panel = open_panel(lab, notebook, "shots.ipynb", [setup_cell(fake, as_openai=True)])
    shots: list[Path] = []
    try:
        for theme in ("light", "dark"):
            if theme == "dark":
                notebook.command("apputils:change-theme", {"theme": "JupyterLab Dark"})
                page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
                tabs = panel.locator("[data-testid=tab]")
                panel.locator("[data-testid=new-tab]").click()
                expect(tabs).to_have_count(2)
                expect(tabs.last).to_have_attribute("aria-selected", "true")
                expect(panel.locator("[data-testid=turn]")).to_have_count(0)
            turn = send(panel, SHOWCASE_PROMPT)
            expect(turn.locator("[data-testid=answer]")).to_have_attribute(
                "data-length", str(paused_at)
            )
            shots.append(out / f"chat-panel-streaming-{theme}.png")
            panel.screenshot(path=str(shots[-1]), animations="disabled")
            expect_answer(turn, SHOWCASE, plain=False)
            expect(turn.locator("[data-testid=answer] pre")).to_contain_text("pd.read_csv")
            page.mouse.move(0, 0)
            shots.append(out / f"chat-panel-done-{theme}.png")
            panel.screenshot(path=str(shots[-1]), animations="disabled")
    finally:
        # The theme is a saved setting, and later tests expect light.
        notebook.command("apputils:change-theme", {"theme": "JupyterLab Light"})
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")
    for shot in shots:
        assert 5_000 < shot.stat().st_size < 400_000, f"{shot}: {shot.stat().st_size} bytes"
