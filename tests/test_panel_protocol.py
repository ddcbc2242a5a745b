"""The chat panel's traffic in a real kernel, read off the wire (jupyter_client, no browser).

The test plays the front end: it sends the panel's custom messages on the shell
channel and records every IOPub message. The provider is the loopback fake server
in this process. Figures are printed (``pytest -s``) and recorded in
docs/chat-panel.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipyllm.testing import FakeLLMServer, Reply
from kernel_frontend import Frontend, LiveText

pytestmark = pytest.mark.kernel

# Per message, the JSON around a piece of text: {"comm_id": …, "data": {"method":
# "custom", "content": {"type": "deltas", "items": [{"tab": …, "turn": …, …}]}}}.
PER_MESSAGE = 250


@pytest.fixture
def frontend(tmp_path: Path) -> Iterator[Frontend]:
    env = {**os.environ, "IPYLLM_HOME": str(tmp_path), "IPYLLM_HISTORY": "0"}
    fe = Frontend(env)
    yield fe
    fe.close()


def setup(fe: Frontend, server: FakeLLMServer, code: str) -> Any:
    return fe.result(
        "import json, time\nimport ipyllm\n"
        f"ipyllm.register_endpoint('fake', {server.base_url('openai')!r}, models=['m'])\n"
        "m = ipyllm.manager()\n" + code
    )


def compact_panel(fe: Frontend, server: FakeLLMServer, title: str) -> tuple[str, str]:
    """A new tab on the fake server and a compact panel on it; its comm id and tab id."""
    info = setup(
        fe,
        server,
        f"""
tab = m.new_tab({title!r}, model="fake:m")
panel = ipyllm.ChatPanel(tab=tab, compact=True)
print("RESULT", json.dumps({{"tab": tab.id}}))
""",
    )
    [comm] = fe.widget_comms()
    return comm, info["tab"]


def deltas_of(messages: list[dict[str, Any]], tab: str) -> list[dict[str, Any]]:
    return [
        item
        for msg in messages
        if msg["type"] == "deltas"
        for item in msg["items"]
        if item["tab"] == tab
    ]


def kind(comm_msg: dict[str, Any]) -> str | None:
    """The ``type`` of a custom message (None for a trait update)."""
    return comm_msg["data"].get("content", {}).get("type")


def statuses_of(messages: list[dict[str, Any]], tab: str) -> list[str]:
    return [m["status"] for m in messages if m["type"] == "status" and m["tab"] == tab]


def test_a_20000_character_answer_costs_its_bytes_and_few_messages(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    pieces = [f"{i % 10000:04d} " for i in range(4000)]  # 4,000 tokens, 5 characters each
    answer = "".join(pieces)
    fake.add_reply(Reply(pieces, delay_s=0.001))
    comm, tab = compact_panel(frontend, fake, "long")
    start = time.monotonic()
    frontend.custom(comm, {"type": "send", "tab": tab, "prompt": "count"})
    received = lambda: list(frontend.received(comm, start))  # noqa: E731
    frontend.wait_for(lambda: "done" in statuses_of(received(), tab), what="done")

    traffic = frontend.comm_traffic(comm, start)
    messages = received()
    items = deltas_of(messages, tab)
    live = LiveText()
    for item in items:
        live.apply(item["offset"], item["text"])
    assert live.text == answer
    assert (live.gaps, live.duplicates, live.overlaps) == (0, 0, 0)
    assert statuses_of(messages, tab) == ["streaming", "done"]

    delta_msgs = [m for m in traffic if kind(m.content) == "deltas"]
    first, last = delta_msgs[0].at, delta_msgs[-1].at
    rate = (len(delta_msgs) - 1) / max(last - first, 1e-9)
    content_bytes = sum(m.content_bytes for m in traffic)
    wire_bytes = sum(m.wire_bytes for m in traffic)
    answer_bytes = len(answer.encode())
    print(
        f"\n20,000-char answer as 4,000 tokens over {last - first:.2f} s: "
        f"{len(traffic)} comm messages ({len(delta_msgs)} deltas, {rate:.1f}/s), "
        f"content {content_bytes} B = {content_bytes / answer_bytes:.3f}x the answer, "
        f"wire {wire_bytes} B = {wire_bytes / answer_bytes:.3f}x; "
        f"{(content_bytes - answer_bytes) / len(traffic):.0f} B per message over the answer"
    )
    # The first piece goes out at once, with at most the few that came with it: held for
    # a merge window it would carry ~50 pieces (one a millisecond). Wall-clock time to the
    # first delta is not asserted: it mostly measures connection setup on a loaded machine.
    assert len(delta_msgs[0].content["data"]["content"]["items"][0]["text"]) <= 50
    assert content_bytes <= 1.2 * answer_bytes + PER_MESSAGE * len(traffic)
    assert rate <= 25, f"{rate:.1f} delta messages per second"


def test_a_view_that_syncs_mid_stream_ends_with_the_exact_text(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    pieces = [f" w{i:04d}" for i in range(600)]
    fake.add_reply(Reply(pieces, delay_s=0.004))
    info = setup(
        frontend,
        fake,
        """
