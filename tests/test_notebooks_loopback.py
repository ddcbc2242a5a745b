"""Both notebooks in notebooks/ run top to bottom against the loopback fake server standing
in for OpenAI (through the environment a user would set), not only the offline demo."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ipyllm.testing import FakeLLMServer, Reply

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
ANSWER = "Answer from the loopback server:\n\n```python\nanswer = 42\n```\n\nDone."


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["quickstart.ipynb", "magics.ipynb"])
def test_notebook_runs_against_the_loopback_server(
    name: str, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.default_reply = Reply(ANSWER, reasoning=None, tokens_in=12)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url("openai"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test-0123456789")
    monkeypatch.setenv("IPYLLM_MODEL", "openai:gpt-5-mini")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    shown = "\n".join(
        o.get("text", "") + o.get("data", {}).get("text/markdown", "")
        + o.get("data", {}).get("text/plain", "")
        for o in outputs
    )  # fmt: skip
    errors = [o for o in outputs if o["output_type"] == "error"]
    if name == "quickstart.ipynb":
        # Its last cell shows, on purpose, what a misspelt provider looks like.
        errors = [e for e in errors if e["ename"] != "UnknownProviderError"]
    assert errors == []
    assert "Answer from the loopback server" in shown
    assert "This is the ipyllm offline demo" not in shown
    asked = [r for r in fake.requests if r.json and "messages" in r.json]
    assert asked, "no request reached the loopback server"
    assert {r.json["model"] for r in asked} == {"gpt-5-mini"}
    if name == "magics.ipynb":
        assert "openai:gpt-5-mini · 12 in / " in shown  # the footer of a %%llm answer
