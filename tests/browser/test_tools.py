"""Tool calls in a real JupyterLab: each call is a card in the chat panel, Run and Deny
answer the calls that wait for approval, and what the tools returned (or that one was
declined) goes back to the model.

The kernel talks to the session's :class:`FakeLLMServer` (in the test process), which
scripts a first answer asking for two ``weather`` calls and a final answer; the tool
counts its runs in the kernel.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Locator, expect

from ipyllm.testing import FakeLLMServer, Reply

from .labdriver import LabServer, NotebookPage
from .test_magic import setup as magic_setup
from .test_panel import STREAM_TIMEOUT_MS, completions, normalized, setup_cell

pytestmark = pytest.mark.browser

FINAL = "Paris is 20 °C; Rome was not checked."

TOOL_CELL = '''
ran = []

def weather(city: str) -> dict:
    """Current weather for a city."""
    ran.append(city)
    return {"city": city, "temp_c": 20}
'''


def script_replies(fake: FakeLLMServer) -> None:
    calls = [
        {"name": "weather", "arguments": {"city": "Paris"}},
        {"name": "weather", "arguments": {"city": "Rome"}},
    ]
    fake.add_reply(Reply("Checking.", tool_calls=calls, delay_s=0.01))
    fake.add_reply(Reply(FINAL))


def card(root: Locator, index: int) -> Locator:
    return root.locator(f"[data-testid=tool-call][data-index='{index}']")


def run_first_deny_second(root: Locator) -> None:
    """Click Run on the first card and Deny on the second, each once it waits."""
    first, second = card(root, 0), card(root, 1)
    expect(first).to_have_attribute("data-status", "awaiting", timeout=STREAM_TIMEOUT_MS)
    expect(first.locator("[data-testid=tool-name]")).to_have_text("weather")
    assert json.loads(first.locator("[data-testid=tool-args]").inner_text()) == {"city": "Paris"}
    run = first.locator("[data-testid=tool-run]")
    run.click()
    expect(second).to_have_attribute("data-status", "awaiting")
    second.locator("[data-testid=tool-deny]").click()


def check_requests(fake: FakeLLMServer) -> None:
    """The second request carries the first call's result and the second's refusal."""
    first, second = completions(fake)
    assert [t["function"]["name"] for t in first.json["tools"]] == ["weather"]
    results = [m["content"] for m in second.json["messages"] if m["role"] == "tool"]
    assert len(results) == 2, second.json["messages"]
    assert json.loads(results[0]) == {"city": "Paris", "temp_c": 20}
    assert "declined" in results[1]


def check_cards(turn: Locator) -> None:
    first, second = card(turn, 0), card(turn, 1)
    expect(first).to_have_attribute("data-status", "done")
    expect(second).to_have_attribute("data-status", "denied")
    result = first.locator("[data-testid=tool-result]").text_content() or ""
    assert json.loads(result) == {"city": "Paris", "temp_c": 20}
    expect(second.locator("[data-testid=tool-result]")).to_have_count(0)
    expect(turn.locator("[data-testid=tool-run]:visible")).to_have_count(0)


def test_run_and_deny_in_the_chat_panel(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    script_replies(fake)
    name = "tools-panel.ipynb"
    start = (
        TOOL_CELL
        + "tab = ipyllm.manager().new_tab('Tools', model='fake:fake-model')\n"
        + "handle = tab.send('Weather in Paris and Rome?', tools=[weather], approve='ask')\n"
    )
    structured = (
        "schema = {'type': 'object', 'properties': {'city': {'type': 'string'}, "
        "'population': {'type': 'integer'}}}\n"
        "tab.send('Which city?', schema=schema)\n"
    )
    lab.write_notebook(name, [setup_cell(fake), start, "print('ran:', ran)", structured])
    notebook.open(name)
    notebook.run_cell(0)
    panel = notebook.outputs(0).locator(".ipyllm-panel")
    expect(panel).to_be_visible()
    notebook.run_cell(1)  # returns at once: the turn goes on in the background
    turn = panel.locator("[data-testid=turn]").last
    expect(turn.locator("[data-testid=query]")).to_have_text("Weather in Paris and Rome?")

    run_first_deny_second(turn)
    expect(turn).to_have_attribute("data-status", "done", timeout=STREAM_TIMEOUT_MS)
    assert normalized(turn.locator("[data-testid=answer]").inner_text()).endswith(FINAL)
    check_cards(turn)
    check_requests(fake)
    notebook.run_cell(2)
    expect(notebook.outputs(2)).to_contain_text("ran: ['Paris']")

    # A reloaded page builds the cards from the panel's trait alone.
    notebook.save()
    notebook.reload()
    turn = notebook.outputs(0).locator(".ipyllm-panel [data-testid=turn]").last
    expect(turn).to_have_attribute("data-status", "done", timeout=STREAM_TIMEOUT_MS)
    check_cards(turn)
    assert len(completions(fake)) == 2

    # A structured answer shows as laid-out JSON text, not as Markdown.
    fake.add_reply(Reply(json={"city": "Paris", "population": 2102650}))
    notebook.run_cell(3)
    turn = notebook.outputs(0).locator(".ipyllm-panel [data-testid=turn]").last
    expect(turn.locator("[data-testid=query]")).to_have_text("Which city?")
    expect(turn).to_have_attribute("data-status", "done", timeout=STREAM_TIMEOUT_MS)
    block = turn.locator("[data-testid=answer-json] pre > code")
    assert block.text_content() == '{\n  "city": "Paris",\n  "population": 2102650\n}'
    expect(turn.locator("[data-testid=tool-call]")).to_have_count(0)


def test_run_and_deny_in_a_busy_llm_cell(
    lab: LabServer, notebook: NotebookPage, fake: FakeLLMServer
) -> None:
    script_replies(fake)
    name = "tools-magic.ipynb"
    cells = [
        magic_setup(fake),
        TOOL_CELL,
        "%%llm --tools weather\nWeather in Paris and Rome?",
        "print('ran:', ran)",
    ]
    lab.write_notebook(name, cells)
    notebook.open(name)
    notebook.run_all(wait=False)
    # The cell waits for the answer; its live view takes the clicks meanwhile.
    live = notebook.outputs(2).locator(".ipyllm-panel[data-compact=true]")
    expect(live).to_be_visible(timeout=STREAM_TIMEOUT_MS)
    run_first_deny_second(live)

    rendered = notebook.outputs(2).locator(".jp-RenderedMarkdown")
    expect(rendered).to_be_visible(timeout=STREAM_TIMEOUT_MS)
    notebook.wait_until_run()
    notebook.check_errors()
    shown = normalized(rendered.inner_text())
    assert FINAL in shown
    assert "denied by the user" in shown
    expect(notebook.outputs(3)).to_contain_text("ran: ['Paris']")
    check_requests(fake)
