"""Checking an answer against a ``schema=`` given as a JSON Schema dict.

pydantic validates types, not arbitrary JSON Schema. Where the ``jsonschema`` package
is installed (it is not an ipyllm dependency, but Jupyter's nbformat requires it, so a
notebook server nearly always has it) the answer is validated against the schema in
full; elsewhere only the root's JSON type is checked (an object schema must give an
object). Either way the value returned is the decoded JSON, unchanged.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from .._errors import InvalidOptionError, SchemaError

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}
# Errors listed from jsonschema, at most; a huge answer could otherwise give thousands.
_MAX_ERRORS = 50
# Errors quoted in a SchemaError's message; all of them are in ``.errors``.
_QUOTED = 3


def jsonschema_module() -> Any:
    """The ``jsonschema`` package, or ``None`` where it is not installed."""
    try:
        return importlib.import_module("jsonschema")
    except ImportError:
        return None


def dict_validator(schema: dict[str, Any], name: str) -> Callable[[Any], Any]:
    """A check of decoded JSON against ``schema``: returns the value, or raises
    :class:`~ipyllm.SchemaError`. Raises :class:`~ipyllm.InvalidOptionError` now if
    jsonschema is installed and says ``schema`` is not a valid JSON Schema."""
    jsonschema = jsonschema_module()
    if jsonschema is None:
        return lambda value: _check_root_type(schema, value, name)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "the root"
        raise InvalidOptionError(
            f"schema= is not a valid JSON Schema: at {where}, {e.message}."
        ) from None
    validator = cls(schema)

    def check(value: Any) -> Any:
        found = []
        for err in validator.iter_errors(value):
            found.append(err)
            if len(found) >= _MAX_ERRORS:
                break
        if not found:
            return value
        found.sort(key=lambda err: [str(p) for p in err.absolute_path])
        errors = [
            {
                "loc": list(err.absolute_path),
                "msg": err.message,
                "type": str(err.validator),
                "input": err.instance,
            }
            for err in found
        ]
        raise SchemaError(fit_message(errors, name), errors=errors)

    return check


def _check_root_type(schema: dict[str, Any], value: Any, name: str) -> Any:
    wanted = schema.get("type")
    names = [wanted] if isinstance(wanted, str) else wanted
    if not isinstance(names, list) or not all(n in _JSON_TYPES for n in names):
        return value  # no type at the root, or one we do not know: nothing cheap to check
    for n in names:
        # bool is an int in Python, not in JSON.
        if isinstance(value, _JSON_TYPES[n]) and not (isinstance(value, bool) and n != "boolean"):
            return value
    got = json_type(value)
    errors = [{"loc": [], "msg": f"expected {' or '.join(names)}, got {got}", "type": "type"}]
    errors[0]["input"] = value
    raise SchemaError(fit_message(errors, name), errors=errors)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type: object, array, string, number…"""
    for n, types in _JSON_TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and n != "boolean"):
            return n
    return type(value).__name__


def error_lines(errors: list[dict[str, Any]], limit: int = _QUOTED) -> str:
    """The first ``limit`` validation errors as ``where: what (got …)``, ``; ``-joined."""
    parts = []
    for err in errors[:limit]:
        loc = ".".join(str(p) for p in err.get("loc") or []) or "the answer"
        got = json.dumps(err.get("input"), ensure_ascii=False)
        got = got if len(got) <= 60 else got[:57] + "..."
        tail = "" if err.get("type") == "missing" else f" (got {got})"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}{tail}")
    more = len(errors) - limit
    if more > 0:
        parts.append(f"{more} more error{'s' if more > 1 else ''}")
    return "; ".join(parts)


def fit_message(errors: list[dict[str, Any]], name: str) -> str:
    """The message of a :class:`~ipyllm.SchemaError` for JSON that does not fit."""
    return (
        f"The answer is JSON but does not fit the schema {name!r}: {error_lines(errors)}. "
        "Not every model enforces a schema; ask again, or use a model that does."
    )
