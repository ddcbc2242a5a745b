"""The session manager inside a real ipykernel, driven over ZMQ by ``jupyter_client``.

The fake LLM server runs in this (the test) process on 127.0.0.1; code in the kernel
connects to it by URL. Each kernel gets its own ``IPYLLM_HOME`` (a tmp dir), so its
history never touches the developer's own. Cells print one ``RESULT <json>`` line that
the test reads back.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from ipyllm.testing import FakeLLMServer, Reply

pytestmark = pytest.mark.kernel

KEY = "sk-kernel-test-0123456789"
MODEL = "openai:bench"
CELL_TIMEOUT = 20.0


@pytest.fixture
def start_kernel() -> Iterator[Callable[..., tuple[KernelManager, BlockingKernelClient]]]:
    """Start real kernels with ``IPYLLM_HOME=home``; every one is shut down afterwards."""
    started: list[tuple[KernelManager, BlockingKernelClient]] = []

    def start(home: Path) -> tuple[KernelManager, BlockingKernelClient]:
        # The autouse fixture has already removed provider keys from os.environ.
        env = {**os.environ, "IPYLLM_HOME": str(home), "IPYLLM_HISTORY": "1"}
        km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60, env=env)
        started.append((km, kc))
        return km, kc

    yield start
    for km, kc in started:
        shutdown(km, kc)


def shutdown(km: KernelManager, kc: BlockingKernelClient) -> None:
    """Stop a kernel (politely, so its atexit handlers run); safe to call twice."""
    kc.stop_channels()
    if km.has_kernel:
        km.shutdown_kernel(now=False)


def run(kc: BlockingKernelClient, code: str, timeout: float = CELL_TIMEOUT) -> dict[str, Any]:
    """Execute ``code``; fail on an error; return the JSON of its ``RESULT`` line."""
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            out.append("\n".join(content["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    text = "".join(out)
    assert reply["content"]["status"] == "ok", text
    lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no RESULT line in the cell's output:\n{text}"
    return json.loads(lines[-1][len("RESULT ") :])


def connect(server: FakeLLMServer) -> str:
    """Kernel code that defines ``URL``, ``KEY`` and ``MODEL`` and imports what cells use."""
    return (
        "import json, time\nimport ipyllm\n"
        f"URL = {server.base_url('openai')!r}\nKEY = {KEY!r}\nMODEL = {MODEL!r}\n"
    )


def test_tabs_stream_while_a_cell_blocks(
    start_kernel: Any, fake: FakeLLMServer, tmp_path: Path
) -> None:
    texts = ["".join(f" r{k}p{i}" for i in range(40)) for k in range(3)]
    for k in range(3):
        fake.add_reply(Reply([f" r{k}p{i}" for i in range(40)], delay_s=0.05))  # ~2 s each
    _, kc = start_kernel(tmp_path)

    # Cell 1: three tabs start streaming; the cell returns once each has its first text.
    started = run(
        kc,
        connect(fake)
        + """
m = ipyllm.manager()
tabs = [m.new_tab(f"t{i}", model=MODEL) for i in range(3)]
handles = [t.send("go", api_key=KEY, base_url=URL, max_retries=0) for t in tabs]
deadline = time.monotonic() + 10
while not all(t.text for t in tabs) and time.monotonic() < deadline:
    time.sleep(0.01)
print("RESULT", json.dumps([t.status for t in tabs]))
""",
    )
    assert started == ["streaming"] * 3

    # Cell 2: the main thread sleeps; tasks on the kernel's loop would freeze meanwhile.
    t0, t1 = run(
        kc,
        """
t0 = [len(t.text) for t in tabs]
time.sleep(2)
t1 = [len(t.text) for t in tabs]
print(t0, t1)
print("RESULT", json.dumps([t0, t1]))
""",
    )
    full = len(texts[0])
    for before, after in zip(t0, t1, strict=True):
        assert before > 0
        # About 2 of the stream's ~2.2 s fall inside the sleep; ask for at least half.
        assert after - before >= full // 2, (t0, t1, full)

    # Cell 3: every turn ends with exactly the scripted text (the replies go to the three
    # concurrent requests in whatever order they arrived, so compare as sets).
    final = run(
        kc,
        """
