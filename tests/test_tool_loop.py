"""The tool loop and structured output, end to end through the loopback fake server.

Each test runs for every wire family: the fake server answers with a tool call
in that family's streaming format, ipyllm runs the Python function, and the
next request must carry the result back in the family's own shape (read here
from the recorded request body). Then the model answers in text.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

import ipyllm
from ipyllm.testing import FakeLLMServer, Reply
from waiting import wait_until

FAMILIES = ["openai", "anthropic", "gemini", "ollama"]
KEY = "test-key-tools-0123456789"


def session(fake: FakeLLMServer, family: str, **options: Any) -> ipyllm.Session:
    return ipyllm.Session(
        f"{family}:test-model",
        api_key=None if family == "ollama" else KEY,
        base_url=fake.base_url(family),
        max_retries=0,
        **options,
    )


@dataclass
class Result:
    """A tool result as one request carried it, whatever the family."""

    key: str | None  # the call id, or the function name where the family sends no id
    text: str
    is_error: bool


def tool_results(family: str, body: dict[str, Any]) -> list[Result]:
    """The tool results in the last message(s) of a request body."""
    out: list[Result] = []
    if family in ("openai", "ollama"):
        for m in body["messages"]:
            if m["role"] == "tool":
                key = m.get("tool_call_id") or m.get("tool_name")
                out.append(Result(key, m["content"], False))
    elif family == "anthropic":
        for m in body["messages"]:
            if m["role"] == "user" and isinstance(m["content"], list):
                for block in m["content"]:
                    if block.get("type") == "tool_result":
                        content = block["content"]
                        if isinstance(content, list):
                            content = "".join(b.get("text", "") for b in content)
                        out.append(
                            Result(block["tool_use_id"], content, bool(block.get("is_error")))
                        )
    else:
        for c in body["contents"]:
            for part in c.get("parts", []):
                fr = part.get("functionResponse")
                if fr:
                    response = fr["response"]
                    is_error = set(response) == {"error"}
                    out.append(Result(fr.get("id") or fr["name"], json.dumps(response), is_error))
    return out


def weather(city: str, unit: str = "c") -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: The city's name.
        unit: "c" or "f".
    """
    return {"city": city, "temp": {"Paris": 20, "Rome": 25}.get(city, 0), "unit": unit}


def call(function: str, /, **args: Any) -> dict[str, Any]:
    return {"name": function, "arguments": args}


@pytest.mark.parametrize("family", FAMILIES)
def test_two_parallel_calls_then_an_answer(fake: FakeLLMServer, family: str) -> None:
    fake.add_reply(Reply(tool_calls=[call("weather", city="Paris"), call("weather", city="Rome")]))
    fake.add_reply(Reply("Paris 20, Rome 25."))
    s = session(fake, family, tools=[weather])
    r = s.ask("Weather in Paris and Rome?")

    assert r.text == "Paris 20, Rome 25."
    assert [c.args for c in r.tool_calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert [c.status for c in r.tool_calls] == ["done", "done"]
    assert r.tool_calls[1].result == {"city": "Rome", "temp": 25, "unit": "c"}
    assert all(c.elapsed_s is not None and c.elapsed_s >= 0 for c in r.tool_calls)

    first, second = fake.requests
    # The tools were offered, with the schema from the signature and the docstring.
    offered = json.dumps(first.json)
    assert "The city's name." in offered
    assert "Current weather for a city." in offered
    results = tool_results(family, second.json)
    assert [json.loads(x.text) if family != "gemini" else x.text for x in results]
    assert len(results) == 2
    assert "25" in results[1].text
    assert "Rome" in results[1].text
    assert not any(x.is_error for x in results)
    if r.tool_calls[0].id is not None:
        assert [x.key for x in results] == [c.id for c in r.tool_calls]

    # The conversation holds the calls and the results, and the next prompt sends them.
    roles = [m["role"] for m in s.messages]
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]
    assert [c["name"] for c in s.messages[1]["tool_calls"]] == ["weather", "weather"]
    fake.add_reply(Reply("Yes."))
    s.ask("Warm?")
    assert len(tool_results(family, fake.requests[-1].json)) == 2


