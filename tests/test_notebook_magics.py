"""notebooks/magics.ipynb runs top to bottom in a real kernel with no key and no network,
and what it saves renders with no kernel (the Markdown fallback of each ``%%llm`` cell)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "magics.ipynb"
DEMO = "**This is the ipyllm offline demo**"
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def executed(
    run_notebook: Callable[[str], nbformat.NotebookNode], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The notebook executed once (demo provider, no key), saved to a temporary file."""
    path = tmp_path_factory.mktemp("magics") / "magics.ipynb"
    nbformat.write(run_notebook("magics.ipynb"), path)
    return path


def code_cells(path: Path) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def cell(cells: list[nbformat.NotebookNode], first_line: str) -> nbformat.NotebookNode:
    """The one code cell whose source starts with ``first_line``."""
    found = [c for c in cells if c.source.startswith(first_line)]
    assert len(found) == 1, (first_line, [c.source for c in found])
    return found[0]


def stdout(c: nbformat.NotebookNode) -> str:
    return "".join(o["text"] for o in c.outputs if o["output_type"] == "stream")


def answer(c: nbformat.NotebookNode) -> str:
    """The Markdown a ``%%llm`` cell ends with: its only output, the static bundle."""
    assert len(c.outputs) == 1, c.outputs
    output = c.outputs[0]
    assert output["output_type"] == "display_data"
    assert WIDGET not in output["data"], "the live widget was not replaced"
    assert output["data"]["text/plain"].startswith("<answer: ")
    return str(output["data"]["text/markdown"])


@pytest.mark.kernel
def test_every_cell_runs_without_an_error(executed: Path) -> None:
    cells = code_cells(executed)
    errors = [o for c in cells for o in c.outputs if o["output_type"] == "error"]
    assert errors == []
    assert all(c.execution_count for c in cells)
    assert stdout(cells[0]).strip() == "demo:demo"  # %llm default, with no key


@pytest.mark.kernel
def test_answers_are_markdown_with_a_footer(executed: Path) -> None:
    cells = code_cells(executed)
    llm = [c for c in cells if c.source.startswith("%%llm")]
    assert len(llm) == 5
    for c in llm:
        text = answer(c)
        assert text.startswith("```python\n" if "-f code" in c.source else DEMO)
        # The footer: model, tokens, cost, timings; the same in the short text/plain.
        assert "\n<small>demo:demo · " in text
        assert " out tokens · \\$0 · " in text  # "$" escaped: JupyterLab would typeset $…$
        assert text.rstrip().endswith("</small>")
    first = answer(cell(cells, "%%llm\nIn two sentences"))
    assert "You asked: *In two sentences: why do notebooks suit exploring data?*" in first
    # The second cell continues the conversation: it sent the first turn along.
    second = answer(cell(cells, "%%llm -o answer"))
    assert "You asked: *And one risk of them?*" in second
    assert int(second.split(" in / ")[0].rsplit("· ", 1)[1]) > 60  # tokens in
    other = answer(cell(cells, "%%llm -t other"))
    assert "You asked: *A separate conversation: name three sea birds.*" in other


@pytest.mark.kernel
def test_interpolation_replaces_names_and_keeps_json_braces(executed: Path) -> None:
    text = answer(cell(code_cells(executed), "%%llm\nDescribe {city}"))
    sent = (
        'Describe Lisbon (545000 people) as JSON like {"city": "...", "fact": "..."}; '
        "keep {city} as typed."
    )
    assert f"You asked: *{sent}*" in text


@pytest.mark.kernel
def test_output_variables(executed: Path) -> None:
    cells = code_cells(executed)
    # -o answer: the Response.
    lines = stdout(cell(cells, "print(answer.text")).splitlines()
    assert lines[0] == DEMO + " — no model was called and no key was used."
    assert lines[1].startswith("demo:demo, ")
    assert lines[1].endswith(" out")
    # -f code -o code: only the code of the fenced block, shown as code.
    shown = answer(cell(cells, "%%llm -f code -o code"))
    assert shown.startswith('```python\nipyllm.keys.set("anthropic")')
    assert stdout(cell(cells, "print(code)")) == (
        'ipyllm.keys.set("anthropic")   # asks for the key, stores it in the OS keyring\n'
        's = ipyllm.Session("anthropic:claude-sonnet-4-5")\n'
        "valid Python\n"
    )


@pytest.mark.kernel
def test_tabs_usage_and_a_session_share_the_conversation(executed: Path) -> None:
    cells = code_cells(executed)
    tabs = stdout(cell(cells, "%llm tabs")).splitlines()
    assert tabs[0].split() == ["tab", "model", "turns", "status"]
    assert tabs[1].split() == ["llm", "*", "demo:demo", "4", "done"]
    assert tabs[2].split() == ["other", "demo:demo", "1", "done"]
    usage = cell(cells, "%llm usage").outputs[0]["data"]["text/plain"]
    for word in ("by tab", "other", "by model", "total"):
        assert word in usage
    session = cell(cells, "import ipyllm")
    # 4 %%llm turns in the llm tab, then the Session's: 5 questions and 5 answers.
    assert stdout(session) == "10 messages in the llm tab\n"
    result = [o for o in session.outputs if o["output_type"] == "execute_result"]
    assert (
        "You asked: *Summarise our conversation in one line.*" in result[0]["data"]["text/markdown"]
    )


@pytest.mark.kernel
def test_the_saved_notebook_renders_the_answers_with_no_kernel(
    executed: Path, tmp_path: Path
) -> None:
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir", str(tmp_path),
         str(executed)],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    html = (tmp_path / "magics.html").read_text("utf-8")
    # Four %%llm answers (the fifth is -f code) and the Session's Response, from Markdown.
    assert html.count("<strong>This is the ipyllm offline demo</strong>") == 5
    assert "<small>demo:demo · " in html
    assert "You asked: <em>And one risk of them?</em>" in html
