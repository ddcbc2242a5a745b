"""``%%llm`` in a real kernel (jupyter_client): the live widget, the static answer that
replaces it, ``--bg``, and an interrupt mid-stream."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipyllm.testing import FakeLLMServer, Reply
from kernel_frontend import Frontend

pytestmark = pytest.mark.kernel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def frontend(tmp_path: Path, fake: FakeLLMServer) -> Iterator[Frontend]:
    env = {**os.environ, "IPYLLM_HOME": str(tmp_path), "IPYLLM_HISTORY": "0"}
    fe = Frontend(env)
    fe.run(
        "%load_ext ipyllm\nimport ipyllm, json\n"
        f"ipyllm.register_endpoint('fake', {fake.base_url('openai')!r}, models=['m'])\n"
        "%llm default fake:m"
    )
    yield fe
    fe.close()


def outputs_of(fe: Frontend, msg_id: str) -> list[Any]:
    return [
        m
        for m in fe.snapshot()
        if m.parent_msg_id == msg_id and m.msg_type in ("display_data", "update_display_data")
    ]


def test_the_live_widget_is_replaced_by_the_markdown_answer(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    fake.add_reply(Reply("A **bold** answer.", reasoning="Thinking first.", delay_s=0.01))
    msg_id = frontend.kc.execute("%%llm -o r\nSay something bold.")
    frontend.wait_for(
        lambda: any(m.msg_type == "update_display_data" for m in outputs_of(frontend, msg_id))
    )
    first, *_, final = outputs_of(frontend, msg_id)
    assert first.msg_type == "display_data"
    assert WIDGET_VIEW in first.content["data"]
    display_id = first.content["transient"]["display_id"]
    assert final.content["transient"]["display_id"] == display_id
    markdown = final.content["data"]["text/markdown"]
    assert "A **bold** answer." in markdown
    assert "<details><summary>Reasoning</summary>" in markdown
    assert "Thinking first." in markdown
    assert "fake:m · 10 in / " in markdown
    assert WIDGET_VIEW not in final.content["data"]
    assert frontend.result("print('RESULT', json.dumps(r.text))") == "A **bold** answer."


def test_bg_returns_at_once_and_the_answer_still_lands(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    fake.add_reply(Reply([f" w{i}" for i in range(50)], delay_s=0.1))  # about 5 s
    started = time.monotonic()
    frontend.run("%%llm --bg -o later\nTake your time.")
    assert time.monotonic() - started < 4  # not the 5 s answer
    assert frontend.result("print('RESULT', json.dumps('later' in globals()))") is False
    frontend.wait_for(
        lambda: frontend.result("print('RESULT', json.dumps('later' in globals()))"), timeout=10
    )
    text = frontend.result("print('RESULT', json.dumps(later.text))")
    assert text == "".join(f" w{i}" for i in range(50))


def test_an_interrupt_stops_the_answer_keeps_the_partial_and_aborts_the_next_cell(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    pieces = [f" p{i}" for i in range(400)]  # about 8 s if never stopped
    fake.add_reply(Reply(pieces, delay_s=0.02))
    cell = frontend.kc.execute("%%llm\nA long one, please.")
    queued = frontend.kc.execute("print('THE NEXT CELL RAN')")
    frontend.wait_for(lambda: len(fake.requests) == 1)
    time.sleep(0.6)
    frontend.km.interrupt_kernel()

    def replies() -> dict[str, dict[str, Any]]:
        return {m["parent_header"]["msg_id"]: m for m in frontend.shell_replies()}

    frontend.wait_for(lambda: {cell, queued} <= set(replies()), timeout=15, what="both replies")
    got = replies()
    assert got[cell]["content"]["status"] == "error"
    assert got[cell]["content"]["ename"] == "KeyboardInterrupt"
    assert got[queued]["content"]["status"] == "aborted"
    assert not any(
        m.msg_type == "stream" and "THE NEXT CELL RAN" in m.content["text"]
        for m in frontend.snapshot()
    )
    state = frontend.result(
        "t = ipyllm.manager().tab('llm')\n"
        "print('RESULT', json.dumps({'status': t.status, 'text': t.text}))"
    )
    assert state["status"] == "stopped"
    assert state["text"]
    assert "".join(pieces).startswith(state["text"])
    assert len(state["text"]) < len("".join(pieces))
    assert fake.wait_for_disconnect(5)
    final = [m for m in outputs_of(frontend, cell) if m.msg_type == "update_display_data"]
    assert final, "the partial answer was not shown"
    markdown = final[-1].content["data"]["text/markdown"]
    assert state["text"].strip() in markdown
    assert "stopped" in markdown
