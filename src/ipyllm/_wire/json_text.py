"""``json.loads`` for the one JSON document of each stream event, without its wrappers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# json.loads(s) goes through three Python frames and two regex matches (for whitespace
# around the document) before and after the C scanner; an event's data is nearly always
# the bare document, so the scanner alone decodes it. Anything else (whitespace, trailing
# data, invalid JSON) takes json.loads, which gives the same result or the same error.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads(text: str) -> Any:
    """Exactly ``json.loads(text)`` for a ``str``: the same value or the same error."""
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


# The C string scanner: (the value, the index after its closing quote).
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
# A value no real stream sends, put in the slot to check where the slot's string lands.
_PROBE = "\x00ipyllm-slot\x00"
_PROBE_JSON = json.dumps(_PROBE)
# Learning costs a parse; a stream whose other fields change every event (a fresh id, a
# padding field) never matches, so it stops trying after this many.
MAX_LEARNS = 8


class StringSlot:
    """The text of one JSON event around one string value (a text delta's), so that the
    next events that differ only in that string are read without a full parse.

    A streamed answer's events are usually the same document with a different piece of
    text in it: :meth:`read` takes the string out of such an event with one
    ``scanstring``, after checking that everything before and after it is unchanged and
    that it is exactly one string literal. The document then parses (``json.loads``) to the
    learnt one with that string in the slot, which :meth:`learn` has checked.
    """

    __slots__ = ("_prefix", "_start", "_suffix", "_tail")

    def __init__(self, prefix: str, suffix: str) -> None:
        self._prefix = prefix
        self._suffix = suffix
        self._start = len(prefix)
        self._tail = len(suffix)

    def read(self, text: str) -> str | None:
        """The slot's string if ``text`` is the learnt document with only that string
        changed; ``None`` otherwise (then parse ``text`` in full)."""
        start = self._start
        end = len(text) - self._tail
        if end <= start or not (text.startswith(self._prefix) and text.endswith(self._suffix)):
            return None
        if text[start] != '"':
            return None
        try:
            value, stop = _scanstring(text, start + 1)
        except ValueError:  # a bad escape or a control character: let json.loads say so
            return None
        return value if stop == end else None

    @classmethod
    def learn(cls, text: str, key: str, at_slot: Callable[[Any], Any]) -> StringSlot | None:
        """The slot of the string after the last ``"key":`` in ``text``, a JSON document
        whose value ``at_slot(parsed)`` is that string; ``None`` if that cannot be shown
        (checked by parsing ``text`` with a probe in the slot)."""
        literal = f'"{key}":'
        found = text.rfind(literal)
        if found < 0:
            return None
        start = found + len(literal)
        if text[start : start + 1] == " ":
            start += 1
        if text[start : start + 1] != '"':
            return None
        try:
            _, stop = _scanstring(text, start + 1)
            prefix, suffix = text[:start], text[stop:]
            landed = at_slot(json.loads(prefix + _PROBE_JSON + suffix)) == _PROBE
        except (ValueError, LookupError, TypeError, AttributeError):
            return None
        return cls(prefix, suffix) if landed else None
