"""Polling for a condition in tests that drive real processes (a broker, a Flink cluster, an HTTP server): one
helper, so every wait has a deadline and says what it waited for when it times out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout_s: float,
    every_s: float = 1.0,
    passing: tuple[type[BaseException], ...] = (),
) -> T:
    """`probe()` once it answers something truthy; AssertionError naming `what` after `timeout_s`. Errors of the
    types in `passing` count as "not yet" (a service being restarted answers errors for a moment)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = probe()
        except passing:
            answer = None
        if answer:
            return answer
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(every_s)
