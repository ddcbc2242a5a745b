"""Small rewrites of JSON Schemas that every provider is sent: names, titles, the root.

Schemas are walked by their keywords (``properties``, ``items``, ``anyOf``…), never as
plain nested dicts, so that a property *named* ``title`` or ``type`` is left alone.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

# OpenAI's rule for function and response-format names, the strictest of the providers.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

# Keywords whose value is one subschema, a list of them, or a mapping of names to them.
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_ONE_MORE = ("propertyNames", "unevaluatedProperties", "unevaluatedItems")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
_NAMED = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def walk(schema: Any, visit: Callable[[dict[str, Any], str | None], None]) -> None:
    """Call ``visit(node, key)`` on ``schema`` and every subschema in it, parents first;
    ``key`` is the property name for a node under ``properties``, else ``None``."""
    _walk(schema, None, visit)


def _walk(node: Any, key: str | None, visit: Callable[[dict[str, Any], str | None], None]) -> None:
    if not isinstance(node, dict):
        return  # ``true`` / ``false`` schemas, or a malformed value: nothing inside
    visit(node, key)
    for word in _ONE + _ONE_MORE:
        if word in node:
            sub = node[word]
            for item in sub if isinstance(sub, list) else [sub]:  # old-style tuple items
                _walk(item, None, visit)
    for word in _MANY:
        if isinstance(node.get(word), list):
            for item in node[word]:
                _walk(item, None, visit)
    for word in _NAMED:
        if isinstance(node.get(word), dict):
            for name, item in node[word].items():
                _walk(item, name if word == "properties" else None, visit)


def trim_titles(schema: dict[str, Any]) -> None:
    """Remove, in place, the titles pydantic generates: the root's and each ``$defs``
    entry's (the class name, which the name or the ``$ref`` already says) and each
    property's when it only repeats the property's name ("zip_code" → "Zip Code").
    A title the user chose (``Field(title=...)``) that says more is kept."""
    schema.pop("title", None)
    for entry in (schema.get("$defs") or {}).values():
        if isinstance(entry, dict):
            entry.pop("title", None)

    def visit(node: dict[str, Any], key: str | None) -> None:
        title = node.get("title")
        if key is not None and isinstance(title, str) and _squash(title) == _squash(key):
            del node["title"]

    walk(schema, visit)


def _squash(text: str) -> str:
    return re.sub(r"[\s_-]", "", text).lower()


def inline_root_ref(schema: dict[str, Any]) -> dict[str, Any]:
    """A root that is only a ``$ref`` into ``$defs`` (pydantic's shape for a recursive
    model) made that definition itself, since providers want the root to say its type.
    The definition stays in ``$defs`` while something else refers to it."""
    ref = schema.get("$ref")
    defs = schema.get("$defs")
    if not (isinstance(ref, str) and ref.startswith("#/$defs/") and isinstance(defs, dict)):
        return schema
    target = defs.get(ref.removeprefix("#/$defs/"))
    if not isinstance(target, dict) or set(schema) - {"$ref", "$defs"}:
        return schema  # siblings beside the $ref: not pydantic's shape, leave it be
    root = copy.deepcopy(target)
    rest = {name: value for name, value in defs.items() if value is not target}
    if json.dumps([root, rest]).count(json.dumps(ref)):
        rest[ref.removeprefix("#/$defs/")] = target
    if rest:
        root["$defs"] = rest
    return root


def is_object_root(schema: dict[str, Any]) -> bool:
    """True when the schema's root is an object, as OpenAI's response formats and every
    provider's tool parameters require."""
    return schema.get("type") == "object" and not any(w in schema for w in ("anyOf", "oneOf"))


def wrap_root(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """``schema`` as the one required property ``key`` of an object root; ``$defs`` move
    to the new root, where their ``#/$defs/...`` references still point."""
    inner = dict(schema)
    defs = inner.pop("$defs", None)
    root: dict[str, Any] = {
        "type": "object",
        "properties": {key: inner},
        "required": [key],
        "additionalProperties": False,
    }
    if defs:
        root["$defs"] = defs
    return root


def safe_name(text: str, fallback: str = "response") -> str:
    """``text`` as a name providers accept (``^[a-zA-Z0-9_-]{1,64}$``): module paths
    dropped (``list[__main__.City]`` → ``list_City``), other characters made ``_``."""
    text = re.sub(r"\b[A-Za-z_][\w]*\.(?=[A-Za-z_])", "", text)
    text = re.sub(r"[^a-zA-Z0-9_-]+", "_", text).strip("_")
    return text[:64] or fallback
