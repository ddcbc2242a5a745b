"""tools=: functions made into tool specs (names, docstrings, parameter schemas), the
arguments a model sends checked, the calls made, and results turned into text."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from ipyllm import ToolError
from ipyllm._tools import (
    Tool,
    ToolArgumentsError,
    error_text,
    result_text,
    strict_schema,
    tools_from,
)
from ipyllm._tools.docstrings import parse_docstring
from ipyllm._types import ToolSpec
from test_tools_schema import openai_strict_violations


def get_weather(city: str, unit: Literal["c", "f"] = "c", days: int = 1) -> dict[str, Any]:
    """Current weather for a city.

    Looks it up in the weather service.

    Args:
        city (str): The city's name,
            in English.
        unit: Celsius or Fahrenheit.

    Returns:
        The temperature and the sky.
    """
    return {"city": city, "unit": unit, "days": days}


def numpy_style(x: float, y: float, scale: float = 1.0) -> float:
    """Distance from the origin.

    Parameters
    ----------
    x, y : float
        The coordinates.
    scale : float, optional
        Multiplies the result;
        1 keeps it.

    Returns
    -------
    float
    """
    return (x**2 + y**2) ** 0.5 * scale


def sphinx_style(word: str, times: int = 2) -> str:
    """Repeat a word.

    :param word: The word.
    :param int times: How often,
        at least once.
    :returns: The words.
    """
    return word * times


# ---- docstrings ---------------------------------------------------------------------


def test_google_docstring() -> None:
    doc = parse_docstring(get_weather.__doc__)
    assert doc.description == "Current weather for a city.\n\nLooks it up in the weather service."
    assert doc.params == {"city": "The city's name, in English.", "unit": "Celsius or Fahrenheit."}


def test_numpy_docstring() -> None:
    doc = parse_docstring(numpy_style.__doc__)
    assert doc.description == "Distance from the origin."
    assert doc.params == {
        "x": "The coordinates.",
        "y": "The coordinates.",
        "scale": "Multiplies the result; 1 keeps it.",
    }


def test_sphinx_docstring() -> None:
    doc = parse_docstring(sphinx_style.__doc__)
    assert doc.description == "Repeat a word."
    assert doc.params == {"word": "The word.", "times": "How often, at least once."}


def test_plain_docstring_and_prose_with_a_colon() -> None:
    doc = parse_docstring("Add two numbers.\n\nFor example:\nadd(1, 2) is 3.")
    assert doc.description == "Add two numbers.\n\nFor example:\nadd(1, 2) is 3."
    assert doc.params == {}
    assert parse_docstring(None).description == ""


# ---- the spec -----------------------------------------------------------------------


def test_spec_from_google_function() -> None:
    tool = Tool.from_function(get_weather)
    spec = tool.spec
    assert isinstance(spec, ToolSpec)
    assert spec.name == "get_weather"
    assert spec.description.startswith("Current weather for a city.")
    assert "Returns" not in spec.description
    params = spec.parameters
    assert params["type"] == "object"
    assert params["required"] == ["city"]  # defaults are not required
    assert params["additionalProperties"] is False
    assert params["properties"]["city"] == {
        "type": "string",
        "description": "The city's name, in English.",
    }
    assert params["properties"]["unit"]["enum"] == ["c", "f"]
    assert params["properties"]["unit"]["default"] == "c"
    assert params["properties"]["days"] == {"type": "integer", "default": 1}
    assert "title" not in params
    assert tool.is_async is False


def test_spec_parameters_are_a_copy() -> None:
    tool = Tool.from_function(get_weather)
    tool.spec.parameters["properties"].clear()
    assert tool.spec.parameters["properties"]


def test_numpy_descriptions_reach_the_schema() -> None:
    props = Tool.from_function(numpy_style).spec.parameters["properties"]
    assert props["x"]["description"] == "The coordinates."
    assert props["scale"]["description"] == "Multiplies the result; 1 keeps it."


def test_name_and_description_overrides() -> None:
    tool = Tool.from_function(get_weather, name="weather", description="Weather now.")
    assert (tool.spec.name, tool.spec.description) == ("weather", "Weather now.")
    renamed = Tool.from_function(tool, name="weather2")
    assert renamed.name == "weather2"
    assert renamed.description == "Weather now."


def test_unannotated_and_none_default_parameters() -> None:
    def f(anything, maybe: int = None, model: Address | None = None):  # type: ignore[no-untyped-def,assignment]  # noqa: RUF013
        """Do it."""

    props = Tool.from_function(f).spec.parameters["properties"]
    assert props["anything"] == {}  # any JSON value
    assert props["maybe"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert Tool.from_function(f).parse_args('{"anything": [1], "maybe": null}') == {
        "anything": [1],
        "maybe": None,
    }


class Address(BaseModel):
    street: str
    number: int


def test_model_parameter_is_validated_into_the_model() -> None:
    def send(to: Address, note: str = "") -> str:
        """Send a letter."""
        return f"{to.number} {to.street}"

    tool = Tool.from_function(send)
    params = tool.spec.parameters
    assert params["properties"]["to"] == {"$ref": "#/$defs/Address"}
    assert params["$defs"]["Address"]["required"] == ["street", "number"]
    args = tool.parse_args('{"to": {"street": "Elm", "number": "5"}}')
    assert args == {"to": Address(street="Elm", number=5)}
    assert tool.call(args) == "5 Elm"


def test_typed_tool_schema_has_a_strict_form() -> None:
    for fn in (get_weather, numpy_style, sphinx_style):
        params = Tool.from_function(fn).spec.parameters
        strict = strict_schema(params)
        assert strict is not None, fn
        assert openai_strict_violations(strict) == [], fn
    strict = strict_schema(Tool.from_function(get_weather).spec.parameters)
    assert strict is not None
    assert strict["properties"]["unit"]["description"] == 'Celsius or Fahrenheit. Default: "c".'

    def loose(x) -> None:  # type: ignore[no-untyped-def]
        """Anything goes."""

    assert strict_schema(Tool.from_function(loose).spec.parameters) is None


# ---- kinds of callables -------------------------------------------------------------


async def fetch(url: str) -> str:
    """Fetch a page."""
    await asyncio.sleep(0)
    return f"<{url}>"


class Counter:
    """Counts things."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, n: int) -> int:
        """Add to the count."""
        self.total += n
        return self.total

    async def aadd(self, n: int) -> int:
        """Add, later."""
        return self.add(n)


