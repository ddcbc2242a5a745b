"""``tools=``: Python functions offered to a model, their schemas, and calling them.

:class:`Tool` wraps one callable: its name, its description and the JSON Schema of its
parameters (from the signature's type hints and the docstring), checking of the
arguments the model sends (:meth:`Tool.parse_args`) and the call itself. pydantic is
imported when a tool is made, not when this module is.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import Callable, Iterable
from typing import Any

from .._errors import ToolError
from .._types import ToolSpec
from . import shape
from .docstrings import parse_docstring
from .validate import error_lines, json_type


class ToolArgumentsError(ValueError):
    """The arguments a model sent for a tool are not valid JSON or do not fit the tool's
    parameters. The message is written for the model to read and correct itself
    ("get_weather: argument 'city' is required"); ``errors`` holds pydantic's list."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[dict[str, Any]] = errors or []


class Tool:
    """A callable the model may call, with what the provider is told about it.

    Make one with :meth:`from_function`; ``tools=[...]`` does so for plain functions.
    """

    __slots__ = ("_adapter", "_positional", "description", "fn", "is_async", "name", "parameters")

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        description: str,
        parameters: dict[str, Any],
        adapter: Any,
        positional: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        self.fn = fn
        self.name = name
        self.description = description
        self.parameters = parameters  # the JSON Schema of the arguments: an object
        self.is_async = _is_async(fn)
        self._adapter = adapter  # pydantic TypeAdapter of a TypedDict of the parameters
        # Positional-only parameters, in order, with their defaults (``empty`` if none).
        self._positional = positional

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
    ) -> Tool:
        """A tool from a function, coroutine function, ``functools.partial``, bound
        method or callable object (a :class:`Tool` gives a renamed copy).

        ``name`` defaults to the function's name, ``description`` to its docstring's
        text before any ``Args:``/``Parameters`` section. Arguments bound by a
        ``partial`` are hidden from the model. Raises :class:`~ipyllm.ToolError` for a
        name providers refuse, ``*args``/``**kwargs``, or a parameter type without a
        JSON Schema.
        """
        if isinstance(fn, Tool):
            return cls(
                fn.fn,
                name or fn.name,
                fn.description if description is None else description,
                fn.parameters,
                fn._adapter,
                fn._positional,
            )
        if not callable(fn):
            raise ToolError(f"tools= takes functions or Tool objects, not {type(fn).__name__}.")
        from .params import parameters_of

        tool_name = name or _name_of(fn)
        check_name(tool_name)
        doc = parse_docstring(_doc_of(fn))
        schema, adapter, positional = parameters_of(fn, tool_name, doc.params)
        text = doc.description if description is None else description
        return cls(fn, tool_name, text, schema, adapter, positional)

    @property
    def spec(self) -> ToolSpec:
        """What the provider is told: name, description and parameters' JSON Schema."""
        return ToolSpec(self.name, self.description, json.loads(json.dumps(self.parameters)))

    def parse_args(self, arguments: str) -> dict[str, Any]:
        """The model's arguments text validated into keyword arguments for the call
        (``""`` means none). Raises :class:`ToolArgumentsError`."""
        text = arguments.strip()
        if not text:
            text = "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise ToolArgumentsError(
                f"{self.name}: the arguments are not valid JSON ({e.msg} at line {e.lineno} "
                f"column {e.colno}); send one JSON object."
            ) from None
        if not isinstance(value, dict):
            raise ToolArgumentsError(
                f"{self.name}: the arguments must be a JSON object of named arguments, "
                f"not {json_type(value)}."
            )
        try:
            args: dict[str, Any] = self._adapter.validate_json(text)
        except ValueError as e:  # pydantic's ValidationError
            from pydantic_core import to_jsonable_python

            errors = to_jsonable_python(e.errors(include_url=False), fallback=repr)  # type: ignore[attr-defined]
            raise ToolArgumentsError(_args_message(self.name, errors), errors) from None
        return args

    def call(self, args: dict[str, Any]) -> Any:
        """Call the function with ``args`` (from :meth:`parse_args`) in this thread. A
        coroutine function is run to completion with :func:`asyncio.run`, which needs
        no event loop running in this thread; use :meth:`acall` where one is."""
        if self.is_async and _loop_running():
            # Checked before the call, so that no coroutine is made and left unawaited.
            raise RuntimeError(
                f"{self.name} is a coroutine function and an event loop is running in "
                "this thread: await tool.acall(args) instead."
            )
        result = self._invoke(args)
        if inspect.isawaitable(result):
            return asyncio.run(_await(result))
        return result

    async def acall(self, args: dict[str, Any]) -> Any:
        """Call the function with ``args`` and await it if it is a coroutine function.
        A plain function is called right here, in the event loop's thread: the caller
        decides whether to send it to a worker thread first."""
        result = self._invoke(args)
        if inspect.isawaitable(result):
            result = await result
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function as usual (a tool stays usable as a function)."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r}{', async' if self.is_async else ''})"

    def _invoke(self, args: dict[str, Any]) -> Any:
        kwargs = dict(args)
        # A positional-only parameter the model left out takes its default here, so that
        # the ones after it still land in their places.
        positional = [kwargs.pop(p) if p in kwargs else d for p, d in self._positional]
        return self.fn(*positional, **kwargs)


