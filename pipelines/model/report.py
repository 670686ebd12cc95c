"""What the report shows, computed in one streaming pass over account windows and alerts (no Beam, no plotting).

Why a pass and not a table: a 1M-event run writes ~1.9M account windows (1 GB of JSON Lines), too many to hold
as dicts. `ReportBuilder` keeps, whatever the number of windows:
- per account, a handful of running sums (its dot on the preaching-versus-practice scatter): O(accounts);
- per tier and figure, an exact count and a uniform sample of at most `sample_size` window values (the box
  plots): a bottom-k sample by a hash of (account, window end), so the sample is the same whatever order the
  windows arrive in (a file and a Kafka topic give the same report) and memory is O(tiers x figures x k);
- per alerted account (read first, from the alerts), its windows' inbound engagers and response rate (the
  drill-down): O(alerted accounts x their windows).
Records are in wire form (times in epoch milliseconds, as decoded from Kafka); the file reader converts the
JSON Lines' ISO-8601 times first.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipelines.model.alerts import FIRING
from pipelines.model.config import ReciprocityConfig

TIERS = ("celebrity", "leader", "rising", "normal", "unknown")
# The figures the essay compares across tiers, with the words a reader sees.
TIER_FIGURES: tuple[tuple[str, str], ...] = (
    ("fan_response_rate", "Fans answered (fan response rate)"),
    ("peer_share", "Outbound aimed at peers (inner circle)"),
    ("self_serving_reply_share", "Replies that only thank or sell"),
    ("proactive_share", "Replies in others' conversations"),
    ("amplification_ratio", "Amplification of others' content"),
    ("delegated_reply_share", "Delegated replies (scheduling tools)"),
)
RESPONSE_SECONDS = "median_response_seconds"
SAMPLED_FIGURES = (*(name for name, _ in TIER_FIGURES), RESPONSE_SECONDS)
DEFAULT_SAMPLE_SIZE = 2000
_NO_KEY = 1 << 64  # above every key: a sample that is not full keeps everything


def sample_key(account_id: str, window_end_ms: int) -> int:
    """A window's place in every sample: a hash, so the k smallest keys are a uniform random sample that does
    not depend on the order the windows are read in."""
    digest = hashlib.blake2b(f"{account_id}\x00{window_end_ms}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class BottomK:
    """The `size` values with the smallest keys seen so far (a max-heap of negated keys). `threshold` is the
    key a value must be below to be kept: callers test it first, which skips the call for almost every value
    once the sample is full."""

    __slots__ = ("_heap", "size", "threshold")

    def __init__(self, size: int) -> None:
        self.size = size
        self.threshold = _NO_KEY
        self._heap: list[tuple[int, float]] = []

    def offer(self, key: int, value: float) -> None:
        if key >= self.threshold:
            return
        heap = self._heap
        if len(heap) < self.size:
            heapq.heappush(heap, (-key, value))
            if len(heap) == self.size:
                self.threshold = -heap[0][0]
        else:
            heapq.heapreplace(heap, (-key, value))
            self.threshold = -heap[0][0]

    def values(self) -> tuple[float, ...]:
        """The kept values, in key order (deterministic)."""
        return tuple(value for _, value in sorted(self._heap, reverse=True))


@dataclass(frozen=True)
class FigureSample:
    """One figure of one tier: how many windows had a value (exact), and a uniform sample of those values."""

    count: int
    sample: tuple[float, ...]


@dataclass(frozen=True)
class TierSummary:
    windows: int
    accounts: int
    figures: dict[str, FigureSample]


@dataclass(frozen=True)
class AccountPoint:
    """An account's dot: means over its windows (nulls skipped); tier of its latest window."""

    account_id: str
    tier: str
    preach_score: float
    fan_response_rate: float
    inbound_engagers: float
    windows: int
    firing: bool


@dataclass(frozen=True)
class AlertChange:
    status: str
    window_end_ms: int
    response_rate: float | None
    inbound_engagers: int


