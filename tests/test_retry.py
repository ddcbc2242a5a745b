"""Retry-After in every shape providers send it, and the backoff schedule."""

from __future__ import annotations

import email.utils
import time

import pytest

from ipyllm._engine.retry import backoff_seconds, parse_duration, retry_after_seconds
from ipyllm._providers.gemini import GeminiAdapter


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("120ms", 0.12), ("6m0s", 360.0), ("1.5s", 1.5), ("7s", 7.0), ("1h2m", 3720.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "7", "7x", "s7"])
def test_parse_duration_rejects_junk(text: str) -> None:
    assert parse_duration(text) is None


def test_retry_after_sources_in_order() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}, None, "") == 1.5
    assert retry_after_seconds({"retry-after": "9"}, None, "") == 9
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after_seconds({"retry-after": date}, None, "") or 0) <= 30
    headers = {
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-remaining-requests": "12",
        "x-ratelimit-reset-tokens": "250ms",
        "x-ratelimit-remaining-tokens": "0",
    }
    assert retry_after_seconds(headers, None, "") == 0.25
    # The body's wait is what the provider's adapter reads in it (Gemini: a RetryInfo).
    body = {"error": {"details": [{"@type": "x", "retryDelay": "7s"}]}}
    wait = GeminiAdapter().retry_after(body)
    assert retry_after_seconds({}, wait, "Please retry in 7.58s.") == 7
    assert retry_after_seconds({}, None, "Please try again in 120ms.") == pytest.approx(0.12)
    assert retry_after_seconds({}, None, "slow down") is None


def test_backoff_doubles_with_jitter_and_caps() -> None:
    for attempt, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [backoff_seconds(attempt) for _ in range(50)]
        assert all(0.75 * base <= w <= base for w in waits)
        assert len(set(waits)) > 1  # jittered
    assert backoff_seconds(0, retry_after=3.0) == 3.0