def tools_from(items: Iterable[Any] | Callable[..., Any] | None) -> tuple[Tool, ...]:
    """``tools=`` as :class:`Tool` objects: functions, coroutine functions, partials,
    bound methods and :class:`Tool` objects; a single one alone is accepted too.
    Raises :class:`~ipyllm.ToolError` for two tools of the same name."""
    if items is None:
        return ()
    if callable(items) or isinstance(items, Tool):
        items = [items]
    if isinstance(items, str | bytes | dict):
        raise ToolError(f"tools= takes a list of functions, not a {type(items).__name__}.")
    tools = tuple(Tool.from_function(item) for item in items)
    seen: dict[str, Tool] = {}
    for tool in tools:
        if tool.name in seen:
            raise ToolError(
                f"Two tools are named {tool.name!r}; a model calls tools by name. Give one "
                f"another with Tool.from_function(fn, name='{tool.name}_2')."
            )
        seen[tool.name] = tool
    return tools


def check_name(name: str) -> None:
    """Raise :class:`~ipyllm.ToolError` unless ``name`` is a name every provider takes:
    1 to 64 letters, digits, ``_`` or ``-``."""
    if isinstance(name, str) and shape.NAME_PATTERN.match(name):
        return
    suggestion = shape.safe_name(str(name), fallback="my_tool")
    raise ToolError(
        f"{name!r} cannot be a tool's name: providers take 1 to 64 letters, digits, '_' "
        f"or '-'. Name it with Tool.from_function(fn, name={suggestion!r})."
    )


def _name_of(fn: Any) -> str:
    while isinstance(fn, functools.partial):
        fn = fn.func
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def _doc_of(fn: Any) -> str | None:
    # A partial's own __doc__ is functools.partial's; a callable object's class
    # docstring says what it is, its __call__'s what calling it does.
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.isroutine(fn) or inspect.isclass(fn):
        return inspect.getdoc(fn)
    return inspect.getdoc(type(fn)) or inspect.getdoc(type(fn).__call__)


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):  # unwraps partials and bound methods
        return True
    # A callable object whose ``async def __call__`` makes calling it give a coroutine.
    return not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _args_message(name: str, errors: list[dict[str, Any]], limit: int = 5) -> str:
    parts = []
    for err in errors[:limit]:
        loc = ".".join(str(p) for p in err.get("loc") or [])
        if err.get("type") == "missing":
            parts.append(f"argument {loc!r} is required")
        elif err.get("type") == "extra_forbidden":
            parts.append(f"there is no argument {loc!r}")
        else:
            parts.append(error_lines([err], limit=1).replace(f"{loc}:", f"argument {loc!r}:", 1))
    if len(errors) > limit:
        parts.append(f"{len(errors) - limit} more")
    return f"{name}: " + "; ".join(parts)
