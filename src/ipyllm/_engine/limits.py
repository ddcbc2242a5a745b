"""The bounds on one turn: how long it may take and how much it may hold.

Every default lives in :class:`Limits` (the decoders' line bound comes from the wire
layer, which sits below the engine). A value given to ``Session``, ``Tab.send``,
``batch`` or ``%%llm`` wins over one given to ``ipyllm.configure(provider, ...)``,
which wins over the default. docs/limits.md says what happens at each bound.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .._errors import InvalidOptionError
from .._wire.lines import DEFAULT_MAX_LINE_BYTES

# A turn that runs longer ends with a TimeoutError, retries and backoff included.
DEFAULT_DEADLINE_S = 600.0
# Text + reasoning kept from one answer: 8 Mi characters (8 MiB of ASCII).
DEFAULT_MAX_ANSWER_CHARS = 8 * 1024 * 1024

ANSWER_LIMIT = "answer_limit"
"""``Response.finish_reason`` of an answer cut at ``max_answer_chars``."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds on one turn. Times are in seconds (``math.inf``: no bound).

    ``timeout``: silence allowed between two chunks of the body (reasoning models can
    think for minutes before their first token, so it is generous). ``connect_timeout``:
    time to open the connection. ``deadline``: the whole turn, every attempt, backoff
    and stream included. ``max_answer_chars``: characters of text plus reasoning (and
    refusal and tool-call arguments) kept from one answer. ``max_event_bytes``: the
    largest single SSE event or NDJSON line.
    """

    timeout: float = 300.0
    connect_timeout: float = 15.0
    deadline: float = DEFAULT_DEADLINE_S
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS
    max_event_bytes: int = DEFAULT_MAX_LINE_BYTES

    def __post_init__(self) -> None:
        check_limits(**dataclasses.asdict(self))

    def merged(self, **values: float | int | None) -> Limits:
        """These limits with every value that is not ``None`` replaced (and checked)."""
        given = {name: value for name, value in values.items() if value is not None}
        return dataclasses.replace(self, **given) if given else self  # type: ignore[arg-type]


_TIMES = ("timeout", "connect_timeout", "deadline")
_SIZES = ("max_answer_chars", "max_event_bytes")
LIMIT_NAMES = _TIMES + _SIZES
"""The fields of :class:`Limits`, as ``configure`` takes them."""


def check_limits(origin: str = "", **values: object) -> None:
    """Raise :class:`~ipyllm.InvalidOptionError` unless each given limit is in range.

    Times must be numbers above 0 (``math.inf`` turns the bound off); sizes positive
    integers. ``None`` means "the default" and always passes. ``origin`` says where
    the values came from, for the message.
    """
    where = f" in {origin}" if origin else ""
    for name, value in values.items():
        if value is None:
            continue
        if name in _TIMES:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or math.isnan(value)
                or value <= 0
            ):
                raise InvalidOptionError(
                    f"{name}{where} must be a number of seconds above 0 "
                    f"(math.inf for no bound), not {value!r}."
                )
        elif name in _SIZES:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidOptionError(
                    f"{name}{where} must be a positive integer, not {value!r}."
                )
        else:
            raise TypeError(f"Unknown limit {name!r}; the limits are {', '.join(_TIMES + _SIZES)}.")


def seconds_or_none(value: float) -> float | None:
    """``value``, or ``None`` for ``math.inf`` (what httpx and asyncio take for "no bound")."""
    return None if math.isinf(value) else value


DEFAULT_LIMITS = Limits()
"""The built-in bounds (what ``Limits()`` holds)."""