ok = [h.wait(10) for h in handles]
print("RESULT", json.dumps({"ok": ok, "status": [t.status for t in tabs],
                            "texts": [t.text for t in tabs]}))
""",
    )
    assert final["ok"] == [True] * 3
    assert final["status"] == ["done"] * 3
    assert sorted(final["texts"]) == sorted(texts)
    assert fake.pending_replies == 0


def test_history_survives_a_kernel_restart(
    start_kernel: Any, fake: FakeLLMServer, tmp_path: Path
) -> None:
    prompt = f"unique-prompt-{os.getpid()}-{time.time_ns()}"
    answer = "The first answer, saved to history."
    fake.add_reply(Reply(answer))
    km1, kc1 = start_kernel(tmp_path)
    first = run(
        kc1,
        connect(fake)
        + f"""
s = ipyllm.Session(MODEL, api_key=KEY, base_url=URL, max_retries=0)
r = s.ask({prompt!r})
flushed = ipyllm.manager().history.flush()
print("RESULT", json.dumps({{"cid": s.tab.conversation_id, "text": r.text,
                             "flushed": flushed}}))
""",
    )
    assert first["text"] == answer
    assert first["flushed"] is True
    assert (tmp_path / "history.sqlite3").is_file()
    shutdown(km1, kc1)
    assert not km1.is_alive()

    # A new kernel process, same IPYLLM_HOME: find the conversation and reopen it.
    fake.add_reply(Reply("The second answer."))
    _, kc2 = start_kernel(tmp_path)
    second = run(
        kc2,
        connect(fake)
        + f"""
past = ipyllm.history(search={prompt!r})
cid = past[0].conversation_id
tab = ipyllm.manager().restore(cid)
restored = tab.messages
s = ipyllm.Session(MODEL, api_key=KEY, base_url=URL, max_retries=0, tab=tab)
r = s.ask("And then?")
print("RESULT", json.dumps({{"found": len(past), "cid": cid, "restored": restored,
                             "text": r.text, "turns": len(tab.turns),
                             "same_tab": s.tab is tab}}))
""",
    )
    assert second["found"] == 1
    assert second["cid"] == first["cid"]
    assert second["restored"] == [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": answer},
    ]
    assert second["text"] == "The second answer."
    assert second["same_tab"] is True
    assert second["turns"] == 2
    # The continued conversation carried the exchange from the first kernel.
    assert fake.requests[-1].json["messages"] == [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "And then?"},
    ]


def test_stop_from_another_cell(start_kernel: Any, fake: FakeLLMServer, tmp_path: Path) -> None:
    pieces = [f" s{i}" for i in range(200)]
    full = "".join(pieces)
    fake.add_reply(Reply(pieces, delay_s=0.05))  # ~10 s if nobody stops it
    _, kc = start_kernel(tmp_path)

    run(
        kc,
        connect(fake)
        + """
tab = ipyllm.manager().new_tab("slow", model=MODEL)
handle = tab.send("a long answer", api_key=KEY, base_url=URL, max_retries=0)
print("RESULT", json.dumps(tab.status))
""",
    )
    started = time.monotonic()
    stopped = run(
        kc,
        """
deadline = time.monotonic() + 10
while len(tab.text) < 20 and time.monotonic() < deadline:  # a moment later: some text in
    time.sleep(0.01)
tab.stop()
settled = handle.wait(5)
print("RESULT", json.dumps({"settled": settled, "status": tab.status, "text": tab.text,
                            "finish": tab.last.finish_reason}))
""",
    )
    assert time.monotonic() - started < 5  # stopped, not streamed to the end
    assert stopped["settled"] is True
    assert stopped["status"] == "stopped"
    assert stopped["finish"] == "stopped"
    partial = stopped["text"]
    assert 0 < len(partial) < len(full)
    assert full.startswith(partial)
    assert fake.wait_for_disconnect(5)
