"""``%llm fix``, ``-f code`` and ``{df}`` in a real kernel (jupyter_client): what the fake
server received, and the ``set_next_input`` payload of the execute reply, which is how a
notebook front end is told to add (or replace) a cell."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipyllm.testing import FakeLLMServer
from kernel_frontend import Frontend

pytestmark = pytest.mark.kernel

FENCED = "Fixed:\n\n```python\ndef f(x):\n    return 1 / x if x else 0\nf(0)\n```"
CODE = "def f(x):\n    return 1 / x if x else 0\nf(0)"


@pytest.fixture(scope="module")
def frontend(tmp_path_factory: pytest.TempPathFactory, server: FakeLLMServer) -> Iterator[Frontend]:
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "IPYLLM_HOME": str(Path(home)), "IPYLLM_HISTORY": "0"}
    fe = Frontend(env)
    fe.run(
        "%load_ext ipyllm\nimport ipyllm, json\n"
        f"ipyllm.register_endpoint('fake', {server.base_url('openai')!r}, models=['m'])\n"
        "%llm default fake:m"
    )
    yield fe
    fe.close()


def execute(fe: Frontend, code: str, timeout: float = 30.0) -> dict[str, Any]:
    """Run ``code``; return its execute_reply's content."""
    msg_id = fe.kc.execute(code)
    deadline = time.monotonic() + timeout
    while True:
        for reply in fe.shell_replies():
            if reply["parent_header"].get("msg_id") == msg_id:
                return dict(reply["content"])
        assert time.monotonic() < deadline, f"no reply to:\n{code}"
        time.sleep(0.02)


def next_inputs(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in reply.get("payload", []) if p.get("source") == "set_next_input"]


def last_prompt(fake: FakeLLMServer) -> str:
    return str(fake.requests[-1].json["messages"][-1]["content"])


def test_fix_sends_the_failed_cell_and_its_traceback_and_offers_the_code_below(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    failed = execute(frontend, "def f(x):\n    return 1 / x\nf(0)")
    assert failed["status"] == "error"
    assert failed["ename"] == "ZeroDivisionError"
    count = failed["execution_count"]
    fake.add_reply(FENCED)
    reply = execute(frontend, "%llm fix")
    assert reply["status"] == "ok"
    sent = last_prompt(fake)
    assert sent.startswith("This notebook cell failed. Fix it")
    assert "def f(x):\n    return 1 / x\nf(0)\n```" in sent  # the cell's source
    assert f"Cell In[{count}], line 2, in f\n    return 1 / x" in sent  # the user's frames
    assert sent.endswith("ZeroDivisionError: division by zero")
    assert "ipykernel" not in sent
    assert "interactiveshell" not in sent
    assert next_inputs(reply) == [{"source": "set_next_input", "text": CODE, "replace": False}]

    fake.add_reply("x was 0.")
    reply = execute(frontend, f"%llm explain {count}")
    assert reply["status"] == "ok"
    assert last_prompt(fake).startswith("This notebook cell failed. Explain")
    assert next_inputs(reply) == []


def test_f_code_adds_a_cell_below_or_replaces_this_one(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    fake.add_reply(FENCED)
    reply = execute(frontend, "%%llm -f code -o code\nA safe f.")
    assert next_inputs(reply) == [{"source": "set_next_input", "text": CODE, "replace": False}]
    assert frontend.result("print('RESULT', json.dumps(code))") == CODE
    fake.add_reply(FENCED)
    reply = execute(frontend, "%%llm -f code --replace\nA safe f.")
    assert next_inputs(reply) == [{"source": "set_next_input", "text": CODE, "replace": True}]


def test_a_million_row_frame_sends_at_most_the_cap(frontend: Frontend, fake: FakeLLMServer) -> None:
    frontend.run(
        "import pandas as pd\n"
        "big = pd.DataFrame({'n': range(1_000_000), 's': ['some text here'] * 1_000_000})\n"
        "blob = 'x' * 1_000_000"
    )
    fake.add_reply("ok")
    reply = execute(frontend, "%%llm -t data\nSummarise {big}.")
    assert reply["status"] == "ok"
    assert "1,000,000 rows × 2 columns" in last_prompt(fake)
    assert len(fake.requests[-1].body) < 3000
    fake.add_reply("ok")
    reply = execute(frontend, "%%llm -t data -H 0\n{blob}")
    assert reply["status"] == "ok"
    assert len(fake.requests[-1].body) < 8000 + 1000  # the default cap, and the JSON around it
    assert last_prompt(fake).endswith("992,000 of 1,000,000 characters left out]")
