"""``ChatPanel`` and ``chat()`` as a notebook user meets them: in a real kernel (nbclient),
and the development loop (ANYWIDGET_HMR=1) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

import ipyllm
from ipyllm._errors import LLMError
from ipyllm._panel import assets

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.kernel


def run_notebook(cells: list[str]) -> list[list[dict[str, Any]]]:
    """Execute code cells in a real kernel (conftest gave it its own IPYLLM_HOME)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    return [cell.outputs for cell in nb.cells]


def views(outputs: list[dict[str, Any]]) -> list[str]:
    """The widget model ids shown by a cell's outputs."""
    return [
        o["data"][WIDGET_VIEW]["model_id"]
        for o in outputs
        if o.get("output_type") in ("display_data", "execute_result") and WIDGET_VIEW in o["data"]
    ]


def test_chat_shows_the_panel_once_and_a_later_display_shows_it_again() -> None:
    outputs = run_notebook(
        [
            "import ipyllm\nipyllm.chat()",  # chat() is also the cell's value
            "p = ipyllm.chat()",
            "p",  # a second view of the same panel
            "q = ipyllm.ChatPanel()\nq",
            "print(repr(p), len(ipyllm.manager().tabs))",
        ]
    )
    first, assigned, again, direct, text = outputs
    assert len(views(first)) == 1
    assert len(views(assigned)) == 1
    assert views(again) == views(assigned)
    assert len(views(direct)) == 1
    # chat() opened one tab for the first panel; the second found it.
    assert text[0]["text"].strip() == "<ChatPanel tabs=1> 1"


def test_a_compact_panel_needs_a_tab() -> None:
    with pytest.raises(LLMError, match="pass tab="):
        ipyllm.ChatPanel(compact=True)


def test_a_missing_front_end_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(assets, "STATIC", tmp_path)
    with pytest.raises(LLMError, match=r"npm ci && npm run build"):
        ipyllm.ChatPanel()


def test_anywidget_hmr_reloads_the_front_end_when_the_bundle_changes(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles")
    bundle = tmp_path / "chat.js"
    bundle.write_text("export default { render() {} };\n")
    code = textwrap.dedent(
        f"""
        import pathlib, time
        from ipyllm._panel.widget import ChatPanel

        class DevPanel(ChatPanel):
            _esm = pathlib.Path({str(bundle)!r})

        panel = DevPanel()
        before = panel._esm
        time.sleep(0.5)
        pathlib.Path({str(bundle)!r}).write_text("export default {{ render() {{ }} }}; // v2\\n")
        deadline = time.monotonic() + 10
        while panel._esm == before and time.monotonic() < deadline:
            time.sleep(0.05)
        print("v2" in panel._esm)
        """
    )
    env = {**os.environ, "ANYWIDGET_HMR": "1", "IPYLLM_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("True"), done.stdout + done.stderr
