"""A plain, deliberately naive reference of the metric definitions: every window recomputed from raw events.

It shares with the engine only the definitions of what a field *is* (config, lexicon, `window_record`,
the alert state machine), never how it is computed, so tests comparing the two check the engine's
incremental bookkeeping. Quadratic; for tests and small data only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pipelines.model.alerts import FIRING, make_alert, next_status
from pipelines.model.config import ReciprocityConfig
from pipelines.model.contributions import EXPERT, PREACHING, is_interaction, text_flags
from pipelines.model.events import SocialEvent
from pipelines.model.lexicon import is_self_serving
from pipelines.model.metrics import FAN_TIERS, PEER_TIERS, WindowCounts, should_publish, window_record
from pipelines.model.windows import pane_of


def _higher(current: int | None, value: int | None) -> int | None:
    if value is None:
        return current
    return value if current is None or value > current else current


def _counts(account: str, events: list[SocialEvent], config: ReciprocityConfig) -> tuple[WindowCounts, dict]:
    c = WindowCounts()
    first_in: dict[str, int] = {}
    outs: dict[str, list[int]] = defaultdict(list)
    followers: dict[str, int | None] = defaultdict(lambda: None)
    latest_sermon: tuple[int, str] | None = None
    latest_expert: tuple[int, str] | None = None
    for e in events:
        interaction = is_interaction(e, config)
        if interaction and e.target_account_id == account:
            first_in[e.actor_id] = min(first_in.get(e.actor_id, e.event_time), e.event_time)
            followers[e.actor_id] = _higher(followers[e.actor_id], e.followers_count)
            c.own_followers = _higher(c.own_followers, e.target_followers_count)
            continue
        if e.actor_id != account:
            continue
        c.own_followers = _higher(c.own_followers, e.followers_count)
        if interaction:
            target = e.target_account_id
            assert target is not None  # an interaction always has a target
            outs[target].append(e.event_time)
            followers[target] = _higher(followers[target], e.target_followers_count)
            if e.event_type == "REPLY":
                c.replies += 1
                c.self_serving_replies += is_self_serving(e.text)
                owner = e.conversation_owner_id
                c.proactive_replies += owner is not None and owner != account
                c.delegated_replies += e.client is not None and e.client.strip().lower() in config.delegation_clients
        if e.event_type == "SHARE":
            c.shares += 1
            c.shares_of_others += interaction
        if e.event_type in ("POST", "PROFILE"):
            if e.event_type == "POST":
                c.posts += 1
            else:
                c.bios += 1
            flags = text_flags(e.event_type, e.text, config)
            if flags & PREACHING and e.text is not None:  # PREACHING implies a text
                c.preaching_texts += 1
                if latest_sermon is None or (e.event_time, e.text) > latest_sermon:
                    latest_sermon = (e.event_time, e.text)
            if flags & EXPERT and e.text is not None:  # EXPERT implies a text
                c.expert_bios += 1
                if latest_expert is None or (e.event_time, e.text) > latest_expert:
                    latest_expert = (e.event_time, e.text)
    responses = []
    ignored = []
    for engager, t_in in first_in.items():
        answers = [t for t in outs.get(engager, []) if t >= t_in]
        fan = config.tiers.tier(followers[engager]) in FAN_TIERS
        c.inbound += 1
        c.fan_inbound += fan
        if answers:
            c.responded += 1
            c.fan_responded += fan
            responses.append((min(answers) - t_in) / 1000)
        else:
            ignored.append((t_in, engager))
    c.outbound = len(outs)
    c.peer_outbound = sum(config.tiers.tier(followers[v]) in PEER_TIERS for v in outs)
    if responses:
        responses.sort()
        mid = len(responses) // 2
        c.median_response_seconds = responses[mid] if len(responses) % 2 else (responses[mid - 1] + responses[mid]) / 2
    evidence = {
        "ignored": [engager for _, engager in sorted(ignored)[:5]],
        "sermon": latest_sermon[1] if latest_sermon else None,
        "expert": latest_expert[1] if latest_expert else None,
    }
    return c, evidence


def reference(
    events: Iterable[SocialEvent], config: ReciprocityConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(published account windows, alerts) for a finite event collection."""
    touching: dict[str, list[SocialEvent]] = defaultdict(list)
    for e in events:
        touching[e.actor_id].append(e)
        if is_interaction(e, config):
            assert e.target_account_id is not None  # an interaction always has a target
            touching[e.target_account_id].append(e)
    period, n = config.period_ms, config.panes_per_window
    windows: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for account in sorted(touching):
        mine = touching[account]
        ends = sorted({pane_of(e.event_time, period) + k for e in mine for k in range(1, n + 1)})
        firing = False
        for end in ends:
            end_ms = end * period
            inside = [e for e in mine if end_ms - config.window_ms <= e.event_time < end_ms]
            counts, evidence = _counts(account, inside, config)
            window = window_record(account, end_ms, counts, config)
            if should_publish(window, config):
                windows.append(window)
            status = next_status(firing, window, config)
            if status is not None:
                firing = status == FIRING
                alerts.append(
                    make_alert(
                        window,
                        status,
                        evidence["ignored"],
                        evidence["sermon"],
                        account in config.watchlist,
                        evidence["expert"],
                    )
                )
    return windows, alerts
