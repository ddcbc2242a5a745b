""":class:`ToolCallReply`, one tool call in a scripted :class:`~ipyllm.testing.Reply`."""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

__all__ = ["ToolCallReply", "new_call_id", "split_json", "tool_call_of"]

# JSON text splits where a tokenizer would: runs of word characters and runs of
# punctuation, each with the whitespace before it ('{"', 'city', '":"', 'San', ' Francisco').
_JSON_PIECE = re.compile(r"\s*(?:\w+|[^\w\s]+)|\s+")

_ALNUM = string.ascii_letters + string.digits
_LOWER = string.ascii_lowercase + string.digits
_random = random.Random()


def split_json(text: str) -> list[str]:
    """Split JSON text into token-like streaming pieces that join back to ``text``."""
    return _JSON_PIECE.findall(text)


@dataclass(frozen=True)
class ToolCallReply:
    """One tool call the fake model makes, rendered in the route's own tool-call shape.

    ``arguments`` is the arguments object (a ``dict``), or its JSON text as the model
    writes it (a ``str``, sent verbatim where the wire carries text, so it may be
    malformed on purpose), or that text already cut into streaming pieces (a list).
    OpenAI and Anthropic stream the text in pieces; Gemini, Ollama and Anthropic's
    non-streamed reply send the parsed object, so for them the text must be a JSON object
    (or the fake answers 500, saying why).
    """

    name: str
    """The function the model calls."""
    arguments: Mapping[str, Any] | str | list[str] = field(default_factory=dict)
    """The arguments: an object, its JSON text, or that text as streaming pieces."""
    _: KW_ONLY
    id: str | None = None
    """The call id. ``None``: a fresh one per response in the family's style (``call_…``,
    ``toolu_…``, Gemini's 8 characters; Ollama sends none). ``""``: no id on Gemini and
    Ollama, a generated one on OpenAI and Anthropic, which always send one."""
    signature: str | None = None
    """Gemini's ``thoughtSignature`` on this call's part; ignored by other families."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"ToolCallReply.name must be a non-empty str, got {self.name!r}")
        args = self.arguments
        if isinstance(args, Mapping):
            object.__setattr__(self, "arguments", dict(args))
        elif isinstance(args, list | tuple):
            if not all(isinstance(p, str) for p in args):
                raise TypeError("ToolCallReply.arguments pieces must all be str")
            object.__setattr__(self, "arguments", list(args))
        elif not isinstance(args, str):
            raise TypeError(
                f"ToolCallReply.arguments must be a dict, str or list of str, got {args!r}"
            )

    @property
    def arguments_text(self) -> str:
        """The arguments as JSON text, as OpenAI and Anthropic stream them."""
        args = self.arguments
        if isinstance(args, dict):
            return json.dumps(args, ensure_ascii=False, separators=(",", ":"))
        return args if isinstance(args, str) else "".join(args)

    @property
    def arguments_pieces(self) -> list[str]:
        """The arguments text cut into streaming pieces (the given list, if one was)."""
        if isinstance(self.arguments, list):
            return list(self.arguments)
        return split_json(self.arguments_text)

    @property
    def arguments_object(self) -> dict[str, Any]:
        """The arguments as an object, as Gemini and Ollama send them.

        Raises ``ValueError`` when the text is not a JSON object: those formats cannot
        carry malformed arguments.
        """
        if isinstance(self.arguments, dict):
            return self.arguments
        text = self.arguments_text
        try:
            value = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise ValueError(f"tool call {self.name!r}: arguments are not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValueError(f"tool call {self.name!r}: arguments must be a JSON object")
        return value


def tool_call_of(value: ToolCallReply | Mapping[str, Any]) -> ToolCallReply:
    """A :class:`ToolCallReply` from itself or a dict of its fields
    (``{"name": ..., "arguments": ..., "id": ...}``)."""
    if isinstance(value, ToolCallReply):
        return value
    if isinstance(value, Mapping):
        known = {"name", "arguments", "id", "signature"}
        if unknown := set(value) - known:
            raise TypeError(f"unknown tool call fields {sorted(unknown)}; use {sorted(known)}")
        if "name" not in value:
            raise TypeError("a tool call needs a 'name'")
        return ToolCallReply(
            value["name"],
            value.get("arguments", {}),
            id=value.get("id"),
            signature=value.get("signature"),
        )
    raise TypeError(f"a tool call is a ToolCallReply or a dict, got {value!r}")


def new_call_id(family: str) -> str | None:
    """A fresh tool-call id in the style ``family`` uses; ``None`` for Ollama (it sends none)."""
    if family == "openai":
        return "call_" + "".join(_random.choices(_ALNUM, k=24))
    if family == "anthropic":
        return "toolu_01" + "".join(_random.choices(_ALNUM, k=22))
    if family == "gemini":
        return "".join(_random.choices(_LOWER, k=8))
    return None
