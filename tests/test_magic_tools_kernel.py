"""``%%llm --tools`` in a real kernel (jupyter_client): the cell waits with its calls
awaiting approval, an approval given from another kernel thread (a subshell, where
JupyterLab delivers the live view's Run / Deny while a cell is busy) lets it go on, and
the static answer that replaces the live widget shows each call."""

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
        "%llm default fake:m\n"
        "def get_weather(city: str) -> dict:\n"
        '    """Current weather for a city."""\n'
        "    return {'city': city, 'temp_c': 20}\n"
    )
    yield fe
    fe.close()


def subshell(fe: Frontend) -> str:
    """A new kernel subshell's id (ipykernel 7), made over the control channel."""
    msg = fe.kc.session.msg("create_subshell_request", {})
    fe.kc.control_channel.send(msg)
    reply = fe.kc.get_control_msg(timeout=10)
    assert reply["header"]["msg_type"] == "create_subshell_reply", reply
    return str(reply["content"]["subshell_id"])


def run_on(fe: Frontend, subshell_id: str, code: str) -> str:
    """Execute ``code`` on the subshell (while the main shell is busy); its msg id."""
    msg = fe.kc.session.msg("execute_request", {"code": code, "silent": False})
    msg["header"]["subshell_id"] = subshell_id
    fe.kc.shell_channel.send(msg)
    return str(msg["header"]["msg_id"])


def stream_text(fe: Frontend, msg_id: str) -> str:
    return "".join(
        m.content["text"]
        for m in fe.snapshot()
        if m.parent_msg_id == msg_id and m.msg_type == "stream"
    )


def displays(fe: Frontend, msg_id: str) -> list[Any]:
    return [
        m
        for m in fe.snapshot()
        if m.parent_msg_id == msg_id and m.msg_type in ("display_data", "update_display_data")
    ]


def test_a_notebook_cell_waits_for_approval_from_another_thread(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    side = subshell(frontend)
    fake.add_reply(
        Reply("Checking.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    )
    fake.add_reply(Reply("It is 20 °C."))
    cell = frontend.kc.execute("%%llm --tools get_weather -o r\nWeather in Paris?")

    probe = (
        "t = ipyllm.manager().find('llm')\n"
        "print('PENDING', [c.name for c in t.pending_calls()] if t else [])"
    )
    seen = ""

    def awaiting() -> bool:
        nonlocal seen
        asked = run_on(frontend, side, probe)
        frontend.wait_for(lambda: "PENDING" in stream_text(frontend, asked), timeout=10)
        seen = stream_text(frontend, asked)
        if "get_weather" not in seen:
            time.sleep(0.1)
        return "get_weather" in seen

    frontend.wait_for(awaiting, timeout=20, what="the call to await approval")
    assert len(fake.requests) == 1  # nothing ran, nothing more was asked
    assert WIDGET_VIEW in displays(frontend, cell)[0].content["data"]  # the live view

    run_on(frontend, side, "ipyllm.manager().tab('llm').approve(0, run=True)")
    frontend.wait_for(
        lambda: any(m.msg_type == "update_display_data" for m in displays(frontend, cell)),
        timeout=20,
        what="the static answer",
    )
    markdown = displays(frontend, cell)[-1].content["data"]["text/markdown"]
    assert "**Tool call: get\\_weather** · done" in markdown
    assert '"temp_c": 20' in markdown
    assert markdown.index("Checking.") < markdown.index("Tool call") < markdown.index("It is 20")
    state = frontend.result(
        "print('RESULT', json.dumps([r.text, [c.status for c in r.tool_calls]]))"
    )
    assert state == ["It is 20 °C.", ["done"]]
