"""The chat panel's kernel side with tools: cards in the ``tabs`` trait, ``tool_call``
messages as calls appear, wait, run and return, and Run / Deny from the front end.

The widget is the recording stand-in of test_panel_controller.py; the manager, the
tool loop and the loopback server are real.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ipyllm._manager.manager import SessionManager
from ipyllm._panel.controller import PanelController
from ipyllm.testing import FakeLLMServer, Reply
from test_panel_controller import WAIT, RecordingModel, ask
from waiting import wait_until

Panel = tuple[RecordingModel, PanelController, SessionManager]


@pytest.fixture
def panel() -> Iterator[Panel]:
    manager = SessionManager()
    model = RecordingModel()
    controller = PanelController(model, manager)
    yield model, controller, manager
    controller.close()
    for tab in manager.tabs:
        tab.close()


def weather(city: str) -> dict[str, Any]:
    """Current weather for a city."""
    return {"city": city, "temp": 20}


def call(city: str) -> dict[str, Any]:
    return {"name": "weather", "arguments": {"city": city}}


def calls_of(model: RecordingModel) -> list[dict[str, Any]]:
    return [m["call"] for m in model.of_type("tool_call")]


def test_run_and_deny_from_the_panel(fake: FakeLLMServer, panel: Panel) -> None:
    model, controller, manager = panel
    fake.add_reply(Reply("Checking.", tool_calls=[call("Paris"), call("Rome")]))
    fake.add_reply(Reply("Paris is 20; Rome was not checked."))
    tab = manager.new_tab(f"tools-{uuid.uuid4().hex[:6]}", model="openai:m")
    handle = tab.send(
        "Paris and Rome?",
        tools=[weather],
        approve="ask",
        api_key="sk-test",
        base_url=fake.base_url("openai"),
    )
    # The first call waits for the user; the panel was told, and so was its trait.
    assert wait_until(lambda: any(c["status"] == "awaiting" for c in calls_of(model)), WAIT)
    waiting = next(c for c in calls_of(model) if c["status"] == "awaiting")
    assert (waiting["index"], waiting["name"]) == (0, "weather")
    assert json.loads(waiting["arguments"]) == {"city": "Paris"}
    assert wait_until(
        lambda: [c["status"] for c in model.tabs[-1]["turns"][0]["tool_calls"]][:1] == ["awaiting"],
        WAIT,
    )
    ask(controller, type="approve", tab=tab.id, index=0, run=True)
    assert wait_until(lambda: [c.args for c in tab.pending_calls()] == [{"city": "Rome"}], WAIT)
    ask(controller, type="approve", tab=tab.id, index=1, run=False)
    response = handle.result(WAIT)

    assert [c.status for c in response.tool_calls] == ["done", "denied"]
    assert response.text == "Paris is 20; Rome was not checked."
    # The messages came in order: streamed arguments, waiting, running, done / denied.
    statuses = [(c["index"], c["status"]) for c in calls_of(model)]
    assert statuses.index((0, "awaiting")) < statuses.index((0, "running"))
    assert statuses.index((0, "running")) < statuses.index((0, "done"))
    assert (1, "denied") in statuses
    done = next(c for c in calls_of(model) if c["status"] == "done")
    assert json.loads(done["result"]) == {"city": "Paris", "temp": 20}
    # A reloaded view rebuilds the cards from the trait alone.
    assert wait_until(lambda: model.tabs[-1]["turns"][0]["status"] == "done", WAIT)
    cards = model.tabs[-1]["turns"][0]["tool_calls"]
    assert [(c["name"], c["status"]) for c in cards] == [("weather", "done"), ("weather", "denied")]
    assert model.tabs[-1]["turns"][0]["answer_from"] == len("Checking.\n\n")


def test_approve_refuses_a_bad_index(
    panel: Panel,
) -> None:
    model, controller, manager = panel
    tab = manager.new_tab(f"t-{uuid.uuid4().hex[:6]}", model="demo")
    ask(controller, type="approve", tab=tab.id, index="0", run=True)
    errors = model.of_type("error")
    assert errors
    assert "index" in errors[-1]["message"]


def test_a_structured_turn_says_so(fake: FakeLLMServer, panel: Panel) -> None:
    model, _controller, manager = panel
    fake.add_reply(Reply(json={"city": "Paris"}))
    tab = manager.new_tab(f"json-{uuid.uuid4().hex[:6]}", model="openai:m")
    tab.send(
        "City?",
        schema={"type": "object", "properties": {"city": {"type": "string"}}},
        api_key="sk-test",
        base_url=fake.base_url("openai"),
    ).result(WAIT)
    assert wait_until(lambda: model.tabs[-1]["turns"][0]["status"] == "done", WAIT)
    assert model.tabs[-1]["turns"][0]["structured"] is True
    assert tab.last is not None
    assert tab.last.data == {"city": "Paris"}


def test_approve_is_answered(panel: Panel) -> None:
    model, controller, manager = panel
    tab = manager.new_tab(f"t-{uuid.uuid4().hex[:6]}", model="demo")
    ask(controller, type="approve", tab=tab.id, index=0, run=True, id="a1")
    assert model.of_type("approved") == [
        {"type": "approved", "tab": tab.id, "index": 0, "reply_to": "a1"}
    ]
