"""A planted key never reaches the saved notebook: a real kernel (nbclient) runs cells that
fail on a key with a line break and on a key the server echoes back, and display what a
user would (the error, its repr, ``e.body``, ``e.response``); the .ipynb written
afterwards holds the key in no form."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest
from nbclient import NotebookClient

from ipyllm.testing import FakeLLMServer, Reply

BAD = "sk-planted-0123456789abcdef\nXYZ0123456789"  # a bad paste: the key, a line break
ECHOED = "sk-planted-echo-0123456789abcdefghij"


def forms(key: str) -> list[str]:
    """The key as stored, and every way a saved notebook could spell it."""
    pieces = [p for p in key.split("\n") if len(p) >= 8]
    return [key, repr(key)[1:-1], json.dumps(key)[1:-1], quote(key, safe=""), *pieces]


@pytest.mark.kernel
def test_a_planted_key_is_absent_from_the_saved_notebook(
    fake: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_reply(Reply(status=401, error_message=f"Incorrect API key provided: {ECHOED}."))
    # The keys reach the kernel through its environment, as a user's would: the saved
    # notebook's sources hold none, so any trace of them in the file is a leak.
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url("openai"))
    monkeypatch.setenv("OPENAI_API_KEY", BAD)
    monkeypatch.setenv("PLANTED_ECHOED_KEY", ECHOED)
    cells = [
        "import os, traceback, ipyllm\n%load_ext ipyllm",
        # The magic's one-line error, as a user sees it.
        "%%llm openai:gpt-5-mini\nHello?",
        # Session's error, and everything on it a user might display.
        "try:\n    ipyllm.Session('openai:gpt-5-mini').ask('Hello?')\n"
        "except ipyllm.LLMError as e:\n"
        "    display(e, repr(e), e.body, e.partial)\n    traceback.print_exc()",
        # A good-looking key the server echoes back in its 401 body.
        "os.environ['OPENAI_API_KEY'] = os.environ['PLANTED_ECHOED_KEY']\n"
        "try:\n    ipyllm.Session('openai:gpt-5-mini').ask('Hello?')\n"
        "except ipyllm.LLMError as e:\n"
        "    display(e, repr(e), e.body, e.response)\n    traceback.print_exc()\n    err = e",
        "err.body",
        "%%llm openai:gpt-5-mini\nAgain?",  # fails: the queue is empty, default reply
        "ipyllm.history()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    path = tmp_path / "planted.ipynb"
    nbformat.write(nb, path)
    saved = path.read_text(encoding="utf-8")

    # The scenario happened: errors were shown, and the echoing server was asked once.
    assert "InvalidKeyError" in saved
    assert "OPENAI_API_KEY environment variable" in saved
    assert "Incorrect API key provided: [REDACTED]" in saved  # the echo, masked
    assert sum(1 for r in fake.requests if r.path.endswith("/chat/completions")) >= 1
    for key in (BAD, ECHOED):
        for form in forms(key):
            assert form not in saved, f"the key ({form!r}) is in the saved notebook"