@dataclass(frozen=True)
class AlertedAccount:
    """Everything the drill-down of one alerted account shows."""

    account_id: str
    tier: str
    spans: tuple[tuple[int, int], ...]  # firing from, to (the run's last window end while still firing)
    changes: tuple[AlertChange, ...]
    ignored_engagers: tuple[str, ...]
    preaching_post: str | None
    watchlisted: bool
    # (window end ms, inbound engagers, response rate or None) of every published window, in time order
    series: tuple[tuple[int, int, float | None], ...]

    @property
    def firing_ms(self) -> int:
        return sum(stop - start for start, stop in self.spans)


@dataclass(frozen=True)
class ReportData:
    windows: int
    first_end_ms: int
    last_end_ms: int
    alert_changes: int
    config: ReciprocityConfig
    sample_size: int
    points: tuple[AccountPoint, ...]  # accounts with a fan response rate, by id
    unplaced_accounts: int  # accounts without a fan response rate in any window (no dot)
    tiers: dict[str, TierSummary]  # in TIERS order, tiers without windows left out
    alerted: tuple[AlertedAccount, ...]  # longest firing first


@dataclass(frozen=True)
class _Alert:
    change: AlertChange
    tier: str
    ignored_engagers: tuple[str, ...]
    preaching_post: str | None
    watchlisted: bool


class _Account:
    __slots__ = ("fan_n", "fan_sum", "inbound_sum", "last_end", "preach_n", "preach_sum", "tier", "windows")

    def __init__(self) -> None:
        self.windows = 0
        self.last_end = -1
        self.tier = "unknown"
        self.inbound_sum = 0
        self.preach_sum = 0.0
        self.preach_n = 0
        self.fan_sum = 0.0
        self.fan_n = 0


class _Tier:
    __slots__ = ("accounts", "counts", "samples", "windows")

    def __init__(self, sample_size: int) -> None:
        self.windows = 0
        self.accounts: set[str] = set()
        self.counts = dict.fromkeys(SAMPLED_FIGURES, 0)
        self.samples = {name: BottomK(sample_size) for name in SAMPLED_FIGURES}


