"""What goes back to the model after a tool call: its result, or its error, as text."""

from __future__ import annotations

from typing import Any

# Characters of a result sent back; a tool that returns a whole file or table would
# otherwise fill the context window (and the bill) in one call.
MAX_RESULT_CHARS = 100_000


def result_text(value: Any, limit: int = MAX_RESULT_CHARS) -> str:
    """``value`` as the text of a tool result: a ``str`` as it is, anything else as JSON
    (pydantic models, dataclasses, dicts, lists, numbers, dates, enums; ``None`` is
    ``null``; an object with no JSON form is its ``str()``), cut to ``limit`` characters
    with a note of how much was left out. Bytes are not sent: a note says so. A key
    ipyllm knows is masked: the text goes to the provider, the panel and the history."""
    from .._errors import redact

    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray | memoryview):
        size = len(value) if not isinstance(value, memoryview) else value.nbytes
        # Binary data means nothing to a model as text and would only spend tokens.
        text = f"[{size} bytes of binary data, not shown: return a str to send text]"
    else:
        text = _json(value)
    return _cap(redact(text), limit)


def error_text(exc: BaseException, limit: int = 10_000) -> str:
    """A tool's exception as its result: ``TypeName: message``, keys masked, capped."""
    from .._errors import redact  # an error may quote a request's headers, key and all

    message = str(exc).strip()
    name = type(exc).__name__
    return _cap(redact(f"{name}: {message}" if message else name), limit)


def _json(value: Any) -> str:
    from pydantic_core import to_json

    try:
        # NaN and infinities become null: JSON has no such numbers.
        raw = to_json(value, fallback=str, serialize_unknown=True, inf_nan_mode="null")
    except (TypeError, ValueError):  # a circular reference, a failing __str__
        return _str(value)
    text = raw.decode("utf-8")
    if text.startswith('"') and not isinstance(value, str):
        # A lone object serialised as its str() (a date, a UUID, an unknown object):
        # send the text, not a JSON string literal with its quotes and escapes.
        import json

        decoded = json.loads(text)
        return decoded if isinstance(decoded, str) else text
    return text


def _str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not hide the result's existence
        return f"<{type(value).__name__} object>"


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [truncated: {len(text) - limit} more characters]"
