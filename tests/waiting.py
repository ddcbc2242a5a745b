"""Polling for a condition in tests, with a timeout (no test waits forever)."""

from __future__ import annotations

import time
from collections.abc import Callable

WAIT = 10.0  # a healthy turn takes well under a second


def wait_until(
    predicate: Callable[[], object], timeout: float = WAIT, interval: float = 0.005
) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
