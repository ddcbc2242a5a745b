"""The Python examples in docs/ run as written (offline: demo provider, fake server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
FENCE = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("name", ["sessions.md"])
def test_doc_examples_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPYLLM_DEMO_DELAY", "0.001")
    blocks = FENCE.findall((DOCS / name).read_text("utf-8"))
    assert blocks
    namespace: dict[str, object] = {"__name__": "docs_example"}
    # The example's rate limit ends with the test (tests/conftest.py resets limiters).
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{name}[block {i}]", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"block {i} of {name} failed:\n{block}") from err
