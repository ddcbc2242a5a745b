"""The notebooks in notebooks/ run top to bottom in a real kernel with no key and no network,
show what they say they show, and are committed with exactly the outputs such a run makes
(``tests/notebook_outputs.py``; refresh with ``scripts/refresh-notebooks``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from notebook_outputs import NOTEBOOKS, comparable, notebooks

Run = Callable[[str], nbformat.NotebookNode]


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        data = output.get("data", {})
        parts.append(data.get("text/markdown", "") or data.get("text/plain", ""))
    return "".join(parts)


def _code(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def _errors(nb: nbformat.NotebookNode) -> list[dict[str, object]]:
    return [o for c in _code(nb) for o in c.outputs if o.get("output_type") == "error"]


@pytest.mark.kernel
@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_committed_outputs_are_what_a_fresh_run_makes(run_notebook: Run, path: Path) -> None:
    name = path.name
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(committed)
    fresh = run_notebook(name)
    assert _errors(fresh) == []
    assert any(c.outputs for c in _code(committed)), (
        f"{name} is committed without outputs: run scripts/refresh-notebooks"
    )
    assert "widgets" not in committed.metadata
    for before, after in zip(comparable(committed), comparable(fresh), strict=True):
        assert before == after, (
            f"{name}: the committed outputs of this cell are not what it makes now; "
            f"run scripts/refresh-notebooks\n{before['source']}"
        )


@pytest.mark.kernel
def test_quickstart_shows_a_session_a_cell_magic_and_the_panel_offline(run_notebook: Run) -> None:
    nb = run_notebook("quickstart.ipynb")
    code = _code(nb)
    assert "'demo:demo'" in _text(code[0])
    asked = _text(code[1])
    assert "This is the ipyllm offline demo" in asked
    assert "2 messages so far" in asked
    assert "pieces, starting: **This is the ipyllm offline demo**" in _text(code[2])
    [magic] = [c for c in code if c.source.startswith("%%llm")]
    answer = magic.outputs[0]["data"]["text/markdown"]
    assert "You asked: *Suggest three names" in answer
    assert "demo:demo ·" in answer  # the footer
    [panel] = [c for c in code if c.source.strip() == "ipyllm.chat()"]
    assert "chat panel shows here" in _text(panel)  # the note a saved notebook shows
    # The demo's answer shows in full once, not in every cell.
    shown = "".join(_text(c) for c in code)
    assert shown.count("A real provider would answer here") == 1
    assert "UnknownProviderError" in _text(code[-1])


@pytest.mark.kernel
def test_tools_notebook_runs_offline(run_notebook: Run) -> None:
    code = _code(run_notebook("tools.ipynb"))
    text = "\n".join(_text(c) for c in code)
    assert "City(name='Tokyo', population=37400000)" in text
    assert "partial:" in text
    assert "population" in text
    rome = """get_weather({"city":"Rome"}) -> {'city': 'Rome', 'temp': 24, 'unit': 'c'} [done]"""
    assert rome in text
    assert "['user', 'assistant', 'tool', 'tool', 'assistant']" in text
    assert "tool_result" in text
    assert "[('Paris', 'done'), ('Rome', 'denied')]" in text
    # The magic ran the tool and shows the call and the answer.
    assert "Rome is at 24 °C." in text
    assert r"Tool call: get\_weather" in _text(code[-2])  # escaped Markdown


@pytest.mark.kernel
def test_context_notebook_sends_a_plot_to_the_demo(run_notebook: Run) -> None:
    code = _code(run_notebook("context.ipynb"))
    assert "1 image (400×300 PNG)" in _text(code[1])
    assert "1 text file (document.txt, 1 line)" in _text(code[2])
    # The demo repeats the prompt: the frame went as its description, not its rows.
    described = _text(code[-1])
    assert "600,000 rows × 2 columns" in described
    assert len(described) < 2_000
