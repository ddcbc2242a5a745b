"""The notebooks in notebooks/ are committed with the outputs of an offline run on the demo.

GitHub and a fresh JupyterLab then show what the cells do before anyone runs them, and a
test (``tests/test_notebook_outputs.py``) runs each notebook again and compares: outputs
that no longer match what the code produces fail the suite, so they cannot rot.

A run is the one a new user without a key gets: no ``*_API_KEY`` or ``IPYLLM_MODEL`` in
the environment, an empty ``IPYLLM_HOME`` (no history, no aliases), the demo answering at
once. What changes from run to run anyway (a widget's model id, seconds and milliseconds,
a loopback port) is masked before comparing. Widget state is not stored: a chat panel's
output keeps its Markdown note for readers of the file, and JupyterLab draws the panel
again when the cell runs.

Refresh the committed outputs after changing a notebook or what it shows:
``.venv/bin/python tests/notebook_outputs.py`` (or ``scripts/refresh-notebooks``).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
KEY_VARIABLES = (
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
    "XAI_API_KEY", "OPENROUTER_API_KEY", "FIREWORKS_API_KEY", "MINIMAX_API_KEY",
    "ZAI_API_KEY", "VLLM_API_KEY", "OPENAI_COMPATIBLE_API_KEY", "IPYLLM_MODEL",
    "OPENAI_BASE_URL",
)  # fmt: skip

# Figures that differ between two identical runs.
_VOLATILE = [
    (re.compile(r"\b\d+(?:\.\d+)? ?(?:s|ms)\b"), "<time>"),
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\b(\w+_s)=[0-9.e-]+"), r"\1=<time>"),  # a Response's repr
    (re.compile(r"\b(toolu|call|fc|msg|chatcmpl)_[A-Za-z0-9]{8,}"), r"\1_<id>"),  # call ids
]


def notebooks() -> list[Path]:
    """Every notebook in notebooks/, by name."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


@contextmanager
def new_user_environment() -> Iterator[None]:
    """The process environment of a new user with no key (restored afterwards)."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="ipyllm-notebook-") as home:
        for name in KEY_VARIABLES:
            os.environ.pop(name, None)
        os.environ["IPYLLM_HOME"] = home
        os.environ["IPYLLM_DEMO_DELAY"] = "0"
        # No key from the developer's own keyring either.
        os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def execute(path: Path) -> nbformat.NotebookNode:
    """``path`` run top to bottom in a fresh kernel, as a new user with no key runs it."""
    nb = nbformat.read(path, as_version=4)
    with new_user_environment():
        NotebookClient(
            nb,
            timeout=180,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            record_timing=False,
            store_widget_state=False,
        ).execute()
    return committed_form(nb)


def committed_form(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` as it is committed: no widget views or state, no run metadata."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        outputs: list[Any] = []
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
            previous = outputs[-1] if outputs else None
            if (
                output.get("output_type") == "stream"
                and previous is not None
                and previous.get("output_type") == "stream"
                and previous.get("name") == output.get("name")
            ):
                # One stream, however the kernel's flushes cut it (they follow the clock).
                previous["text"] += output["text"]
                continue
            outputs.append(output)
        if cell.cell_type == "code":
            cell.outputs = outputs
    return nb


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        for pattern, replacement in _VOLATILE:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def comparable(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """Each code cell's source, execution count and outputs, volatile figures masked."""
    return [
        {
            "source": cell.source,
            "execution_count": cell.execution_count,
            "outputs": _mask([dict(o) for o in cell.outputs]),
        }
        for cell in nb.cells
        if cell.cell_type == "code"
    ]


def refresh(paths: list[Path]) -> None:
    """Run each notebook and write it back with its new outputs, unless they differ from
    the committed ones only in what changes from run to run (no churn in the diff)."""
    for path in paths:
        fresh = execute(path)
        if comparable(fresh) == comparable(nbformat.read(path, as_version=4)):
            print(f"==> {path.relative_to(NOTEBOOKS.parent)}: unchanged", flush=True)
            continue
        print(f"==> {path.relative_to(NOTEBOOKS.parent)}: new outputs", flush=True)
        nbformat.write(fresh, path)


if __name__ == "__main__":
    refresh([Path(p).resolve() for p in sys.argv[1:]] or notebooks())
