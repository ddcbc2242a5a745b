"""A JSON Schema in the form OpenAI's strict mode requires, where it has one.

Strict mode (``"strict": true`` on a response format or a function) accepts a subset
of JSON Schema: every object lists all its properties in ``required`` and has
``additionalProperties: false``, every subschema says its ``type`` (or is a ``$ref``
or an ``anyOf``), no ``oneOf``, no ``default``, and a ``$ref`` has no siblings. The
adapters decide whether to send a schema strict; :func:`strict_schema` gives them the
rewritten copy, or ``None`` when the schema cannot be made strict without changing
what it allows (a ``dict[str, int]`` property: open-ended keys).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .shape import is_object_root


class _NotStrict(Exception):
    """The schema has something strict mode cannot express."""


def strict_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    """A strict-mode copy of ``schema`` (see the module docstring), or ``None``.

    Properties that had a default become required (the model then always sends them;
    a non-null default is kept in their description), a ``oneOf`` becomes ``anyOf``
    (pydantic's discriminated unions, whose members exclude each other anyway), and a
    ``$ref`` with siblings is replaced by what it refers to. Limits on size and depth
    (OpenAI: 5000 properties, 10 levels) are not checked.
    """
    if not is_object_root(schema):
        return None
    root = copy.deepcopy(schema)
    try:
        for entry in (root.get("$defs") or {}).values():
            _fix(entry, root)
        _fix(root, root)
    except _NotStrict:
        return None
    return root


def _fix(node: Any, root: dict[str, Any]) -> None:
    if not isinstance(node, dict):
        raise _NotStrict  # a true/false schema
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        # OpenAI ignores or refuses siblings of a $ref: inline what it refers to.
        node.pop("$ref")
        for key, value in copy.deepcopy(_resolve(ref, root)).items():
            node.setdefault(key, value)
    elif isinstance(ref, str):
        return
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
        node.pop("discriminator", None)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        del node["allOf"]
        for key, value in all_of[0].items():
            node.setdefault(key, value)
        _fix(node, root)  # the merged node may have a $ref or an object now
        return
    if not any(word in node for word in ("type", "anyOf", "$ref")):
        raise _NotStrict  # Any, or enum/const without a type
    _move_default(node)
    if node.get("type") == "object" or "properties" in node:
        if node.get("additionalProperties", False) is not False or "patternProperties" in node:
            raise _NotStrict  # a dict with open-ended keys
        props = node.setdefault("properties", {})
        node["additionalProperties"] = False
        node["required"] = list(props)
        for sub in props.values():
            _fix(sub, root)
    items = node.get("items")
    if items is not None:
        _fix(items, root)
    for word in ("anyOf", "allOf", "prefixItems"):
        for sub in node.get(word) or []:
            _fix(sub, root)


def _move_default(node: dict[str, Any]) -> None:
    # Strict mode makes every property required, so a default never applies; say it in
    # the description instead, where the model can still follow it.
    if "default" not in node:
        return
    default = node.pop("default")
    if default is None:
        return
    note = f"Default: {json.dumps(default, ensure_ascii=False)}."
    old = node.get("description")
    node["description"] = f"{old.rstrip()} {note}" if isinstance(old, str) and old else note


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise _NotStrict  # a remote reference: nothing to inline
    target: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            raise _NotStrict
        target = target[part]
    if not isinstance(target, dict):
        raise _NotStrict
    return target
