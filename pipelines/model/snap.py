"""SNAP temporal edge lists -> SocialEvents, so published research datasets replay through the product.

A line is `src dst unix_seconds` (snap.stanford.edu "temporal networks", e.g. sx-mathoverflow: src answered or
commented on a post of dst). Each edge becomes one event of the type the user names (`--as REPLY|MENTION|SHARE`)
from src to dst; its event_id is the file name and line number, stable across replays.
"""

from __future__ import annotations

from pipelines.model.events import SocialEvent
from pipelines.model.mapped import FrameError, Mapped, dead

EDGE_TYPES = ("REPLY", "MENTION", "SHARE")


def map_edge(line: str, event_type: str, event_id: str, id_prefix: str = "") -> Mapped:
    """One edge-list line -> one event, a skip (blank or `#`/`%` comment lines) or a dead letter."""
    text = line.strip()
    if not text or text[0] in "#%":
        return Mapped(skipped="comment")
    fields = text.split()
    if len(fields) != 3:
        return dead(FrameError("bad_line", f"expected 'src dst unix_seconds', got {len(fields)} fields"))
    src, dst, seconds = fields
    try:
        time_ms = int(seconds) * 1000
    except ValueError:
        return dead(FrameError("bad_line", f"unix_seconds must be a whole number, got {seconds!r}"))
    return Mapped(
        events=[SocialEvent(event_id, event_type, id_prefix + src, time_ms, target_account_id=id_prefix + dst)],
        cursor=time_ms,
    )
