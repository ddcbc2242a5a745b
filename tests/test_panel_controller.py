"""The chat panel's kernel side, in process: requests in, traits and messages out.

A recording stand-in plays the widget (it keeps traits and sent messages); the tabs,
the manager, the loopback server and the keyring are real. The same controller runs
inside a real kernel in ``test_panel_protocol.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import ipyllm
from fake_endpoints import fake_endpoint
from ipyllm._manager.manager import SessionManager
from ipyllm._panel.controller import PanelController
from ipyllm.testing import FakeLLMServer, Reply
from waiting import wait_until

WAIT = 10.0


class RecordingModel:
    """Plays the widget: keeps trait values and every message sent to the front end."""

    def __init__(self) -> None:
        self.tabs: list[dict[str, Any]] = []
        self.providers: list[dict[str, Any]] = []
        self.default_model = ""
        self.sent: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def send(self, content: dict[str, Any], buffers: Any = None) -> None:
        with self.lock:
            self.sent.append(content)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.sent if m["type"] == kind]


@pytest.fixture
def endpoint(fake: FakeLLMServer) -> str:
    """A keyless endpoint on the loopback server; returns a model name for it."""
    return fake_endpoint(fake)


@pytest.fixture
def panel() -> Iterator[tuple[RecordingModel, PanelController, SessionManager]]:
    manager = SessionManager()
    model = RecordingModel()
    controller = PanelController(model, manager)
    yield model, controller, manager
    controller.close()
    for tab in manager.tabs:
        tab.close()


def ask(controller: PanelController, **content: Any) -> None:
    controller.handle(None, content)


def rebuilt_text(model: RecordingModel, tab: str, turn: int) -> str:
    """The answer as a front end rebuilds it from delta messages, checking every offset."""
    text = ""
    for message in model.of_type("deltas"):
        for item in message["items"]:
            if (item["tab"], item["turn"], item["channel"]) != (tab, turn, "text"):
                continue
            assert item["offset"] == len(text), "a delta skipped or repeated text"
            text += item["text"]
    return text


def test_a_prompt_from_the_panel_streams_back_as_deltas_then_done(
    fake: FakeLLMServer, endpoint: str, panel: Any
) -> None:
    model, controller, manager = panel
    fake.add_reply([f"w{i} " for i in range(60)], delay_s=0.002)
    ask(controller, type="new_tab", model=endpoint, id="r1")
    opened = model.of_type("opened")[0]
    assert opened["reply_to"] == "r1"
    tab = manager.tab(opened["tab"])
    ask(controller, type="send", tab=tab.id, prompt="count")
    tab.last.settled.wait(WAIT)
    assert wait_until(lambda: any(s["status"] == "done" for s in model.of_type("status")))
    expected = "".join(f"w{i} " for i in range(60))
    assert rebuilt_text(model, tab.id, 0) == expected
    # The text is sent once: coalesced, not per token, and not again in a trait.
    assert len(model.of_type("deltas")) < 60
    statuses = [s["status"] for s in model.of_type("status")]
    assert statuses == ["streaming", "done"]
    assert wait_until(lambda: model.tabs and model.tabs[-1]["turns"][-1]["status"] == "done")
    info = model.tabs[-1]["turns"][-1]
    assert info["query"] == "count"
    assert info["text_length"] == len(expected)
    assert info["tokens_out"] == 60
    assert "w0" not in repr(model.tabs), "an answer's text must not live in a trait"


def test_sync_returns_the_latest_answer_and_every_earlier_one(
    fake: FakeLLMServer, endpoint: str, panel: Any
) -> None:
    model, controller, manager = panel
    tab = manager.new_tab("two turns", endpoint)
    fake.add_reply("first answer")
    fake.add_reply("second ünïcode 🦅 answer", reasoning="thinking")
    tab.send("one").result(WAIT)
    tab.send("two").result(WAIT)
    ask(controller, type="sync", tab=tab.id, id=7)
    snapshot = model.of_type("snapshot")[0]
    assert snapshot["reply_to"] == 7
    assert (snapshot["turn"], snapshot["status"]) == (1, "done")
    assert snapshot["text"] == "second ünïcode 🦅 answer"
    assert snapshot["reasoning"] == "thinking"
    assert snapshot["past"] == [{"index": 0, "text": "first answer", "reasoning": ""}]


def test_stop_from_the_panel_keeps_the_partial(
    fake: FakeLLMServer, endpoint: str, panel: Any
) -> None:
    model, controller, manager = panel
    tab = manager.new_tab("slow", endpoint)
    fake.add_reply(Reply([f"w{i} " for i in range(300)], delay_s=0.01))
    ask(controller, type="send", tab=tab.id, prompt="go")
    assert wait_until(lambda: len(tab.text) > 10)
    ask(controller, type="stop", tab=tab.id)
    assert tab.last.settled.wait(WAIT)
    assert tab.status == "stopped"
    assert wait_until(lambda: any(s["status"] == "stopped" for s in model.of_type("status")))
    assert rebuilt_text(model, tab.id, 0) == tab.text
    assert 0 < len(tab.text) < len("".join(f"w{i} " for i in range(300)))


def test_retry_resends_the_failed_prompt(fake: FakeLLMServer, endpoint: str, panel: Any) -> None:
    model, controller, manager = panel
    tab = manager.new_tab("flaky", endpoint)
    fake.add_reply(status=400, error_message="bad things")
    ask(controller, type="send", tab=tab.id, prompt="please")
    assert tab.last.settled.wait(WAIT)
    assert tab.status == "error"
    assert wait_until(lambda: model.tabs and model.tabs[-1]["turns"][-1]["status"] == "error")
    assert "bad things" in model.tabs[-1]["turns"][-1]["error"]
    fake.add_reply("fine now")
    ask(controller, type="retry", tab=tab.id)
    assert tab.last.index == 1
    assert tab.last.settled.wait(WAIT)
    assert (tab.last.query, tab.text) == ("please", "fine now")


def test_tab_list_follows_tabs_made_anywhere(endpoint: str, panel: Any) -> None:
    model, controller, manager = panel
    made_elsewhere = manager.new_tab("from code", endpoint)  # as %%llm or Session would
    assert wait_until(lambda: any(t["id"] == made_elsewhere.id for t in model.tabs))
    ask(controller, type="rename", tab=made_elsewhere.id, title="renamed")
    assert wait_until(lambda: any(t["title"] == "renamed" for t in model.tabs))
    ask(controller, type="new_tab", title="renamed")
    assert wait_until(lambda: len(model.tabs) == 2)
    assert sorted(t["title"] for t in model.tabs) == ["renamed", "renamed (2)"]
    ask(controller, type="set_model", tab=made_elsewhere.id, model="anthropic:claude-haiku-4-5")
    assert wait_until(lambda: any(t["model"].startswith("anthropic:") for t in model.tabs))
    ask(controller, type="close", tab=made_elsewhere.id)
    assert wait_until(lambda: [t["title"] for t in model.tabs] == ["renamed (2)"])
    assert manager.find(made_elsewhere.id) is None


def test_bad_requests_get_one_line_errors_with_the_fix(endpoint: str, panel: Any) -> None:
    model, controller, manager = panel
    tab = manager.new_tab("t", endpoint)
    ask(controller, type="send", tab=tab.id, prompt="   ", id="a")
    ask(controller, type="send", tab="nope", prompt="hi", id="b")
    ask(controller, type="set_model", tab=tab.id, model="nosuch:model", id="c")
    ask(controller, type="frobnicate", id="d")
    errors = {e["reply_to"]: e["message"] for e in model.of_type("error")}
    assert "empty" in errors["a"]
    assert "No open tab 'nope'" in errors["b"]
    assert "nosuch" in errors["c"]
    assert "unknown request 'frobnicate'" in errors["d"]
    assert all("\n" not in m for m in errors.values())


def test_a_second_prompt_while_streaming_is_refused_not_lost(
    fake: FakeLLMServer, endpoint: str, panel: Any
) -> None:
    model, controller, manager = panel
    tab = manager.new_tab("busy", endpoint)
    fake.add_reply(Reply([f"w{i} " for i in range(100)], delay_s=0.01))
    ask(controller, type="send", tab=tab.id, prompt="one")
    ask(controller, type="send", tab=tab.id, prompt="two", id="x")
    [error] = model.of_type("error")
    assert error["tab"] == tab.id
    assert "still answering" in error["message"]
    tab.stop()


def test_a_compact_panel_sees_only_its_tab(fake: FakeLLMServer, endpoint: str) -> None:
    manager = SessionManager()
    mine, other = manager.new_tab("mine", endpoint), manager.new_tab("other", endpoint)
    model = RecordingModel()
    controller = PanelController(model, manager, only_tab=mine.id)
    try:
        fake.add_reply("for me")
        mine.send("a").result(WAIT)
        fake.add_reply("not for me")
        other.send("b").result(WAIT)
        assert wait_until(lambda: len(model.of_type("status")) >= 2)
        time.sleep(0.1)
        assert {m["tab"] for m in model.of_type("status")} == {mine.id}
        assert [t["id"] for t in model.tabs] == [mine.id]
        assert rebuilt_text(model, mine.id, 0) == "for me"
    finally:
        controller.close()


def xai(model: RecordingModel) -> dict[str, Any]:
    return next(p for p in model.providers if p["name"] == "xai")


@pytest.mark.keyring
@pytest.mark.usefixtures("sandbox_keyring")
def test_a_key_set_in_the_panel_goes_to_the_keyring_and_nowhere_else(
    panel: Any, caplog: pytest.LogCaptureFixture
) -> None:
    model, controller, _ = panel
    secret = f"sk-panel-{uuid.uuid4().hex}"
    try:
        ask(controller, type="set_key", provider="xai", key=secret, id="k")
        [result] = model.of_type("key_result")
        assert result["ok"], result["message"]
        assert (result["key"], result["reply_to"]) == ("keyring", "k")
        assert ipyllm.keys.get("xai") == secret
        assert wait_until(lambda: {"name": "xai", "key": "keyring"}.items() <= xai(model).items())
    finally:
        ask(controller, type="delete_key", provider="xai")
    assert ipyllm.keys.get("xai") is None
    assert model.of_type("key_result")[-1]["key"] == "missing"
    assert wait_until(lambda: xai(model)["key"] == "missing")
    everything = repr((model.sent, model.tabs, model.providers)) + caplog.text
    assert secret not in everything


def test_a_failed_key_save_says_why_without_the_key(panel: Any) -> None:
    model, controller, _ = panel
    ask(controller, type="set_key", provider="nosuch", key="sk-abcdefghijklmnopqrstuvwxyz")
    ask(controller, type="set_key", provider="openai", key="  ")
    first, second = model.of_type("key_result")
    assert not first["ok"]
    assert "nosuch" in first["message"]
    assert not second["ok"]
    assert "empty" in second["message"]
    assert "abcdefghijklmnop" not in repr(model.sent)


def test_providers_trait_lists_every_provider_with_key_status(panel: Any) -> None:
    model, _, _ = panel
    by_name = {p["name"]: p for p in model.providers}
    assert {"openai", "anthropic", "gemini", "ollama", "demo"} <= set(by_name)
    assert by_name["ollama"]["key"] == "none"
    assert by_name["openai"]["key"] in ("missing", "keyring")  # the env is cleared by conftest
    assert "gpt-5-mini" in by_name["openai"]["models"]
    assert model.default_model


@pytest.mark.usefixtures("restore_provider_settings")
def test_the_picker_follows_configure_aliases_and_keys_made_elsewhere(
    panel: Any, endpoint: str
) -> None:
    model, _, _ = panel
    name = endpoint.split(":")[0]

    def entry(provider: str) -> dict[str, Any]:
        return next(p for p in model.providers if p["name"] == provider)

    assert wait_until(lambda: any(p["name"] == name for p in model.providers))
    ipyllm.configure(name, models=["m", "m-large"])
    assert wait_until(lambda: entry(name)["models"] == ["m", "m-large"])
    ipyllm.alias("big-one", f"{name}:m-large")
    try:
        assert wait_until(lambda: any(a["name"] == "big-one" for a in entry(name)["aliases"]))
    finally:
        ipyllm.alias("big-one", None)
    assert wait_until(lambda: not any(a["name"] == "big-one" for a in entry(name)["aliases"]))


@pytest.mark.keyring
@pytest.mark.usefixtures("sandbox_keyring")
def test_the_key_status_follows_a_key_stored_from_python(panel: Any) -> None:
    model, _, _ = panel
    try:
        ipyllm.keys.set("xai", f"xai-{uuid.uuid4().hex}")
        assert wait_until(lambda: xai(model)["key"] == "keyring")
    finally:
        ipyllm.keys.delete("xai")
    assert wait_until(lambda: xai(model)["key"] == "missing")


def test_a_one_turn_panel_lets_go_of_its_threads_once_the_turn_settles(
    fake: FakeLLMServer, endpoint: str
) -> None:
    manager = SessionManager()
    tab = manager.new_tab("cell", endpoint)
    fake.add_reply(Reply(["one", " two", " three"], delay_s=0.01))
    handle = tab.send("q")
    model = RecordingModel()
    controller = PanelController(model, manager, only_tab=tab.id, only_turn=0)
    handle.result(WAIT)
    assert wait_until(lambda: not controller.following)
    flusher = controller.coalescer._thread
    assert flusher is not None
    # close() runs on the delivery thread: the subscription ends first, the flusher
    # is joined right after, so wait for it rather than race it.
    assert wait_until(lambda: not flusher.is_alive())
    assert controller._sub.closed
    assert model.of_type("status")[-1]["status"] == "done"
    # The next turn of the tab is not this panel's business...
    fake.add_reply("later")
    tab.send("again").result(WAIT)
    time.sleep(0.1)
    assert all(m.get("turn", 0) == 0 for m in model.sent)
    # ...and a panel made after its turn ended follows nothing, yet still answers a sync.
    late = RecordingModel()
    done = PanelController(late, manager, only_tab=tab.id, only_turn=0)
    assert not done.following
    done.handle(None, {"type": "sync", "tab": tab.id})
    assert late.of_type("snapshot")[0]["past"][0]["text"] == "one two three"


class EventLog(PanelController):
    """A controller that keeps every event its subscription delivers: the deltas handed
    straight to it (``_on_delta``) and the rest, on the delivery thread (``_on_event``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.seen: list[object] = []
        super().__init__(*args, **kwargs)

    def _on_event(self, event: object) -> None:
        self.seen.append(event)
        super()._on_event(event)

    def _on_delta(self, delta: Any) -> None:
        self.seen.append(delta)
        super()._on_delta(delta)


def test_a_compact_panel_is_never_handed_another_tabs_events(
    fake: FakeLLMServer, endpoint: str
) -> None:
    from ipyllm._manager.events import TabDelta, TabsChanged

    manager = SessionManager()
    mine, other = manager.new_tab("mine", endpoint), manager.new_tab("other", endpoint)
    one = EventLog(RecordingModel(), manager, only_tab=mine.id)
    full_model = RecordingModel()
    full = EventLog(full_model, manager)
    try:
        fake.add_reply(Reply([f"o{i} " for i in range(20)], delay_s=0.005))
        busy = other.send("b")
        # Replies go out in request order: "b" must have taken the first before "a" asks.
        assert wait_until(lambda: other.last is not None and other.last.text_length > 0)
        fake.add_reply(Reply(["for ", "me"], delay_s=0.005))
        mine.send("a").result(WAIT)
        busy.result(WAIT)
        other.rename("other, renamed")
        mine.rename("mine, renamed")
        assert wait_until(lambda: any(isinstance(e, TabsChanged) for e in one.seen))
        assert wait_until(lambda: len([e for e in full.seen if isinstance(e, TabsChanged)]) >= 2)
        time.sleep(0.1)
        # The one-tab panel's callback saw its own tab's traffic and nothing else...
        assert {getattr(e, "tab_id", None) for e in one.seen} == {mine.id}
        assert "".join(e.text for e in one.seen if isinstance(e, TabDelta)) == "for me"
        assert [t["title"] for t in one.model.tabs] == ["mine, renamed"]
        # ...while the full panel follows every tab.
        full_deltas = [e for e in full.seen if isinstance(e, TabDelta)]
        assert {e.tab_id for e in full_deltas} == {mine.id, other.id}
    finally:
        one.close()
        full.close()
    assert not one.following


def test_a_pasted_image_goes_with_the_prompt_as_an_image_part(
    fake: FakeLLMServer, panel: Any
) -> None:
    import base64

    from attachment_samples import png

    model, controller, manager = panel
    tab = manager.new_tab("pics", fake_endpoint(fake, attachments={"image"}))
    fake.add_reply("a gradient")
    data = base64.b64encode(png(8, 6)).decode()
    attachment = {"name": "shot.png", "mime": "image/png", "data": data}
    ask(controller, type="send", tab=tab.id, prompt="what is it?", attachments=[attachment])
    assert not model.of_type("error")
    assert tab.last.settled.wait(WAIT)
    image, question = fake.requests[-1].json["messages"][-1]["content"]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"] == f"data:image/png;base64,{data}"
    assert question == {"type": "text", "text": "what is it?"}
    assert wait_until(lambda: model.tabs and model.tabs[-1]["turns"][-1]["status"] == "done")
    [info] = model.tabs[-1]["turns"][-1]["attachments"]
    assert info == {
        "kind": "image",
        "mime": "image/png",
        "name": "shot.png",
        "size": len(base64.b64decode(data)),
        "width": 8,
        "height": 6,
    }
    assert data not in repr(model.tabs), "an attachment's bytes must not live in a trait"
    # Retry on a done turn sends its prompt again, with the image.
    fake.add_reply("still a gradient")
    ask(controller, type="retry", tab=tab.id)
    assert tab.last.index == 1
    assert tab.last.settled.wait(WAIT)
    again = fake.requests[-1].json["messages"][-1]["content"]
    assert [p["type"] for p in again] == ["image_url", "text"]
    assert again[0]["image_url"]["url"] == f"data:image/png;base64,{data}"
    assert tab.text == "still a gradient"


def test_attachments_over_the_cap_or_broken_are_refused_before_sending(
    fake: FakeLLMServer, endpoint: str, panel: Any
) -> None:
    from ipyllm._panel.controller import MAX_ATTACHMENT_BYTES

    model, controller, manager = panel
    tab = manager.new_tab("big", endpoint)
    big = "A" * (MAX_ATTACHMENT_BYTES // 3 * 4 + 8)
    huge = [{"name": "a.bin", "mime": "text/plain", "data": big}]
    ask(controller, type="send", tab=tab.id, prompt="hi", attachments=huge, id="big")
    broken = [{"name": "b.png", "mime": "image/png", "data": "not base64!"}]
    ask(controller, type="send", tab=tab.id, prompt="hi", attachments=broken, id="bad")
    errors = {e["reply_to"]: e["message"] for e in model.of_type("error")}
    assert "over 20 MB" in errors["big"]
    assert "did not arrive whole" in errors["bad"]
    assert tab.turns == []
    assert fake.requests == []
