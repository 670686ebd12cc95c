"""What one frame of a live social source (Bluesky Jetstream, Mastodon streaming) becomes, shared by their mappers.

A frame maps to zero or more SocialEvents. A well-formed frame that carries no event (a delete, an identity
change, a collection the product does not read) is *skipped* with a bounded reason, which the ingester counts;
a malformed frame is a *dead letter* with a reason class (a metric label) and a one-line reason, written with
the original frame. Keeping the three outcomes apart is what lets the ingester run for weeks: nothing it reads
can crash it, and every frame is accounted for in exactly one of the counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.model.events import ContractError, SocialEvent, parse_event_time


class FrameError(ValueError):
    """A malformed frame. `kind` is the bounded reason class (a metric label); the message is the reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(slots=True)
class Mapped:
    """The outcome of one frame: events, or a skip reason, or a dead letter (kind and reason)."""

    events: list[SocialEvent] = field(default_factory=list)
    skipped: str | None = None
    dead_kind: str | None = None
    dead_reason: str | None = None
    clamped: str | None = None  # why event_time was bounded ("future", "backdated", "missing_time")
    cursor: int | None = None  # the source's resume position (Jetstream time_us), when the frame has one


def dead(error: FrameError, cursor: int | None = None) -> Mapped:
    return Mapped(dead_kind=error.kind, dead_reason=str(error).splitlines()[0], cursor=cursor)


def bounded_time(created: Any, upper_ms: int, max_backdate_ms: int | None) -> tuple[int, str | None]:
    """The event time from a record's own timestamp, bounded by the time the service saw it.

    A record stamped after `upper_ms` (a client clock ahead of the service) or, when `max_backdate_ms` is
    given, more than that before it (a backdated or imported record, which a live window would drop as late)
    takes `upper_ms` instead; the second value says why, for the clamped counter. A missing or unreadable
    timestamp also takes `upper_ms`: the service's time is the best one left.
    """
    if created is None:
        return upper_ms, "missing_time"
    try:
        created_ms = parse_event_time(created) if type(created) is str else None
    except ContractError:
        created_ms = None
    if created_ms is None:
        return upper_ms, "missing_time"
    if created_ms > upper_ms:
        return upper_ms, "future"
    if max_backdate_ms is not None and created_ms < upper_ms - max_backdate_ms:
        return upper_ms, "backdated"
    return created_ms, None


def text_or_none(value: Any) -> str | None:
    """A non-blank string, or None (the contract stores absent text as null)."""
    return value if type(value) is str and value.strip() else None


def count_or_none(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None