tab = m.new_tab("reload", model="fake:m")
panel = ipyllm.ChatPanel()
print("RESULT", json.dumps({"tab": tab.id}))
""",
    )
    [comm] = frontend.widget_comms()
    tab = info["tab"]
    frontend.custom(comm, {"type": "send", "tab": tab, "prompt": "go"})
    frontend.wait_for(lambda: len(deltas_of(list(frontend.received(comm)), tab)) > 5)

    # A page reload: a new view that knows nothing asks for a snapshot, applies the
    # deltas that arrive before the reply, replaces them with the snapshot, goes on.
    reload_at = time.monotonic()
    frontend.custom(comm, {"type": "sync", "tab": tab, "id": "reload"})
    frontend.wait_for(lambda: "done" in statuses_of(list(frontend.received(comm)), tab))
    live = LiveText()
    synced = False
    for msg in frontend.received(comm, reload_at):
        if msg["type"] == "snapshot" and msg.get("reply_to") == "reload":
            assert msg["turn"] == 0
            live.snapshot(msg["text"])
            synced = True
        elif msg["type"] == "deltas" and synced:
            for item in msg["items"]:
                live.apply(item["offset"], item["text"])
    assert synced
    assert live.text == "".join(pieces)
    assert live.gaps == 0


def test_twenty_tabs_streaming_stay_well_under_the_iopub_limit(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    # 20 tabs, each with its own compact panel (as 20 %%llm cells) and one full panel.
    tabs = 20
    for _ in range(tabs):
        fake.add_reply(Reply([f" t{i}" for i in range(400)], delay_s=0.005))  # ~2 s each
    info = setup(
        frontend,
        fake,
        f"""