class AsyncCallable:
    """Answers later."""

    async def __call__(self, q: str) -> str:
        return q.upper()


def test_async_detection() -> None:
    counter = Counter()
    assert Tool.from_function(fetch).is_async
    assert Tool.from_function(counter.aadd).is_async
    assert Tool.from_function(functools.partial(fetch)).is_async
    assert Tool.from_function(AsyncCallable()).is_async
    assert not Tool.from_function(counter.add).is_async
    assert not Tool.from_function(get_weather).is_async


def test_bound_method_hides_self() -> None:
    counter = Counter()
    tool = Tool.from_function(counter.add)
    assert tool.name == "add"
    assert tool.description == "Add to the count."
    assert list(tool.spec.parameters["properties"]) == ["n"]
    assert tool.call(tool.parse_args('{"n": 2}')) == 2
    assert counter.total == 2


def test_partial_hides_bound_arguments_and_keeps_the_docstring() -> None:
    def search(query: str, api_key: str, limit: int = 5) -> str:
        """Search the web.

        Args:
            query: What to look for.
            api_key: Not for the model.
        """
        return f"{query}/{api_key}/{limit}"

    tool = Tool.from_function(functools.partial(search, api_key="secret"))
    assert tool.name == "search"
    assert tool.description == "Search the web."
    props = tool.spec.parameters["properties"]
    assert list(props) == ["query", "limit"]
    assert "secret" not in json.dumps(tool.spec.parameters)
    assert tool.call(tool.parse_args('{"query": "q"}')) == "q/secret/5"
    with pytest.raises(ToolArgumentsError, match="there is no argument 'api_key'"):
        tool.parse_args('{"query": "q", "api_key": "other"}')