@pytest.mark.parametrize("family", FAMILIES)
def test_a_raising_tool_sends_its_error_and_the_loop_goes_on(
    fake: FakeLLMServer, family: str
) -> None:
    def lookup(code: str) -> str:
        """Look a code up."""
        raise KeyError(f"no such code {code}")

    fake.add_reply(Reply(tool_calls=[call("lookup", code="X1")]))
    fake.add_reply(Reply(tool_calls=[call("lookup", code="X2")]))
    fake.add_reply(Reply("Neither code exists."))
    r = session(fake, family, tools=[lookup]).ask("Codes?")
    assert r.text == "Neither code exists."
    assert [c.status for c in r.tool_calls] == ["error", "error"]
    assert r.tool_calls[0].error == "KeyError: 'no such code X1'"
    result = tool_results(family, fake.requests[1].json)[-1]
    assert "KeyError" in result.text
    assert "X1" in result.text
    if family in ("anthropic", "gemini"):  # the formats that mark an error result
        assert result.is_error
    assert len(fake.requests) == 3


@pytest.mark.parametrize("family", FAMILIES)
def test_a_denied_call_tells_the_model(fake: FakeLLMServer, family: str) -> None:
    seen: list[ipyllm.ToolCall] = []

    def deny_rome(c: ipyllm.ToolCall) -> bool:
        seen.append(c)
        return (c.args or {}).get("city") != "Rome"

    fake.add_reply(Reply(tool_calls=[call("weather", city="Paris"), call("weather", city="Rome")]))
    fake.add_reply(Reply("Only Paris."))
    r = session(fake, family, tools=[weather], approve=deny_rome).ask("Both?")
    assert [c.status for c in r.tool_calls] == ["done", "denied"]
    assert [c.name for c in seen] == ["weather", "weather"]
    results = tool_results(family, fake.requests[1].json)
    assert "declined" in results[1].text
    assert "20" in results[0].text


@pytest.mark.parametrize("family", FAMILIES)
def test_max_tool_rounds_ends_the_turn(fake: FakeLLMServer, family: str) -> None:
    for city in ("A", "B", "C"):
        fake.add_reply(Reply(tool_calls=[call("weather", city=city)]))
    r = session(fake, family, tools=[weather], max_tool_rounds=2).ask("Loop")
    assert r.finish_reason == "max_tool_rounds"
    assert [c.status for c in r.tool_calls] == ["done", "done", "skipped"]
    assert "max_tool_rounds=2" in (r.tool_calls[2].error or "")
    assert len(fake.requests) == 3


def test_unknown_tool_and_bad_arguments_go_back_as_errors(fake: FakeLLMServer) -> None:
    fake.add_reply(
        Reply(tool_calls=[call("forecast", city="Paris"), call("weather", town="Paris")])
    )
    fake.add_reply(Reply("Sorry."))
    r = session(fake, "openai", tools=[weather]).ask("?")
    assert [c.status for c in r.tool_calls] == ["error", "error"]
    assert "no tool named 'forecast'" in (r.tool_calls[0].error or "")
    assert "weather" in (r.tool_calls[0].error or "")
    assert "city" in (r.tool_calls[1].error or "")
    assert len(tool_results("openai", fake.requests[1].json)) == 2


def test_coroutine_tools_of_one_round_run_together(fake: FakeLLMServer) -> None:
    both = asyncio.Barrier(2) if hasattr(asyncio, "Barrier") else None
    started: list[str] = []

    async def slow(name: str) -> str:
        """Wait for the other call."""
        started.append(name)
        if both is not None:
            await asyncio.wait_for(both.wait(), 5)  # only returns if both run at once
        return name.upper()

    fake.add_reply(Reply(tool_calls=[call("slow", name="a"), call("slow", name="b")]))
    fake.add_reply(Reply("done"))
    r = session(fake, "anthropic", tools=[slow]).ask("go")
    assert [c.result for c in r.tool_calls] == ["A", "B"]
    assert [c.status for c in r.tool_calls] == ["done", "done"]


@pytest.mark.parametrize("family", FAMILIES)
def test_stop_between_rounds_keeps_what_ran(fake: FakeLLMServer, family: str) -> None:
    entered = threading.Event()
    release = threading.Event()

    def wait_here() -> str:
        """Block until released."""
        entered.set()
        release.wait(10)
        return "late"

    fake.add_reply(Reply("Checking.", tool_calls=[call("wait_here")]))
    fake.add_reply(Reply("never sent"))
    s = session(fake, family, tools=[wait_here])
    handle = s.tab.send("go", options=s.options)
    assert entered.wait(10)
    s.stop()
    assert handle.wait(10)
    release.set()
    assert handle.turn.status == "stopped"
    assert len(fake.requests) == 1  # the second round never started
    assert handle.turn.text == "Checking."


