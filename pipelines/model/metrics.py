"""The account-window record: the one place where counts become the published metrics.

Both the rolling engine and the plain reference count things their own way and then call
`window_record`, so every ratio, tier and the preacher rule are defined once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.model.config import ReciprocityConfig

PEER_TIERS = frozenset({"rising", "leader", "celebrity"})
FAN_TIERS = frozenset({"normal", "unknown"})

WINDOW_FIELDS = (
    "account_id",
    "window_start",
    "window_end",
    "tier",
    "inbound_engagers",
    "responded_engagers",
    "response_rate",
    "median_response_seconds",
    "outbound_targets",
    "fan_response_rate",
    "peer_share",
    "self_serving_reply_share",
    "proactive_share",
    "amplification_ratio",
    "delegated_reply_share",
    "preach_score",
    "preaching_posts",
    "replies",
    "posts",
    "is_preacher",
    "self_proclaimed_expert",
)


@dataclass(slots=True)
class WindowCounts:
    """What a window holds for one account, before any ratio is taken."""

    inbound: int = 0
    responded: int = 0
    median_response_seconds: float | None = None
    outbound: int = 0
    fan_inbound: int = 0
    fan_responded: int = 0
    peer_outbound: int = 0
    replies: int = 0
    self_serving_replies: int = 0
    proactive_replies: int = 0
    delegated_replies: int = 0
    shares: int = 0
    shares_of_others: int = 0
    posts: int = 0
    bios: int = 0
    preaching_texts: int = 0  # preaching posts and bios
    own_followers: int | None = None
    expert_bios: int = 0  # bios of a self-proclaimed social-media or community expert (they count as preaching)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def is_preacher(account_id: str, preach_score: float | None, preaching_texts: int, config: ReciprocityConfig) -> bool:
    if account_id in config.watchlist:
        return True
    return (
        preach_score is not None
        and preach_score > config.min_preach_score
        and preaching_texts >= config.min_preaching_posts
    )


def window_record(
    account_id: str, window_end_ms: int, counts: WindowCounts, config: ReciprocityConfig
) -> dict[str, Any]:
    """The AccountWindow record (schemas/AccountWindow.avsc); times stay epoch milliseconds here."""
    c = counts
    preach_score = _ratio(c.preaching_texts, c.posts + c.bios)
    return {
        "account_id": account_id,
        "window_start": window_end_ms - config.window_ms,
        "window_end": window_end_ms,
        "tier": config.tiers.tier(c.own_followers),
        "inbound_engagers": c.inbound,
        "responded_engagers": c.responded,
        "response_rate": _ratio(c.responded, c.inbound),
        "median_response_seconds": c.median_response_seconds,
        "outbound_targets": c.outbound,
        "fan_response_rate": _ratio(c.fan_responded, c.fan_inbound),
        "peer_share": _ratio(c.peer_outbound, c.outbound),
        "self_serving_reply_share": _ratio(c.self_serving_replies, c.replies),
        "proactive_share": _ratio(c.proactive_replies, c.replies),
        "amplification_ratio": _ratio(c.shares_of_others, c.shares + c.posts),
        "delegated_reply_share": _ratio(c.delegated_replies, c.replies),
        "preach_score": preach_score,
        "preaching_posts": c.preaching_texts,
        "replies": c.replies,
        "posts": c.posts,
        "is_preacher": is_preacher(account_id, preach_score, c.preaching_texts, config),
        "self_proclaimed_expert": c.expert_bios > 0,
    }


def should_publish(window: dict[str, Any], config: ReciprocityConfig) -> bool:
    """account_windows holds busy windows, and every window with activity for preachers."""
    return window["inbound_engagers"] >= config.min_inbound or window["is_preacher"]