def test_positional_only_parameters_are_passed_by_position() -> None:
    def pos(a: int, b: int = 10, /, c: int = 100) -> int:
        """Add."""
        return a + 2 * b + 3 * c

    tool = Tool.from_function(pos)
    assert tool.call(tool.parse_args('{"a": 1, "c": 0}')) == 21
    assert tool.call(tool.parse_args('{"a": 1, "b": 0, "c": 0}')) == 1


def test_call_and_acall() -> None:
    sync_tool = Tool.from_function(get_weather)
    async_tool = Tool.from_function(fetch)
    assert asyncio.run(async_tool.acall({"url": "u"})) == "<u>"
    assert asyncio.run(sync_tool.acall({"city": "Oslo"}))["city"] == "Oslo"
    assert async_tool.call({"url": "v"}) == "<v>"  # no loop here: run to completion
    assert Tool.from_function(AsyncCallable()).call({"q": "hi"}) == "HI"
    assert sync_tool("Rome")["city"] == "Rome"  # still a function


def test_call_of_a_coroutine_tool_inside_a_loop_says_to_await() -> None:
    tool = Tool.from_function(fetch)

    async def inside() -> str:
        with pytest.raises(RuntimeError, match=r"await tool.acall\(args\)"):
            tool.call({"url": "u"})
        return str(await tool.acall({"url": "u"}))

    assert asyncio.run(inside()) == "<u>"


# ---- refused tools ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: Tool.from_function(lambda x: x), "Tool.from_function\\(fn, name='lambda'\\)"),
        (lambda: Tool.from_function(get_weather, name="get weather"), "name='get_weather'"),
        (lambda: Tool.from_function(get_weather, name="x" * 65), "1 to 64"),
        (lambda: Tool.from_function(get_weather, name="wetter_für"), "letters, digits"),
    ],
)
def test_bad_names_say_how_to_fix(make: Any, needle: str) -> None:
    with pytest.raises(ToolError, match=needle):
        make()


def test_variadic_parameters_are_refused() -> None:
    def many(*items: str) -> None:
        """Many."""

    def named(**options: str) -> None:
        """Named."""

    with pytest.raises(ToolError, match=r"many: \*items cannot be a tool parameter"):
        Tool.from_function(many)
    with pytest.raises(ToolError, match=r"named: \*\*options"):
        Tool.from_function(named)


class Opaque:
    pass


def test_a_parameter_type_without_json_schema_is_named() -> None:
    def use(fine: int, thing: Opaque) -> None:
        """Use it."""

    with pytest.raises(ToolError, match="use: parameter 'thing' has a type with no JSON Schema"):
        Tool.from_function(use)


def test_an_unresolvable_annotation_is_named() -> None:
    class Local:  # with postponed annotations, the function's globals cannot see it
        pass

    def use(fine: int, thing: Local) -> None:
        """Use it."""

    with pytest.raises(ToolError, match=r"use: the type of parameter 'thing' .* top level"):
        Tool.from_function(use)


def test_tools_from() -> None:
    def get_weather_copy() -> None:
        """Same name."""

    tools = tools_from([get_weather, fetch, Tool.from_function(numpy_style, name="dist")])
    assert [t.name for t in tools] == ["get_weather", "fetch", "dist"]
    assert tools_from(get_weather)[0].name == "get_weather"  # one function alone
    assert tools_from(None) == ()
    get_weather_copy.__name__ = "get_weather"
    with pytest.raises(ToolError, match="Two tools are named 'get_weather'"):
        tools_from([get_weather, get_weather_copy])
    with pytest.raises(ToolError, match="not int"):
        tools_from([get_weather, 3])
    with pytest.raises(ToolError, match="list of functions, not a str"):
        tools_from("get_weather")


