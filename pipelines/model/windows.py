"""Event-time windows: duration parsing and the pane arithmetic behind sliding windows.

A sliding window [s, e) of size W every P, aligned to the epoch, is the union of W/P consecutive *panes*
[k*P, (k+1)*P). The engine aggregates each event once into its pane and rolls panes up, so the cost per
event does not grow with W/P. Windows are named by their end pane index: window k covers panes k-W/P .. k-1.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(text: str, allow_zero: bool = False) -> int:
    """Milliseconds from '90s', '15m', '1h' or '7d'; raises ValueError with a one-line message."""
    match = _DURATION.match(str(text))
    if not match or (int(match.group(1)) == 0 and not allow_zero):
        kind = "number" if allow_zero else "positive number"
        raise ValueError(f"invalid duration {text!r} (use a {kind} followed by s, m, h or d, e.g. 90s, 15m, 1h, 7d)")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def format_duration(ms: int) -> str:
    """The shortest exact spelling of a duration, the inverse of parse_duration."""
    for unit in ("d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


def pane_of(event_time_ms: int, period_ms: int) -> int:
    """Index of the pane [k*P, (k+1)*P) holding the instant; floor division keeps pre-1970 times right."""
    return event_time_ms // period_ms
