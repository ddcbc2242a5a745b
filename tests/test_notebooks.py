"""The quickstart notebook runs top to bottom in a real kernel with no key and no network."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        data = output.get("data", {})
        parts.append(data.get("text/markdown", "") or data.get("text/plain", ""))
    return "".join(parts)


@pytest.mark.kernel
def test_quickstart_runs_offline_on_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.001")
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert errors == []
    assert "Using demo:demo" in _text(code[0])
    streamed = _text(code[1])
    assert "This is the ipyllm offline demo" in streamed
    assert "why do notebooks suit exploring data" in streamed
    # `r` on its own renders as Markdown in the notebook.
    assert "text/markdown" in code[2].outputs[0]["data"]
    assert "And one risk of them?" in code[2].outputs[0]["data"]["text/markdown"]
    assert "4 messages in the history" in _text(code[3])
    assert "UnknownProviderError" in _text(code[-1])


@pytest.mark.kernel
def test_tools_notebook_runs_offline() -> None:
    nb = nbformat.read(NOTEBOOKS / "tools.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert errors == []
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
def test_context_notebook_sends_a_plot_to_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.001")
    nb = nbformat.read(NOTEBOOKS / "context.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert errors == []
    assert "1 image (400×300 PNG)" in _text(code[1])
    assert "1 text file (document.txt, 1 line)" in _text(code[2])
    # The demo repeats the prompt: the frame went as its description, not its rows.
    described = _text(code[-1])
    assert "600,000 rows × 2 columns" in described
    assert len(described) < 2_000
