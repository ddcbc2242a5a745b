"""One declaration of the request options, from every front door to the request.

A misspelt option is a ``TypeError`` at the call (with the nearest valid name) at
``Session()``, ``ask``, ``stream``, ``Tab.send`` and ``batch``, before any tab, turn or
request; every option reaches the request the loopback server records, through every
door; a call's value beats the Session's, which beats ``configure``'s.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import ipyllm
from ipyllm._manager.options import (
    CALL_OPTION_NAMES,
    OPTION_NAMES,
    CallOptions,
    RequestOptions,
    SendOptions,
)
from ipyllm._manager.runner import TurnPlan
from ipyllm.testing import FakeLLMServer, Reply

KEY = "test-key-options-0123456789"
WAIT = 10.0

pytestmark = pytest.mark.usefixtures("restore_provider_settings")


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    """A keyless OpenAI-compatible endpoint on the loopback server; its ``provider:model``."""
    name = f"opt{uuid.uuid4().hex[:6]}"
    ipyllm.register_endpoint(name, fake.base_url("openai"), models=["m"])
    return f"{name}:m"


@pytest.fixture(autouse=True)
def _no_tabs() -> Iterator[None]:
    for tab in ipyllm.manager().tabs:
        tab.close()
    yield
    for tab in ipyllm.manager().tabs:
        tab.close()


def max_tokens_of(body: dict[str, Any]) -> object:
    return body.get("max_tokens", body.get("max_completion_tokens"))


# ---- one declaration -----------------------------------------------------------------------


def test_the_typed_dicts_and_the_dataclass_name_the_same_options() -> None:
    fields = {f.name for f in dataclasses.fields(RequestOptions)}
    assert set(SendOptions.__optional_keys__) == fields == OPTION_NAMES
    assert set(CallOptions.__optional_keys__) == CALL_OPTION_NAMES
    assert {"api_key", "base_url", "allow_insecure_http"} == OPTION_NAMES - CALL_OPTION_NAMES
    assert not SendOptions.__required_keys__
    # The same types too: the TypedDicts are what a type checker sees of the dataclass.
    send_hints = typing.get_type_hints(SendOptions)
    data_hints = typing.get_type_hints(RequestOptions)
    assert send_hints == data_hints
    # What the adapter needs is a subset, derived from the declaration, not listed again
    # (tools and the schema become the ToolSpecs and the OutputSchema adapters take).
    adapter = {f.name for f in dataclasses.fields(ipyllm.Options)} - {"model", "output_schema"}
    assert adapter <= fields
    options = RequestOptions(system="s", temperature=0.5, max_tokens=9, headers={"X-A": "1"})
    assert options.for_model("m") == ipyllm.Options(
        model="m", system="s", temperature=0.5, max_tokens=9, headers={"X-A": "1"}
    )


def test_merged_replaces_what_is_given_and_checks_it() -> None:
    base = RequestOptions(temperature=0.5, system="a")
    assert base.merged() is base
    assert base.merged(temperature=None) is base  # None: not given
    merged = base.merged(temperature=1.0, max_history=2)
    assert (merged.temperature, merged.system, merged.max_history) == (1.0, "a", 2)
    with pytest.raises(ipyllm.InvalidOptionError, match="max_retries"):
        base.merged(max_retries=-1)
    with pytest.raises(ipyllm.InvalidOptionError, match="timeout"):
        RequestOptions(timeout=0)
    with pytest.raises(TypeError, match="did you mean 'temperature'"):
        base.merged(temprature=1.0)  # type: ignore[call-arg]
    # The dicts are copied: changing the caller's later changes nothing.
    headers = {"X-A": "1"}
    options = RequestOptions(headers=headers)
    headers["X-A"] = "2"
    assert options.headers == {"X-A": "1"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.temperature = 1.0  # type: ignore[misc]


# ---- a misspelt option: TypeError at the call, nothing sent ---------------------------------


def misspelt(fake: FakeLLMServer, where: str, call: Any) -> None:
    tabs = [t.id for t in ipyllm.manager().tabs]
    turns = sum(len(t.turns) for t in ipyllm.manager().tabs)
    before = len(fake.requests)
    with pytest.raises(TypeError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{where} got an unknown option 'temprature'"), message
    assert "did you mean 'temperature'?" in message
    assert "max_tokens" in message  # the valid options are listed
    assert len(fake.requests) == before
    assert [t.id for t in ipyllm.manager().tabs] == tabs  # no tab
    assert sum(len(t.turns) for t in ipyllm.manager().tabs) == turns  # no turn


def test_a_misspelt_option_is_a_type_error_at_every_door(fake: FakeLLMServer, model: str) -> None:
    bad: dict[str, Any] = {"temprature": 0.5}
    misspelt(fake, "Session()", lambda: ipyllm.Session(model, **bad))
    s = ipyllm.Session(model)
    misspelt(fake, "Session.ask()", lambda: s.ask("hi", **bad))
    misspelt(fake, "Session.stream()", lambda: s.stream("hi", **bad))  # not even iterated
    misspelt(fake, "Session.astream()", lambda: s.astream("hi", **bad))
    misspelt(fake, "Tab.send()", lambda: s.tab.send("hi", **bad))
    misspelt(fake, "batch()", lambda: ipyllm.batch(["hi"], model, progress=False, **bad))
    assert s.tab.turns == []
    # The endpoint's own options are the Session's, not one call's.
    with pytest.raises(TypeError, match="cannot change 'api_key'"):
        s.ask("hi", **{"api_key": KEY})
    assert fake.requests == []
    # Spelt right, the same calls are sent.
    fake.add_reply("ok")
    assert s.ask("hi", temperature=0.5).text == "ok"
    assert fake.requests[-1].json["temperature"] == 0.5


def test_aask_refuses_a_misspelt_option_before_sending(fake: FakeLLMServer, model: str) -> None:
    import asyncio

    s = ipyllm.Session(model)
    with pytest.raises(TypeError, match=r"Session\.aask\(\) got an unknown option 'temprature'"):
        asyncio.run(s.aask("hi", **{"temprature": 0.5}))  # type: ignore[arg-type]
    assert fake.requests == []
    assert s.tab.turns == []


# ---- every option reaches the request ----------------------------------------------------


EVERY: dict[str, Any] = {
    "system": "Be brief.",
    "temperature": 0.25,
    "max_tokens": 33,
    "extra_body": {"seed": 7},
    "headers": {"X-Ipyllm-Test": "yes"},
}


def assert_every_option_sent(fake: FakeLLMServer, system: str = "Be brief.") -> None:
    request = fake.requests[-1]
    body = request.json
    assert body["messages"][0] == {"role": "system", "content": system}
    assert body["temperature"] == 0.25
    assert max_tokens_of(body) == 33
    assert body["seed"] == 7
    assert request.headers["x-ipyllm-test"] == "yes"
    assert request.headers["authorization"] == f"Bearer {KEY}"


def keyed(fake: FakeLLMServer) -> dict[str, Any]:
    return {"api_key": KEY, "base_url": fake.base_url("openai")}


def test_every_option_reaches_the_request_from_a_session(fake: FakeLLMServer) -> None:
    fake.add_reply("one")
    s = ipyllm.Session("openai:m", **keyed(fake), **EVERY)
    assert s.ask("hi").text == "one"
    assert_every_option_sent(fake)
    # The same, given to one call instead.
    fake.add_reply("two")
    bare = ipyllm.Session("openai:m", **keyed(fake))
    assert bare.ask("hi", **EVERY).text == "two"
    assert_every_option_sent(fake)
    fake.add_reply("three")
    assert "".join(bare.stream("hi", **EVERY)) == "three"
    assert_every_option_sent(fake)


def test_every_option_reaches_the_request_from_tab_send_and_batch(fake: FakeLLMServer) -> None:
    tab = ipyllm.manager().new_tab("send", "openai:m")
    fake.add_reply("one")
    assert tab.send("hi", **keyed(fake), **EVERY).result(WAIT).text == "one"
    assert_every_option_sent(fake)
    # A RequestOptions object and keywords together: the keyword wins.
    fake.add_reply("two")
    options = RequestOptions(**keyed(fake), **{**EVERY, "temperature": 1.5})
    assert tab.send("hi", options=options, temperature=0.25).result(WAIT).text == "two"
    assert_every_option_sent(fake)
    fake.add_reply("three")
    [answer] = ipyllm.batch(["hi"], "openai:m", progress=False, **keyed(fake), **EVERY)
    assert isinstance(answer, ipyllm.Response)
    assert answer.text == "three"
    assert_every_option_sent(fake)


def test_max_retries_and_limits_reach_the_engine_from_every_door(
    fake: FakeLLMServer, model: str
) -> None:
    def count_attempts(send: Any) -> int:
        fake.reset()
        fake.add_reply(Reply(status=503))
        fake.add_reply(Reply(status=503))
        fake.add_reply("ok")
        send()
        return len(fake.requests)

    tab = ipyllm.manager().new_tab("retries", model)
    # max_retries=0: one attempt, the error kept; 2 (the default): the third attempt answers.
    with pytest.raises(ipyllm.ServerError):
        count_attempts(lambda: ipyllm.Session(model, max_retries=0).ask("hi"))
    assert len(fake.requests) == 1
    assert count_attempts(lambda: ipyllm.Session(model).ask("hi", max_retries=2)) == 3
    with pytest.raises(ipyllm.ServerError):
        count_attempts(lambda: tab.send("hi", max_retries=1).result(WAIT))
    assert len(fake.requests) == 2

    def batch_fails() -> None:
        [failed] = ipyllm.batch(["hi"], model, progress=False, max_retries=0)
        assert isinstance(failed, ipyllm.ServerError)

    assert count_attempts(batch_fails) == 1
    # max_answer_chars, a limit, cuts the answer whichever door it came through.
    fake.reset()
    for _ in range(3):
        fake.add_reply(Reply(["0123456789"] * 10))
    assert len(ipyllm.Session(model, max_answer_chars=20).ask("hi").text) == 20
    assert len(tab.send("hi", max_answer_chars=30).result(WAIT).text) == 30
    [cut] = ipyllm.batch(["hi"], model, progress=False, max_answer_chars=40)
    assert isinstance(cut, ipyllm.Response)
    assert len(cut.text) == 40


def test_the_magic_sends_its_options(
    ip: InteractiveShell, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake.add_reply("ok")
    line = f"openai:m --base-url {fake.base_url('openai')} -s 'Be brief.' -T 0.25 -n 33"
    assert ip.run_cell(f"%%llm {line} --max-answer-chars 1\nhi").success
    body = fake.requests[-1].json
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (body["temperature"], max_tokens_of(body)) == (0.25, 33)
    last = ipyllm.manager().tabs[-1].last
    assert last is not None
    assert last.finish_reason == "answer_limit"  # max_answer_chars reached the engine
    # The format's hint joins the system prompt.
    fake.add_reply('{"a": 1}')
    assert ip.run_cell(f"%%llm {line} -f json\nhi").success
    system = fake.requests[-1].json["messages"][0]["content"]
    assert system.startswith("Be brief.\n\n")
    assert "JSON" in system


def test_the_panel_sends_max_history(fake: FakeLLMServer, model: str) -> None:
    from ipyllm._manager.manager import SessionManager
    from ipyllm._panel.controller import PanelController

    class Recorder:
        def __init__(self) -> None:
            self.tabs: list[Any] = []
            self.providers: list[Any] = []
            self.default_model = ""

        def send(self, content: Any, buffers: Any = None) -> None:
            pass

    manager = SessionManager()
    controller = PanelController(Recorder(), manager)
    try:
        tab = manager.new_tab("panel", model)
        for prompt in ("one", "two"):
            fake.add_reply(prompt.upper())
            tab.send(prompt).result(WAIT)
        fake.add_reply("THREE")
        controller.handle(
            None, {"type": "send", "tab": tab.id, "prompt": "three", "max_history": 1}
        )
        assert tab.last is not None
        assert tab.last.settled.wait(WAIT)
        contents = [m["content"] for m in fake.requests[-1].json["messages"]]
        assert contents == ["two", "TWO", "three"]
    finally:
        controller.close()
        for tab in manager.tabs:
            tab.close()


# ---- who wins -------------------------------------------------------------------------------


def test_a_call_beats_the_session_which_beats_configure(fake: FakeLLMServer, model: str) -> None:
    provider = model.partition(":")[0]
    ipyllm.configure(provider, max_answer_chars=20)
    for _ in range(4):
        fake.add_reply(Reply(["0123456789"] * 10))
    assert len(ipyllm.Session(model).ask("hi").text) == 20  # configure's
    s = ipyllm.Session(model, max_answer_chars=30, temperature=0.5, system="session")
    assert len(s.ask("hi").text) == 30  # the Session's
    assert fake.requests[-1].json["temperature"] == 0.5
    r = s.ask("hi", max_answer_chars=40, temperature=1.0, system="call")
    assert len(r.text) == 40  # the call's
    body = fake.requests[-1].json
    assert body["temperature"] == 1.0
    assert body["messages"][0] == {"role": "system", "content": "call"}
    # The call's values were for that call only.
    assert len(s.ask("hi").text) == 30
    assert fake.requests[-1].json["temperature"] == 0.5
    assert s.options.system == "session"


def test_the_plan_checks_the_temperature_for_every_model() -> None:
    with pytest.raises(ipyllm.InvalidOptionError, match="anthropic"):
        TurnPlan(["openai:m", "anthropic:m"], RequestOptions(temperature=1.5))
    assert TurnPlan(["openai:m"], RequestOptions(temperature=1.5)).options.temperature == 1.5


# ---- the type checker sees it too ------------------------------------------------------------


MISSPELT = """
    import ipyllm
    from ipyllm._manager.tab import Tab

    def use(s: ipyllm.Session, tab: Tab) -> None:
        ipyllm.Session("openai:m", temprature=0.5)
        s.ask("hi", temprature=0.5)
        s.stream("hi", max_token=5)
        tab.send("hi", sytem="x")
        ipyllm.batch(["hi"], "openai:m", temprature=0.5)
        s.ask("hi", api_key="k")
        s.ask("hi", temperature="hot")
        s.ask("hi", temperature=0.5, max_tokens=5, max_history=1, timeout=3.0)
        tab.send("hi", api_key="k", max_retries=0, extra_body={"seed": 1})
"""


def test_mypy_rejects_a_misspelt_option(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    root = Path(__file__).parent.parent
    source = tmp_path / "misspelt.py"
    source.write_text(textwrap.dedent(MISSPELT))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(source)],
        # The source tree, as the project's own mypy run reads it.
        env={**os.environ, "MYPYPATH": str(root / "src")},
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    lines = sorted({int(line.split(":")[1]) for line in errors})
    # One error on each of the first seven calls (lines 6 to 12), none on the last two.
    assert lines == list(range(6, 13)), result.stdout
