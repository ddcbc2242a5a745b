"""The JSON Schema of a function's parameters, and the validator of its arguments.

The parameters become a TypedDict that pydantic validates (``extra="forbid"``: an
argument the function does not take is an error the model is told of). A TypedDict
rather than a model, because a validated TypedDict is a plain dict whose missing keys
stay missing, so the function's own defaults apply, and any parameter name works (a
model's field may not be called ``json`` or ``model_config``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from .._errors import ToolError
from . import shape

# A default longer than this as JSON is left out of the schema: it would crowd the
# description the model reads, for little use.
_MAX_DEFAULT = 200


def parameters_of(
    fn: Callable[..., Any], name: str, docs: dict[str, str]
) -> tuple[dict[str, Any], Any, tuple[tuple[str, Any], ...]]:
    """(JSON Schema, pydantic TypeAdapter, positional-only names and defaults) for the
    parameters of ``fn`` the model fills in; ``docs`` are their descriptions."""
    import pydantic
    import typing_extensions as te

    try:
        sig = inspect.signature(fn, eval_str=True)
    except NameError as e:  # a string annotation names something not defined (yet)
        raise ToolError(_unresolved(fn, name, e)) from None
    except (TypeError, ValueError) as e:  # a builtin without a signature
        raise ToolError(f"{name}: its parameters cannot be read ({e}); wrap it in a def.") from None
    bound = _partial_keywords(fn)
    fields: dict[str, Any] = {}
    hints: dict[str, Any] = {}  # each parameter's type, for naming the one pydantic refuses
    defaults: dict[str, Any] = {}
    positional: list[tuple[str, Any]] = []
    for param in sig.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind == param.VAR_POSITIONAL else "**"
            raise ToolError(
                f"{name}: {star}{param.name} cannot be a tool parameter, since models pass "
                "named arguments of a declared schema; give each argument its own parameter."
            )
        if param.name in bound:
            continue  # fixed by functools.partial: not the model's to choose
        hint = Any if param.annotation is param.empty else param.annotation
        if param.default is None and hint is not Any:
            hint = hint | None  # ``x: int = None``: the model may send null as well
        hints[param.name] = hint
        if param.default is param.empty:
            fields[param.name] = te.Required[hint]
        else:
            fields[param.name] = te.NotRequired[hint]
            defaults[param.name] = param.default
        if param.kind == param.POSITIONAL_ONLY:
            positional.append((param.name, param.default))
    make: Any = te.TypedDict  # the functional form, with names only known at run time
    args_type = make(f"{name}_arguments", fields)
    args_type.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")
    try:
        adapter = pydantic.TypeAdapter(args_type)
        schema = adapter.json_schema()
    except (pydantic.PydanticUserError, NameError) as e:
        raise ToolError(_bad_type(name, hints, e)) from None
    shape.trim_titles(schema)
    _describe(schema, docs, defaults)
    return schema, adapter, tuple(positional)


def _unresolved(fn: Any, name: str, error: NameError) -> str:
    """Which parameter's string annotation (``from __future__ import annotations``)
    names something undefined: typically a class defined inside a function."""
    missing = getattr(error, "name", None)
    for param in inspect.signature(fn).parameters.values():
        if isinstance(param.annotation, str) and missing and missing in param.annotation:
            return (
                f"{name}: the type of parameter {param.name!r} ({param.annotation!r}) cannot "
                f"be resolved: {error}. Define {missing} at the top level of the module or "
                "notebook, where the function's globals can see it."
            )
    return f"{name}: a parameter's type annotation cannot be resolved: {error}."


def _partial_keywords(fn: Any) -> set[str]:
    import functools

    names: set[str] = set()
    while isinstance(fn, functools.partial):
        names.update(fn.keywords)
        fn = fn.func
    return names


def _describe(schema: dict[str, Any], docs: dict[str, str], defaults: dict[str, Any]) -> None:
    props = schema.setdefault("properties", {})
    for pname, prop in props.items():
        if docs.get(pname) and "description" not in prop:
            prop["description"] = docs[pname]
        if pname in defaults and "default" not in prop:
            try:
                text = json.dumps(defaults[pname])
            except (TypeError, ValueError):  # not JSON (a sentinel object): leave it out
                continue
            if len(text) <= _MAX_DEFAULT:
                prop["default"] = defaults[pname]


def _bad_type(name: str, hints: dict[str, Any], error: Exception) -> str:
    import pydantic

    for pname, hint in hints.items():
        try:
            pydantic.TypeAdapter(hint).json_schema()
        except Exception:  # whatever fails names the parameter
            return (
                f"{name}: parameter {pname!r} has a type with no JSON Schema "
                f"({_type_name(hint)}); annotate it with a JSON type (str, int, float, bool, "
                "list, dict, a pydantic model, a dataclass) or fix it with functools.partial."
            )
    return f"{name}: its parameters have no JSON Schema: {str(error).splitlines()[0]}"


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)