class ReportBuilder:
    """Feed every alert (`add_alert`, first) and then every window (`add_window`); `build()` the report."""

    def __init__(self, config: ReciprocityConfig | None = None, sample_size: int = DEFAULT_SAMPLE_SIZE) -> None:
        if sample_size < 1:
            raise ValueError(f"sample size must be at least 1, got {sample_size}")
        self.config = config or ReciprocityConfig()
        self._sample_size = sample_size
        self._accounts: dict[str, _Account] = {}
        self._tiers: dict[str, _Tier] = {}
        self._alerts: dict[str, list[_Alert]] = {}
        self._series: dict[str, list[tuple[int, int, float | None]]] = {}
        self._windows = 0
        self._first_end: int | None = None
        self._last_end: int | None = None

    def add_alert(self, alert: dict[str, Any]) -> None:
        """One alert change; KeyError/TypeError (nothing kept) when a field the report shows is missing."""
        if self._windows:
            raise ValueError("alerts must be added before the windows (they choose whose series are kept)")
        metrics, evidence = alert["metrics"], alert["evidence"]
        change = AlertChange(
            str(alert["status"]), alert["window_end"], metrics["response_rate"], metrics["inbound_engagers"]
        )
        kept = _Alert(
            change,
            str(metrics["tier"]),
            tuple(evidence["ignored_engagers"]),
            evidence.get("preaching_post"),
            bool(evidence["watchlisted"]),
        )
        self._alerts.setdefault(alert["account_id"], []).append(kept)
        self._series.setdefault(alert["account_id"], [])

    def add_window(self, window: dict[str, Any]) -> None:
        """One account window; KeyError/TypeError (nothing counted) when a field is missing or mistyped."""
        account_id: str = window["account_id"]
        end: int = window["window_end"]
        tier_name: str = window["tier"]
        inbound: int = window["inbound_engagers"]
        preach: float | None = window["preach_score"]
        fan: float | None = window["fan_response_rate"]
        response_rate: float | None = window["response_rate"]
        values = [window[name] for name in SAMPLED_FIGURES]
        key = sample_key(account_id, end)
        self._windows += 1
        if self._first_end is None or end < self._first_end:
            self._first_end = end
        if self._last_end is None or end > self._last_end:
            self._last_end = end
        account = self._accounts.get(account_id)
        if account is None:
            account = self._accounts[account_id] = _Account()
        account.windows += 1
        if end > account.last_end:
            account.last_end, account.tier = end, tier_name
        account.inbound_sum += inbound
        if preach is not None:
            account.preach_sum += preach
            account.preach_n += 1
        if fan is not None:
            account.fan_sum += fan
            account.fan_n += 1
        tier = self._tiers.get(tier_name)
        if tier is None:
            tier = self._tiers[tier_name] = _Tier(self._sample_size)
        tier.windows += 1
        tier.accounts.add(account_id)
        counts, samples = tier.counts, tier.samples
        for name, value in zip(SAMPLED_FIGURES, values, strict=True):
            if value is not None:
                counts[name] += 1
                sample = samples[name]
                if key < sample.threshold:
                    sample.offer(key, value)
        series = self._series.get(account_id)
        if series is not None:
            series.append((end, inbound, response_rate))

    def build(self) -> ReportData:
        if not self._windows or self._first_end is None or self._last_end is None:
            raise ValueError("no account windows to report")
        firing = {account for account, alerts in self._alerts.items() if any(a.change.status == FIRING for a in alerts)}
        points = tuple(
            AccountPoint(
                account_id,
                a.tier,
                a.preach_sum / a.preach_n if a.preach_n else 0.0,
                a.fan_sum / a.fan_n,
                a.inbound_sum / a.windows,
                a.windows,
                account_id in firing,
            )
            for account_id, a in sorted(self._accounts.items())
            if a.fan_n
        )
        tiers = {
            name: TierSummary(
                t.windows,
                len(t.accounts),
                {f: FigureSample(t.counts[f], t.samples[f].values()) for f in SAMPLED_FIGURES},
            )
            for name in (*TIERS, *sorted(set(self._tiers) - set(TIERS)))
            if (t := self._tiers.get(name)) is not None
        }
        alerted = [self._alerted(account, alerts, self._last_end) for account, alerts in self._alerts.items()]
        alerted.sort(key=lambda a: (-a.firing_ms, a.account_id))
        return ReportData(
            self._windows,
            self._first_end,
            self._last_end,
            sum(len(alerts) for alerts in self._alerts.values()),
            self.config,
            self._sample_size,
            points,
            len(self._accounts) - len(points),
            tiers,
            tuple(alerted),
        )

    def _alerted(self, account_id: str, alerts: list[_Alert], last_end: int) -> AlertedAccount:
        alerts = sorted(alerts, key=lambda a: (a.change.window_end_ms, a.change.status == FIRING))
        changes = tuple(a.change for a in alerts)
        evidence = next((a for a in reversed(alerts) if a.change.status == FIRING), alerts[-1])
        account = self._accounts.get(account_id)
        return AlertedAccount(
            account_id,
            account.tier if account else alerts[-1].tier,
            firing_spans(changes, last_end),
            changes,
            evidence.ignored_engagers,
            evidence.preaching_post,
            evidence.watchlisted,
            tuple(sorted(self._series.get(account_id, ()))),
        )


def firing_spans(changes: Iterable[AlertChange], last_end_ms: int) -> tuple[tuple[int, int], ...]:
    """(from, to) window ends of each firing span of one account's alert changes (in time order); a span still
    open at the end of the run closes at `last_end_ms`. A repeated status changes nothing."""
    spans: list[tuple[int, int]] = []
    opened: int | None = None
    for change in changes:
        if change.status == FIRING:
            if opened is None:
                opened = change.window_end_ms
        elif opened is not None:
            spans.append((opened, change.window_end_ms))
            opened = None
    if opened is not None:
        spans.append((opened, max(opened, last_end_ms)))
    return tuple(spans)
