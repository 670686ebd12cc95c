"""The one-way alert: a per-account state machine over windows taken in event-time order."""

from __future__ import annotations

import hashlib
from typing import Any

from pipelines.model.config import ReciprocityConfig
from pipelines.model.preach_classifier import preaching_reasons

FIRING = "firing"
RESOLVED = "resolved"


def alert_id(account_id: str, window_end_ms: int, status: str) -> str:
    """Deterministic, so a replay or a retried bundle produces the same id and consumers can deduplicate."""
    return hashlib.sha256(f"{account_id}\x1f{window_end_ms}\x1f{status}".encode()).hexdigest()[:32]


def next_status(firing: bool, window: dict[str, Any], config: ReciprocityConfig) -> str | None:
    """The status change this window causes, or None.

    A window with fewer than min_inbound engagers changes nothing; a preacher below max_response_rate fires;
    a firing account resolves once its response rate reaches resolve_response_rate (hysteresis, no flapping).
    """
    if window["inbound_engagers"] < config.min_inbound:
        return None
    rate = window["response_rate"]
    if not firing and window["is_preacher"] and rate < config.max_response_rate:
        return FIRING
    if firing and rate >= config.resolve_response_rate:
        return RESOLVED
    return None


def make_alert(
    window: dict[str, Any],
    status: str,
    ignored_engagers: list[str],
    preaching_post: str | None,
    watchlisted: bool,
    expert_bio: str | None = None,
) -> dict[str, Any]:
    """The alert record (schemas/EngagementAlert.avsc). The evidence names the latest preaching text and the
    classifier features that made it preaching, and the latest self-proclaimed expert's bio."""
    return {
        "alert_id": alert_id(window["account_id"], window["window_end"], status),
        "account_id": window["account_id"],
        "status": status,
        "window_start": window["window_start"],
        "window_end": window["window_end"],
        "metrics": window,
        "evidence": {
            "ignored_engagers": ignored_engagers,
            "preaching_post": preaching_post,
            "watchlisted": watchlisted,
            "preaching_features": preaching_reasons(preaching_post),
            "expert_bio": expert_bio,
        },
    }