def test_approve_ask_from_code_uses_input(
    fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return "n" if "Rome" in prompt else "y"

    monkeypatch.setattr("builtins.input", answer)
    fake.add_reply(Reply(tool_calls=[call("weather", city="Paris"), call("weather", city="Rome")]))
    fake.add_reply(Reply("ok"))
    r = session(fake, "gemini", tools=[weather], approve="ask").ask("?")
    assert [c.status for c in r.tool_calls] == ["done", "denied"]
    assert len(asked) == 2
    assert "weather" in asked[0]
    assert "Paris" in asked[0]


def test_text_of_every_round_streams_and_the_answer_is_the_last(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply("Let me check.", tool_calls=[call("weather", city="Paris")]))
    fake.add_reply(Reply("It is 20 in Paris."))
    s = session(fake, "openai", tools=[weather])
    pieces = list(s.stream("Paris?"))
    assert "".join(pieces) == "Let me check.\n\nIt is 20 in Paris."
    assert s.last is not None
    assert s.last.text == "It is 20 in Paris."
    assert s.tab.text == "Let me check.\n\nIt is 20 in Paris."
    # The first round's text goes back with its call, not with the answer.
    assert s.messages[1]["content"] == "Let me check."
    assert s.messages[-1] == {"role": "assistant", "content": "It is 20 in Paris."}


def test_usage_adds_up_over_the_rounds(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(tool_calls=[call("weather", city="Paris")], tokens_in=10, tokens_out=5))
    fake.add_reply(Reply("20.", tokens_in=30, tokens_out=2))
    r = session(fake, "openai", tools=[weather]).ask("?")
    assert (r.tokens_in, r.tokens_out) == (40, 7)


def test_history_restores_a_conversation_with_tool_rounds(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(tool_calls=[call("weather", city="Paris")]))
    fake.add_reply(Reply("20."))
    s = session(fake, "anthropic", tools=[weather])
    s.ask("Paris?")
    ipyllm.manager().history.flush()
    tab = ipyllm.manager().restore(s.tab.conversation_id)
    assert [m["role"] for m in tab.messages] == ["user", "assistant", "tool", "assistant"]
    assert tab.turns[0].tool_calls[0].status == "done"
    assert "20" in str(tab.turns[0].tool_calls[0].result)
    fake.add_reply(Reply("Still 20."))
    ipyllm.Session(
        "anthropic:test-model", tab=tab, api_key=KEY, base_url=fake.base_url("anthropic")
    ).ask("And now?")
    assert len(tool_results("anthropic", fake.requests[-1].json)) == 1


# ---- structured output ---------------------------------------------------------


class City(BaseModel):
    name: str
    population: int


@pytest.mark.parametrize("family", FAMILIES)
def test_schema_gives_validated_data(fake: FakeLLMServer, family: str) -> None:
    fake.add_reply(Reply(json={"name": "Tokyo", "population": 37_000_000}))
    r = session(fake, family).ask("Largest city in Japan?", schema=City)
    assert r.data == City(name="Tokyo", population=37_000_000)
    assert json.loads(r.text) == {"name": "Tokyo", "population": 37_000_000}
    assert "population" in json.dumps(fake.requests[0].json)  # the schema was sent


@pytest.mark.parametrize("family", FAMILIES)
def test_schema_failure_raises_with_the_text_and_the_errors(
    fake: FakeLLMServer, family: str
) -> None:
    fake.add_reply(Reply(json={"name": "Tokyo"}))
    s = session(fake, family)
    with pytest.raises(ipyllm.SchemaError) as info:
        s.ask("Largest city?", schema=City)
    err = info.value
    assert json.loads(err.partial) == {"name": "Tokyo"}
    assert any("population" in str(e.get("loc")) for e in err.errors)
    assert err.response is not None
    assert err.response.data is None
    assert s.tab.last is not None
    assert s.tab.last.status == "error"


def test_stream_with_schema_yields_json_and_last_holds_data(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(json={"name": "Paris", "population": 2_100_000}))
    s = session(fake, "openai")
    text = "".join(s.stream("Capital of France?", schema=City))
    assert json.loads(text)["name"] == "Paris"
    assert s.last is not None
    assert s.last.data == City(name="Paris", population=2_100_000)


def test_batch_with_schema_keeps_order_and_types(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(json={"name": "Tokyo", "population": 1}))
    fake.add_reply(Reply(json={"name": "Paris", "population": 2}))
    out = ipyllm.batch(
        ["Japan", "France"],
        model="openai:test-model",
        schema=City,
        api_key=KEY,
        base_url=fake.base_url("openai"),
        progress=False,
        concurrency=1,
    )
    assert [r.data for r in out] == [
        City(name="Tokyo", population=1),
        City(name="Paris", population=2),
    ]  # type: ignore[union-attr]


def test_bad_options_fail_at_the_call() -> None:
    with pytest.raises(ipyllm.InvalidOptionError, match="approve"):
        ipyllm.Session("demo", approve="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ipyllm.InvalidOptionError, match="max_tool_rounds"):
        ipyllm.Session("demo", max_tool_rounds=-1)
    with pytest.raises(TypeError, match="tool"):
        ipyllm.Session("demo").ask("x", tool=[weather])  # type: ignore[call-arg]


def test_batch_runs_each_prompts_tool_loop(fake: FakeLLMServer) -> None:
    fake.add_reply(Reply(tool_calls=[call("weather", city="Paris")]))
    fake.add_reply(Reply("Paris: 20."))
    before = len(ipyllm.manager().tabs)
    out = ipyllm.batch(
        ["Paris?"],
        model="openai:test-model",
        tools=[weather],
        api_key=KEY,
        base_url=fake.base_url("openai"),
        progress=False,
    )
    response = out[0]
    assert isinstance(response, ipyllm.Response)
    assert response.text == "Paris: 20."
    assert response.tool_calls[0].result == {"city": "Paris", "temp": 20, "unit": "c"}
    assert len(ipyllm.manager().tabs) == before  # no tab left behind
    with pytest.raises(TypeError, match="approve"):
        ipyllm.batch(["x"], model="demo", tools=[weather], approve="ask")


def test_views_see_a_call_grow_then_run(fake: FakeLLMServer) -> None:
    from ipyllm.events import TabStatus, TabToolCall

    fake.add_reply(Reply("One moment.", tool_calls=[call("weather", city="Paris")]))
    fake.add_reply(Reply("20."))
    s = session(fake, "openai", tools=[weather])
    events: list[object] = []
    settled = threading.Event()

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, TabStatus) and event.status == "done":
            settled.set()

    sub = s.tab.subscribe(on_event)
    try:
        s.ask("Paris?")
        assert settled.wait(5)
    finally:
        sub.close()
    calls = [e for e in events if isinstance(e, TabToolCall)]
    assert {e.index for e in calls} == {0}
    streamed = [e.arguments for e in calls if e.status == "requested"]
    # The arguments arrive in pieces, each event holding all so far.
    assert len(streamed) > 2
    assert all(b.startswith(a) for a, b in itertools.pairwise(streamed))
    assert json.loads(streamed[-1]) == {"city": "Paris"}
    assert [e.status for e in calls if e.status != "requested"] == ["running", "done"]
    assert calls[-1].result is not None
    assert json.loads(calls[-1].result) == {"city": "Paris", "temp": 20, "unit": "c"}


@pytest.mark.parametrize("family", FAMILIES)
def test_stop_during_the_second_rounds_stream(fake: FakeLLMServer, family: str) -> None:
    fake.add_reply(Reply(tool_calls=[call("weather", city="Paris")]))
    fake.add_reply(Reply(["It ", "is ", "20 ", "and ", "sunny ", "all ", "day."], delay_s=0.3))
    s = session(fake, family, tools=[weather])
    handle = s.tab.send("Paris?", options=s.options)
    assert wait_until(lambda: "is" in s.tab.text, 10)
    s.stop()
    assert handle.wait(10)
    turn = handle.turn
    assert turn.status == "stopped"
    assert turn.answer.startswith("It is")
    assert not turn.answer.endswith("day.")
    assert len(fake.requests) == 2
    # What later prompts send: the round that ran, then the partial answer.
    assert [m["role"] for m in s.messages] == ["user", "assistant", "tool", "assistant"]
    assert s.messages[-1]["content"] == turn.answer


def test_a_key_a_tool_returns_is_masked_everywhere(fake: FakeLLMServer) -> None:
    def leaky() -> dict[str, str]:
        """Return the environment."""
        return {"OPENAI_API_KEY": KEY}

    fake.add_reply(Reply(tool_calls=[call("leaky")]))
    fake.add_reply(Reply("Done."))
    s = session(fake, "openai", tools=[leaky])
    r = s.ask("env?")
    assert KEY not in fake.requests[1].body.decode()  # not sent to the provider
    assert KEY not in json.dumps(s.messages)
    assert r.tool_calls[0].result == {"OPENAI_API_KEY": KEY}  # the caller's own value
