"""Playing a notebook front end's side of the widget protocol over ZMQ (no browser).

:class:`Frontend` runs cells in a real kernel and records every IOPub message on
a thread of its own, with its arrival time and size, so tests can count what a
widget sent. It opens no widget views; it speaks to a widget's comm the way
anywidget's ``model.send`` does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel


@dataclass
class IOPubMessage:
    """One IOPub message as received: its type, content, arrival time and JSON size."""

    msg_type: str
    content: dict[str, Any]
    parent_msg_id: str | None
    at: float
    content_bytes: int  # the content's JSON, as a front end would parse it
    wire_bytes: int  # header, parent header, metadata and content together


class Frontend:
    """A kernel, and a recorder of everything it publishes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.km: KernelManager
        self.kc: BlockingKernelClient
        self.km, self.kc = start_new_kernel(kernel_name="python3", startup_timeout=60, env=env)
        self.messages: list[IOPubMessage] = []
        self._replies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._record, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Shut the kernel down and stop recording."""
        self._stop.set()
        self._thread.join(5)
        self.kc.stop_channels()
        if self.km.has_kernel:
            self.km.shutdown_kernel(now=True)

    def _record(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except Exception:  # queue.Empty
                continue
            content = msg["content"]
            parts = (msg["header"], msg["parent_header"], msg["metadata"], content)
            entry = IOPubMessage(
                msg_type=msg["header"]["msg_type"],
                content=content,
                parent_msg_id=(msg.get("parent_header") or {}).get("msg_id"),
                at=time.monotonic(),
                content_bytes=len(json.dumps(content, default=str)),
                wire_bytes=sum(len(json.dumps(p, default=str)) for p in parts),
            )
            with self._lock:
                self.messages.append(entry)

    def snapshot(self) -> list[IOPubMessage]:
        """Every message recorded so far."""
        with self._lock:
            return list(self.messages)

    def run(self, code: str, timeout: float = 30.0) -> str:
        """Execute ``code``, wait until the kernel is idle again; return its stdout."""
        msg_id = self.kc.execute(code)
        deadline = time.monotonic() + timeout
        while True:
            mine = [m for m in self.snapshot() if m.parent_msg_id == msg_id]
            if any(m.msg_type == "status" and m.content["execution_state"] == "idle" for m in mine):
                break
            assert time.monotonic() < deadline, f"cell timed out:\n{code}"
            time.sleep(0.01)
        errors = [m.content for m in mine if m.msg_type == "error"]
        assert not errors, "\n".join(errors[0]["traceback"])
        return "".join(m.content["text"] for m in mine if m.msg_type == "stream")

    def result(self, code: str, timeout: float = 30.0) -> Any:
        """Run ``code`` that prints one ``RESULT <json>`` line; return that JSON."""
        out = self.run(code, timeout)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert lines, f"no RESULT line in:\n{out}"
        return json.loads(lines[-1][len("RESULT ") :])

    def shell_replies(self) -> list[dict[str, Any]]:
        """Every shell-channel reply received so far (execute replies and others)."""
        while True:
            try:
                self._replies.append(self.kc.get_shell_msg(timeout=0.01))
            except Exception:  # queue.Empty
                return list(self._replies)

    # ---- widgets ---------------------------------------------------------------

    def widget_comms(self, model_name: str = "AnyModel") -> list[str]:
        """Comm ids of the widgets of this model class the kernel opened, oldest first."""
        return [
            m.content["comm_id"]
            for m in self.snapshot()
            if m.msg_type == "comm_open"
            and m.content["data"]["state"].get("_model_name") == model_name
        ]

    def custom(self, comm_id: str, content: dict[str, Any]) -> None:
        """Send a custom message to the widget, as ``model.send(content)`` does."""
        msg = self.kc.session.msg(
            "comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}}
        )
        self.kc.shell_channel.send(msg)

    def comm_traffic(self, comm_id: str, since: float = 0.0) -> list[IOPubMessage]:
        """The widget's messages to the front end (custom messages and trait updates)."""
        return [
            m
            for m in self.snapshot()
            if m.msg_type == "comm_msg" and m.content["comm_id"] == comm_id and m.at >= since
        ]

    def received(self, comm_id: str, since: float = 0.0) -> Iterator[dict[str, Any]]:
        """Contents of the widget's custom messages, in order."""
        for m in self.comm_traffic(comm_id, since):
            data = m.content["data"]
            if data.get("method") == "custom":
                yield data["content"]

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` until it holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)


class LiveText:
    """The front end's rule for one channel of one turn: apply pieces by offset.

    A piece already held is ignored, an overlap appends only its new part, a
    gap is counted (the real view then asks for a snapshot).
    """

    def __init__(self) -> None:
        self.text = ""
        self.duplicates = 0
        self.overlaps = 0
        self.gaps = 0

    def snapshot(self, text: str) -> None:
        """Replace what is held (a sync reply)."""
        self.text = text

    def apply(self, offset: int, piece: str) -> None:
        """Apply one delta."""
        have = len(self.text)
        if offset > have:
            self.gaps += 1
        elif offset + len(piece) <= have:
            self.duplicates += 1
        elif offset < have:
            self.overlaps += 1
            self.text += piece[have - offset :]
        else:
            self.text += piece