# ---- arguments ----------------------------------------------------------------------


def test_empty_arguments_mean_none() -> None:
    def now() -> str:
        """The time."""
        return "noon"

    tool = Tool.from_function(now)
    assert tool.spec.parameters["properties"] == {}
    assert tool.parse_args("") == {}
    assert tool.parse_args("  ") == {}
    assert tool.parse_args("{}") == {}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("{}", "get_weather: argument 'city' is required"),
        ('{"city": "Oslo", "units": "c"}', "get_weather: there is no argument 'units'"),
        (
            '{"city": "Oslo", "unit": "k"}',
            "get_weather: argument 'unit': Input should be 'c' or 'f' (got \"k\")",
        ),
        ('{"city": "Oslo", "days": "two"}', "argument 'days': Input should be a valid integer"),
        ('{"city": ', "get_weather: the arguments are not valid JSON"),
        ('["Oslo"]', "must be a JSON object of named arguments, not array"),
        ('"Oslo"', "must be a JSON object of named arguments, not string"),
    ],
)
def test_argument_errors_speak_to_the_model(arguments: str, message: str) -> None:
    tool = Tool.from_function(get_weather)
    with pytest.raises(ToolArgumentsError) as caught:
        tool.parse_args(arguments)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert error_text(caught.value).startswith("ToolArgumentsError: get_weather: ")


def test_argument_errors_keep_pydantic_errors_and_coerce_lax_values() -> None:
    tool = Tool.from_function(get_weather)
    with pytest.raises(ToolArgumentsError) as caught:
        tool.parse_args('{"days": "x"}')
    assert [e["type"] for e in caught.value.errors] == ["missing", "int_parsing"]
    assert tool.parse_args('{"city": "Oslo", "days": "3"}') == {"city": "Oslo", "days": 3}


# ---- results ------------------------------------------------------------------------


@dataclasses.dataclass
class Reading:
    temp: float
    at: datetime.date


def test_result_text_of_values() -> None:
    assert result_text("as is\n") == "as is\n"
    assert result_text({"a": [1, 2.5, None], "b": "é"}) == '{"a":[1,2.5,null],"b":"é"}'
    assert result_text(Address(street="Elm", number=5)) == '{"street":"Elm","number":5}'
    assert result_text(Reading(20.5, datetime.date(2024, 1, 2))) == (
        '{"temp":20.5,"at":"2024-01-02"}'
    )
    assert result_text(None) == "null"
    assert result_text(42) == "42"
    assert result_text(float("nan")) == "null"
    assert result_text(datetime.date(2024, 1, 2)) == "2024-01-02"  # no JSON quotes
    assert result_text({1, 2}) == "[1,2]"
    assert result_text([object()]).startswith('["<object object at')


def test_result_text_refuses_bytes() -> None:
    text = result_text(b"\x89PNG....")
    assert text.startswith("[8 bytes of binary data, not shown")
    assert "PNG" not in text


def test_result_text_of_a_circular_value() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert result_text(loop).startswith("[")  # no RecursionError, something readable


def test_result_text_is_capped() -> None:
    text = result_text("x" * 150, limit=100)
    assert text == "x" * 100 + "\n… [truncated: 50 more characters]"
    assert len(result_text("y" * 200_000)) < 100_100
    assert result_text("z" * 100, limit=100) == "z" * 100


def test_error_text() -> None:
    assert error_text(ValueError("no such city")) == "ValueError: no such city"
    assert error_text(KeyError("k")) == "KeyError: 'k'"
    assert error_text(RuntimeError()) == "RuntimeError"
    leaked = error_text(RuntimeError("Authorization: Bearer sk-abcdefghijklmnop1234"))
    assert "sk-abcdefghijklmnop1234" not in leaked
