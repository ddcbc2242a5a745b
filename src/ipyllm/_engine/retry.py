"""When to retry, and how long to wait: Retry-After in all the shapes providers send."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

# Statuses worth another try: timeout, conflict, rate limit, server trouble.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})
BACKOFF_START_S = 0.5
BACKOFF_CAP_S = 8.0
# A server asking for a longer wait than this is not retried automatically.
MAX_HONORED_RETRY_AFTER_S = 60.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_BODY_HINT = re.compile(r"(?:try again|retry) in (\d+(?:\.\d+)?)\s*(ms|s|seconds?)\b", re.I)


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (``120ms``, ``6m0s``, ``1.5s``, ``7s``), or None."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _seconds_or_date(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _ratelimit_reset(headers: Mapping[str, str]) -> float | None:
    # OpenAI: x-ratelimit-reset-{requests,tokens}; prefer the limit that ran out.
    waits: list[float] = []
    for kind in ("requests", "tokens"):
        reset = headers.get(f"x-ratelimit-reset-{kind}")
        wait = parse_duration(reset) if reset else None
        if wait is None:
            continue
        if headers.get(f"x-ratelimit-remaining-{kind}") == "0":
            return wait
        waits.append(wait)
    return min(waits) if waits else None


def retry_after_seconds(
    headers: Mapping[str, str], body_wait: float | None, message: str
) -> float | None:
    """How long the server asked us to wait, from headers, then the body (``body_wait``,
    what the provider's adapter found in it: :meth:`Adapter.retry_after`), then the
    message text."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    header = headers.get("retry-after")
    if header:
        wait = _seconds_or_date(header)
        if wait is not None:
            return wait
    wait = _ratelimit_reset(headers)
    if wait is None:
        wait = body_wait
    if wait is None:
        hint = _BODY_HINT.search(message)
        if hint:
            wait = float(hint.group(1)) * (0.001 if hint.group(2) == "ms" else 1.0)
    return wait


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """The wait before retry number ``attempt`` (0-based): jittered, doubling, capped."""
    if retry_after is not None:
        return retry_after
    base: float = min(BACKOFF_CAP_S, BACKOFF_START_S * 2.0**attempt)
    return base * (1 - 0.25 * random.random())
