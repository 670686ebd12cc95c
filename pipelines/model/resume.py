"""Where a streaming job restarted with the same consumer group resumes, so that its outputs equal a fault-free run's.

Why this exists: a runner that keeps Beam state only in memory (Prism, the DirectRunner's streaming runner) loses
every open window when the job is killed. Committing the read position then skips the events those windows still
need, and they come out lost or partial. So, by default, the job commits per partition the *tail* offset instead:
the smallest offset from which every event an unpublished window needs is read again, with, in the commit's
metadata, the mark below which every window (and its alert) is published (see pipelines/io/kafka/commit.py for who
commits and when). A restarted job re-reads that bounded tail and:

* evaluates the windows ending before the mark silently (they would be built from part of their data; the
  published ones are right), which is `ShardEngines`' job (pipelines/model/shard.py);
* starts the alert state, the only per-account state older than a window, from the alerts already published:
  an account fires at the mark iff its latest alert ending before the mark says `firing` (`firing_at`).

What a window needs is bounded: the window ending at E holds the events of [E - window, E), and windows are
evaluated when the watermark passes E + allowed lateness. So if every window ending before B is published, the
events before B - window are needed by no unpublished window (`cutoff_ms`). Everything here is pure logic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_MARK = "published_before="

# One batch (a source call's span) as the committer receives it: partition, the first offset this job run read in
# that partition, the span [first, next) and the newest event_time in it (None: no event, only dead letters).
Span = tuple[int, int, int, int, int | None]


def encode_mark(published_before_ms: int) -> str:
    """The commit metadata that records the mark (Kafka stores it next to the offset)."""
    return f"{_MARK}{published_before_ms}"


def decode_mark(metadata: str | None) -> int | None:
    """The mark in a commit's metadata; None for a commit without one (the read position, or another client)."""
    if not metadata or not metadata.startswith(_MARK):
        return None
    try:
        return int(metadata[len(_MARK) :])
    except ValueError:
        return None


def cutoff_ms(published_before_ms: int, window_ms: int) -> int:
    """The oldest event_time an unpublished window can hold when every window ending before the mark is published."""
    return published_before_ms - window_ms


@dataclass(frozen=True)
class Resume:
    """What a restarted job takes over: windows ending before `published_before_ms` are published; `firing`
    are the accounts whose one-way alert fires at that point."""

    published_before_ms: int
    firing: frozenset[str] = frozenset()

    def first_window_end(self, period_ms: int) -> int:
        """The first window end (a multiple of the period) the restarted job publishes."""
        return -(-self.published_before_ms // period_ms) * period_ms

    def only(self, accounts: Iterable[str]) -> Resume:
        """The same mark, with the firing accounts among `accounts` only (one shard's)."""
        return Resume(self.published_before_ms, self.firing & frozenset(accounts))


def firing_at(alerts: Iterable[Mapping[str, Any]], published_before_ms: int) -> frozenset[str]:
    """The accounts firing at the mark: those whose latest alert among the windows ending before it fires.

    Alerts of one account alternate firing/resolved in window order, so the latest by window_end decides; alerts
    at or after the mark (published by the run that was stopped, or duplicates) are ignored.
    """
    latest: dict[str, tuple[int, str]] = {}
    for alert in alerts:
        end = alert["window_end"]
        if end >= published_before_ms:
            continue
        account = alert["account_id"]
        held = latest.get(account)
        if held is None or end > held[0]:
            latest[account] = (end, alert["status"])
    return frozenset(account for account, (_, status) in latest.items() if status == "firing")


class PartitionTail:
    """The spans read from one partition that may still hold an event an unpublished window needs.

    Events are roughly, not strictly, time-ordered within a partition, so the tail is not found by time alone:
    each span keeps the newest event_time it holds, and the commit offset is the first offset, counting from the
    start of this run's read, that is not known to be needed by nobody: the start of the first span still needed,
    or of the first span not received yet (spans may arrive out of order). Contiguous spans whose newest events
    fall in the same `granularity_ms` bucket are merged, so the structure holds about one span per bucket of
    the horizon (plus the stragglers), whatever the read rate.
    """

    def __init__(self, start: int, granularity_ms: int = 3_600_000) -> None:
        self.start = start  # the first offset not released (every offset before it is needed by nobody)
        self._granularity = granularity_ms
        self._spans: dict[int, list[Any]] = {}  # first offset -> [next offset, newest event_time | None]
        self._by_next: dict[int, int] = {}  # next offset -> first offset

    def __len__(self) -> int:
        return len(self._spans)

    def add(self, first: int, next_offset: int, newest_ms: int | None) -> None:
        """Records the span [first, next_offset); a span received twice (a retried bundle) changes nothing."""
        if next_offset <= first or first < self.start:
            return
        held = self._spans.get(first)
        if held is not None:
            held[1] = _newest(held[1], newest_ms)
            return
        before = self._by_next.get(first)
        if before is not None and self._mergeable(self._spans[before][1], newest_ms):
            span = self._spans[before]
            del self._by_next[first]
            span[0] = next_offset
            span[1] = _newest(span[1], newest_ms)
            self._by_next[next_offset] = before
            return
        self._spans[first] = [next_offset, newest_ms]
        self._by_next[next_offset] = first

    def _mergeable(self, a: int | None, b: int | None) -> bool:
        return a is None or b is None or a // self._granularity == b // self._granularity

    def release(self, cutoff: int) -> int:
        """Forgets the spans no event at or after `cutoff` is in, from the start on; returns the commit offset."""
        while True:
            span = self._spans.get(self.start)
            if span is None or (span[1] is not None and span[1] >= cutoff):
                return self.start
            del self._spans[self.start]
            del self._by_next[span[0]]
            self.start = span[0]

    def state(self) -> tuple[int, list[tuple[int, int, int | None]]]:
        """Plain data for Beam state."""
        return self.start, [(first, span[0], span[1]) for first, span in sorted(self._spans.items())]

    @classmethod
    def from_state(cls, state: tuple[int, list[tuple[int, int, int | None]]], granularity_ms: int) -> PartitionTail:
        start, spans = state
        tail = cls(start, granularity_ms)
        for first, next_offset, newest in spans:
            tail._spans[first] = [next_offset, newest]
            tail._by_next[next_offset] = first
        return tail


def _newest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


class TailTracker:
    """The tails of every partition of a topic, and the commit they give for a mark."""

    def __init__(self, granularity_ms: int = 3_600_000) -> None:
        self._granularity = granularity_ms
        self.tails: dict[int, PartitionTail] = {}

    def add(self, span: Span) -> None:
        partition, run_start, first, next_offset, newest = span
        tail = self.tails.get(partition)
        if tail is None:
            tail = self.tails[partition] = PartitionTail(run_start, self._granularity)
        tail.add(first, next_offset, newest)

    def release(self, cutoff: int) -> dict[int, int]:
        """Per partition, the offset to commit once every event before `cutoff` is needed by no window."""
        return {partition: tail.release(cutoff) for partition, tail in self.tails.items()}

    def spans(self) -> int:
        return sum(len(tail) for tail in self.tails.values())

    def state(self) -> dict[int, Any]:
        return {partition: tail.state() for partition, tail in self.tails.items()}

    @classmethod
    def from_state(cls, state: Mapping[int, Any] | None, granularity_ms: int) -> TailTracker:
        tracker = cls(granularity_ms)
        for partition, held in (state or {}).items():
            tracker.tails[partition] = PartitionTail.from_state(held, granularity_ms)
        return tracker
