"""Runs the engine the way the pipelines do, for tests that compare it with the reference."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pipelines.model.config import ReciprocityConfig
from pipelines.model.contributions import route
from pipelines.model.engine import evaluate_account
from pipelines.model.events import SocialEvent


def by_account(events: list[SocialEvent], config: ReciprocityConfig) -> dict[str, list[tuple]]:
    routed: dict[str, list[tuple]] = defaultdict(list)
    for event in events:
        for account, contribution in route(event, config):
            routed[account].append(contribution)
    return routed


def engine_batch(events: list[SocialEvent], config: ReciprocityConfig) -> tuple[list[dict], list[dict]]:
    windows: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for account, contributions in by_account(events, config).items():
        w, a = evaluate_account(account, contributions, config)
        windows += w
        alerts += a
    return windows, alerts


def canonical(records: list[dict]) -> list[dict]:
    """Order-free comparison form: outputs of a distributed pipeline come in any order."""
    return sorted(records, key=lambda r: (r["account_id"], r["window_end"], r.get("status", "")))
