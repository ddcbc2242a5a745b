"""The hostile corpus in the chat panel's tool cards, in a real JupyterLab.

The fake model calls a tool with every corpus text joined into one argument, and a tool
whose name and (malformed) arguments are hostile text; the tool, run without asking,
returns the text it was given, and the unknown one fails with its name in the error.
Each card is opened: its name, arguments, result and error must show the text as typed,
and nothing in the panel may be markup the text made (no script, image, frame or SVG, no
event attribute, no link but http(s), mailto or #), run script, or fetch anything.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from hostile_corpus import CANARY, cases
from ipyllm.testing import FakeLLMServer, Reply

from .labdriver import LabServer, NotebookPage
from .test_hostile import Watch
from .test_panel import STREAM_TIMEOUT_MS, completions, setup_cell
from .test_tools import card

pytestmark = pytest.mark.browser

NAME = "hostile-tools.ipynb"
HOSTILE_NAME = "<img src=x onerror=\"window.__ipyllm_pwned='tool-name'\">"
FINAL = "Both tools answered."

TOOL_CELL = '''
def echo(text: str) -> str:
    """Return the text."""
    return text

tab = ipyllm.manager().new_tab('Hostile tools', model='fake:fake-model')
handle = tab.send('Echo it.', tools=[echo], approve='auto')
'''

# What a model's or tool's text must never become in the panel.
PANEL_MARKUP = """(panel) => {
    const bad = [];
    for (const el of panel.querySelectorAll('*')) {
        const tag = el.tagName.toLowerCase();
        if (['script', 'img', 'iframe', 'svg', 'object', 'embed', 'video', 'audio',
             'style', 'link', 'meta', 'base', 'form'].includes(tag)) bad.push('<' + tag + '>');
        for (const attr of el.attributes) {
            if (/^on/i.test(attr.name) || attr.name === 'srcdoc' || attr.name === 'formaction')
                bad.push(tag + ' ' + attr.name + '=' + attr.value);
        }
    }
    return bad;
}"""


def _open(tool_card: Locator) -> None:
    details = tool_card.locator("details")
    if details.get_attribute("open") is None:
        tool_card.locator("summary").click()
    expect(details).to_have_attribute("open", "")


def _requests_off_the_server(urls: list[str], lab: LabServer) -> list[str]:
    own = urlsplit(lab.url)
    return [
        url
        for url in urls
        if not url.startswith(("data:", "blob:"))
        and (urlsplit(url).scheme, urlsplit(url).netloc)
        not in ((own.scheme, own.netloc), ("ws", own.netloc))
    ]


def test_hostile_tool_names_arguments_and_results_stay_text(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    base = urlsplit(fake.base_url("openai"))
    corpus = cases(origin=f"{base.scheme}://{base.netloc}")
    joined = "\n\n".join(case.text for case in corpus)
    fake.add_reply(
        Reply(
            "Calling.",
            tool_calls=[
                {"name": "echo", "arguments": {"text": joined}},
                {"name": HOSTILE_NAME, "arguments": corpus[0].text},  # not JSON: sent as is
            ],
        )
    )
    fake.add_reply(Reply(FINAL))
    lab.write_notebook(NAME, [setup_cell(fake), TOOL_CELL])
    page: Page = notebook.page
    watch = Watch(page)
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    notebook.open(NAME)
    notebook.run_cell(0)
    panel = notebook.outputs(0).locator(".ipyllm-panel")
    expect(panel).to_be_visible()
    notebook.run_cell(1)  # returns at once: the turn goes on in the background

    turn = panel.locator("[data-testid=turn]").last
    expect(turn).to_have_attribute("data-status", "done", timeout=STREAM_TIMEOUT_MS)
    echo, unknown = card(turn, 0), card(turn, 1)
    expect(echo).to_have_attribute("data-status", "done")
    expect(unknown).to_have_attribute("data-status", "error")
    _open(echo)
    _open(unknown)

    # Shown as text, exactly as the model and the tool wrote it.
    expect(echo.locator("[data-testid=tool-name]")).to_have_text("echo")
    args = echo.locator("[data-testid=tool-args]")
    expect(args).to_be_visible()
    assert json.loads(args.text_content() or "") == {"text": joined}
    result = echo.locator("[data-testid=tool-result]")
    expect(result).to_be_visible()
    assert result.text_content() == joined
    assert unknown.locator("[data-testid=tool-name]").text_content() == HOSTILE_NAME
    assert unknown.locator("[data-testid=tool-args]").text_content() == corpus[0].text
    error = unknown.locator("[data-testid=tool-error]")
    expect(error).to_be_visible()
    assert f"no tool named {HOSTILE_NAME!r}" in (error.text_content() or "")
    # What the model was sent back: the tool's text, and the refusal of the unknown name.
    sent = [m["content"] for m in completions(fake)[-1].json["messages"] if m["role"] == "tool"]
    assert sent[0] == joined
    assert repr(HOSTILE_NAME) in sent[1], sent

    # Inert: no markup the text made, no script ran, no link but http(s)/mailto/#, and
    # nothing fetched (the page talks to the Jupyter server only).
    assert panel.evaluate(PANEL_MARKUP) == []
    links = panel.evaluate(
        "(p) => [...p.querySelectorAll('[href]')].map((a) => a.getAttribute('href'))"
    )
    assert not [h for h in links if not re.match(r"(?i)\s*(https?:|mailto:|#)", h)], links
    watch.check(fake, "after the tool round")  # waits, then checks the canary and fetches
    assert page.evaluate(f"() => typeof {CANARY}") == "undefined"
    off = _requests_off_the_server(urls, lab)
    assert not off, f"the page asked other servers for {off}"
    assert len(completions(fake)) == 2
