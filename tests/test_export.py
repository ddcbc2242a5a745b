"""Tab.export (Markdown, notebook, JSON), SessionManager.load and ``%llm export``, from a
conversation with a tool round and an attachment through the loopback fake server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from fake_endpoints import fake_endpoint
from hostile_corpus import (
    Case,
    assert_inert_html,
    case_params,
    render_with_markdown_it,
    render_with_marked,
)
from ipyllm._manager.tab import Tab
from ipyllm.testing import FakeLLMServer, Reply

pytestmark = pytest.mark.usefixtures("restore_provider_settings")

NOTES = b"alpha,beta\n1,2\n"
ANSWER = "It is 20 C in Paris.\n\n```python\nprint('warm')\n```\n\nEnjoy."


def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: The city's name.
    """
    return {"city": city, "temp_c": 20}


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    return fake_endpoint(fake)


def conversation(fake: FakeLLMServer, model: str, answer: str = ANSWER) -> Tab:
    """A tab with one turn: a prompt with a text file, a tool round, then ``answer``."""
    fake.add_reply(
        Reply("Let me check.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    )
    fake.add_reply(Reply(answer))
    tab = ipyllm.manager().new_tab(f"export {uuid.uuid4().hex[:6]}", model=model)
    prompt = ["Weather in Paris?", ipyllm.File(NOTES, mime="text/csv")]
    tab.send(prompt, tools=[get_weather], approve="auto").result(timeout=10)
    assert tab.status == "done", tab.error
    return tab


def test_markdown_has_the_prompt_tool_round_attachment_and_answer(
    fake: FakeLLMServer, model: str, tmp_path: Path
) -> None:
    tab = conversation(fake, model)
    text = tab.export("md")
    assert "Weather in Paris?" in text
    assert "Let me check." in text
    assert "Tool call: get\\_weather (done)" in text
    assert '"city": "Paris"' in text  # the arguments, indented
    assert '{"city":"Paris","temp_c":20}' in text  # the result, as the model was sent it
    assert "15 B text file" in text
    assert "alpha,beta" not in text
    assert "It is 20 C in Paris." in text
    assert "print('warm')" in text
    path = tmp_path / "out.md"
    path.write_text("old")
    assert tab.export("md", path) == path  # replaced, like DataFrame.to_csv
    assert path.read_text("utf-8") == text
    tab.close()


def test_notebook_is_valid_with_code_cells_and_no_outputs(fake: FakeLLMServer, model: str) -> None:
    import nbformat

    tab = conversation(fake, model)
    nb = nbformat.reads(tab.export("ipynb"), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.source for c in code] == ["print('warm')"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    sources = [c.source for c in nb.cells if c.cell_type == "markdown"]
    joined = "\n".join(sources)
    assert "Weather in Paris?" in joined
    assert "get\\_weather" in joined
    assert sources.index(next(s for s in sources if "It is 20 C" in s)) < sources.index("Enjoy.")
    tab.close()


def test_json_round_trip_sends_the_same_messages(
    fake: FakeLLMServer, model: str, tmp_path: Path
) -> None:
    tab = conversation(fake, model)
    path = tab.export("json", tmp_path / "tab.json")
    fake.add_reply(Reply("Original."))
    tab.send("And tomorrow?").result(timeout=10)
    original = fake.requests[-1].json["messages"]

    loaded = ipyllm.manager().load(path)
    assert loaded is not tab
    assert loaded.title != tab.title
    assert loaded.model == model
    assert loaded.turns[0].attachments == tab.turns[0].attachments
    fake.add_reply(Reply("Loaded."))
    loaded.send("And tomorrow?").result(timeout=10)
    assert fake.requests[-1].json["messages"] == original
    assert any(m["role"] == "tool" for m in original)
    assert "alpha,beta" in json.dumps(original)  # the attachment went again
    tab.close()
    loaded.close()


def test_load_refuses_what_is_not_an_export(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"cells": []}')
    with pytest.raises(ipyllm.InvalidOptionError, match="Cannot load"):
        ipyllm.manager().load(path)


def test_unknown_format_is_refused(fake: FakeLLMServer, model: str) -> None:
    tab = ipyllm.manager().new_tab(model=model)
    with pytest.raises(ipyllm.InvalidOptionError, match="'md', 'ipynb', 'json'"):
        tab.export("html")  # type: ignore[call-overload]
    tab.close()


@pytest.mark.parametrize("case", case_params())
def test_hostile_model_text_is_inert_in_markdown_and_notebook(
    fake: FakeLLMServer, model: str, case: Case
) -> None:
    """Every corpus case as the answer: the Markdown export and each Markdown cell of the
    notebook export are inert through markdown-it and through marked (as JupyterLab
    renders Markdown cells; raw HTML passes in its defaults, so the escaping is ours)."""
    import nbformat

    tab = conversation(fake, model, answer=case.text)
    document = tab.export("md")
    assert_inert_html(render_with_markdown_it(document), case.shows)
    nb = nbformat.reads(tab.export("ipynb"), as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    for source in markdown:
        assert_inert_html(render_with_markdown_it(source))
    by_marked = render_with_marked([document, *markdown])
    assert_inert_html(by_marked[0], case.shows)
    for html in by_marked[1:]:
        assert_inert_html(html)
    # Code cells hold code only: nothing in them renders.
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")
    tab.close()


def test_llm_export_writes_by_extension(
    ip: InteractiveShell,
    fake: FakeLLMServer,
    model: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tab = conversation(fake, model)
    for ext in ("md", "ipynb", "json"):
        path = tmp_path / f"out.{ext}"
        result = ip.run_line_magic("llm", f'export "{tab.title}" {path}')
        assert result is None
        assert path.read_text("utf-8") == tab.export(ext)  # type: ignore[arg-type]
        assert f"to {path}" in capsys.readouterr().out
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match=r"\.md, \.ipynb or \.json"):
        ip.run_line_magic("llm", f'export "{tab.title}" {tmp_path / "out.txt"}')
    with pytest.raises(UsageError, match="Usage: %llm export"):
        ip.run_line_magic("llm", "export")
    tab.close()
