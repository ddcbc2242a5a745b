"""Putting notebook values into a prompt without breaking the braces of JSON and code.

``{name}``, ``{obj.attr}``, ``{items[0]}``, ``{In[3]}`` and ``{Out[3]}`` are
replaced when they name something that exists in the user's namespace.
Anything else in braces stays exactly as typed (``{"a": 1}``, ``{}``,
``def f(): return {x: 1}``), never an error. ``{{name}}`` keeps ``{name}``
literally: an escape for a reference you do not want replaced. Nothing is
evaluated: only names, attributes and integer or string indexes are followed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REF = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[-?\d+\]|\[(?:'[^'\]]*'|\"[^\"\]]*\")\])*"
_PATTERN = re.compile(r"\{\{(?P<escaped>" + _REF + r")\}\}|\{(?P<ref>" + _REF + r")\}")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+)\]|\['([^'\]]*)'\]|\[\"([^\"\]]*)\"\]")
_MISSING = object()


def resolve(ref: str, namespace: Mapping[str, Any]) -> Any:
    """The value ``ref`` names in ``namespace``, or a private sentinel if it names nothing."""
    head = re.match(r"[A-Za-z_]\w*", ref)
    assert head is not None  # the pattern guarantees it
    if head.group() not in namespace:
        return _MISSING
    value = namespace[head.group()]
    for step in _STEP.finditer(ref, head.end()):
        attr, index, key1, key2 = step.groups()
        try:
            if attr is not None:
                if attr.startswith("__"):
                    return _MISSING  # no dunder walking
                value = getattr(value, attr)
            elif index is not None:
                value = value[int(index)]
            else:
                value = value[key1 if key1 is not None else key2]
        except Exception:
            return _MISSING
    return value


def interpolate(prompt: str, namespace: Mapping[str, Any]) -> str:
    """``prompt`` with every reference to an existing value replaced by ``str(value)``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "{" + match.group("escaped") + "}"
        value = resolve(match.group("ref"), namespace)
        return match.group(0) if value is _MISSING else str(value)

    return _PATTERN.sub(substitute, prompt)
