"""Runs the engine the way the pipelines do, for tests that compare it with the reference."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from pipelines.model.config import ReciprocityConfig
from pipelines.model.contributions import route
from pipelines.model.engine import evaluate_account
from pipelines.model.events import SocialEvent
from pipelines.model.shard import ShardEngines


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


def feed_in_slices(
    shard: ShardEngines,
    routed: list,
    step_hours: int,
    rng: random.Random,
    between: Callable[[ShardEngines], ShardEngines] = lambda shard: shard,
) -> tuple[list[dict], list[dict]]:
    """Feeds time-sorted (account, contribution) pairs to a shard the way the streaming path does: in event-time
    slices of `step_hours` (shuffled inside each), advancing after each, `between` slices (e.g. a rebuild), then to
    the end. Returns (windows, alerts)."""
    hour = 3_600_000
    windows: list[dict] = []
    alerts: list[dict] = []
    cut = 0
    while cut < len(routed):
        until = (routed[cut][1][0] // hour + step_hours) * hour
        piece = [pair for pair in routed[cut:] if pair[1][0] < until]
        cut += len(piece)
        rng.shuffle(piece)
        assert shard.fold(piece) == []
        w, a, _ = shard.advance(until)
        windows += w
        alerts += a
        shard = between(shard)
    w, a, due = shard.advance(2**62)
    assert due is None
    return windows + w, alerts + a