tabs = [m.new_tab(f"t{{i}}", model="fake:m") for i in range({tabs})]
panels = [ipyllm.ChatPanel(tab=t, compact=True) for t in tabs]
full = ipyllm.ChatPanel()
print("RESULT", json.dumps({{"tabs": [t.id for t in tabs]}}))
""",
    )
    comms = frontend.widget_comms()
    assert len(comms) == tabs + 1
    start = time.monotonic()
    for tab in info["tabs"]:
        frontend.custom(comms[-1], {"type": "send", "tab": tab, "prompt": "go"})

    def all_done() -> bool:
        messages = list(frontend.received(comms[-1], start))
        return all("done" in statuses_of(messages, t) for t in info["tabs"])

    frontend.wait_for(all_done, timeout=60, what="20 answers")
    stamps = [m.at for m in frontend.snapshot() if m.at >= start]
    peak = max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps)
    expected = "".join(f" t{i}" for i in range(400))
    full_view = list(frontend.received(comms[-1], start))
    for tab, comm in zip(info["tabs"], comms, strict=False):
        for messages in (full_view, list(frontend.received(comm, start))):
            live = LiveText()
            for item in deltas_of(messages, tab):
                live.apply(item["offset"], item["text"])
            assert live.text == expected
    print(
        f"\n20 tabs, 21 panels: {len(stamps)} IOPub messages in "
        f"{stamps[-1] - stamps[0]:.2f} s, peak {peak} per second"
    )
    assert peak < 500, f"{peak} IOPub messages in one second"


def test_stop_reaches_the_kernel_while_a_cell_is_busy_over_a_subshell(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    fake.add_reply(Reply([f" s{i}" for i in range(1000)], delay_s=0.01))  # ~10 s
    comm, tab = compact_panel(frontend, fake, "busy")
    # JupyterLab 4.6 sends widget messages on a kernel subshell; do the same.
    request = frontend.kc.session.msg("create_subshell_request", {})
    frontend.kc.control_channel.send(request)
    reply = frontend.kc.control_channel.get_msg(timeout=10)
    subshell = reply["content"]["subshell_id"]

    frontend.custom(comm, {"type": "send", "tab": tab, "prompt": "go"})
    frontend.wait_for(lambda: len(deltas_of(list(frontend.received(comm)), tab)) > 2)
    busy = frontend.kc.execute("time.sleep(4)")
    time.sleep(0.3)
    stop = frontend.kc.session.msg(
        "comm_msg",
        {"comm_id": comm, "data": {"method": "custom", "content": {"type": "stop", "tab": tab}}},
    )
    stop["header"]["subshell_id"] = subshell
    sent_at = time.monotonic()
    frontend.kc.shell_channel.send(stop)
    frontend.wait_for(
        lambda: "stopped" in statuses_of(list(frontend.received(comm)), tab), timeout=10
    )
    took = time.monotonic() - sent_at
    idle = [
        m
        for m in frontend.snapshot()
        if m.parent_msg_id == busy
        and m.msg_type == "status"
        and m.content["execution_state"] == "idle"
    ]
    assert not idle, f"the stop waited for the busy cell ({took:.2f} s)"
    assert fake.wait_for_disconnect(5), "the provider's stream was not closed"


def test_a_panel_carries_a_small_loader_the_first_gets_the_bundle_pushed_later_ones_ask(
    frontend: Frontend, fake: FakeLLMServer
) -> None:
    from ipyllm._panel.assets import STATIC

    bundle = (STATIC / "chat.js").read_text()
    css = (STATIC / "chat.css").read_text()
    first, _ = compact_panel(frontend, fake, "small")
    [opened] = [m for m in frontend.snapshot() if m.msg_type == "comm_open"
                and m.content["data"]["state"].get("_model_name") == "AnyModel"]  # fmt: skip
    assert opened.content_bytes < 6_000, "the widget carries the whole bundle"
    assert len(bundle) > 100_000
    # The first panel of the kernel: pushed, unasked (the page's ask could wait behind a cell).
    frontend.wait_for(lambda: any(m["type"] == "esm" for m in frontend.received(first)))
    [pushed] = [m for m in frontend.received(first) if m["type"] == "esm"]
    assert (pushed["code"], pushed["css"]) == (bundle, css)

    setup(frontend, fake, "second = ipyllm.ChatPanel(tab=tab, compact=True)\nprint('RESULT', '{}')")
    [second] = [c for c in frontend.widget_comms() if c != first]
    time.sleep(0.3)
    assert not [m for m in frontend.received(second) if m["type"] == "esm"], "pushed twice"
    frontend.custom(second, {"type": "esm"})
    frontend.wait_for(lambda: any(m["type"] == "esm" for m in frontend.received(second)))
    [reply] = [m for m in frontend.received(second) if m["type"] == "esm"]
    assert (reply["code"], reply["css"]) == (bundle, css)
