"""The rolling reciprocity engine of one account: panes in, windows and alert changes out.

Every contribution is folded once into its period pane. Sliding the window one period adds the entering
pane and removes the leaving one; only the counterparts those two panes touch are re-evaluated, and every
other figure is a running sum. So the cost per event does not grow with W/P, and the cost per window is
constant (plus the counterparts that changed).

Duplicates (the same event_id delivered twice, as at-least-once Kafka does after a retry) are dropped here, per
open pane: the pane keeps the ids of its counted contributions until it is sealed (see `_Pane.ids`); folding an
inbound contribution is idempotent anyway. A duplicate of an event whose pane is already sealed is late, as any
contribution to a sealed pane, and refused.

The same engine serves the batch path (all contributions, then `advance()` to the end) and the streaming
path (a stateful DoFn adds what arrived and advances to the watermark). Panes already evaluated are sealed:
a contribution for one of them is late and refused, never silently merged into published windows.
"""

from __future__ import annotations

import bisect
import heapq
import operator
from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

from pipelines.model import contributions as c
from pipelines.model.alerts import FIRING, make_alert, next_status
from pipelines.model.config import ReciprocityConfig
from pipelines.model.metrics import FAN_TIERS, PEER_TIERS, WindowCounts, should_publish, window_record
from pipelines.model.windows import pane_of

# Per-pane counters, summed over the window.
POSTS, BIOS, PREACHING, REPLIES, SELF_SERVING, PROACTIVE, DELEGATED, SHARES, SHARES_OF_OTHERS, EXPERT_BIOS = range(10)
_N_COUNTERS = 10
IGNORED_EVIDENCE = 5


class _Pane:
    """One period of one account. Open while contributions may arrive, then summarised when sealed."""

    __slots__ = ("counters", "expert_bio", "ids", "index", "own_followers", "pairs", "preaching_text")

    def __init__(self, index: int) -> None:
        self.index = index
        self.counters = [0] * _N_COUNTERS
        self.own_followers: int | None = None
        # open: counterpart -> [first_in, out_times, followers]
        # sealed: counterpart -> (first_in, first_answer_in_pane, first_out, followers)
        self.pairs: dict[str, Any] = {}
        self.preaching_text: tuple[int, str] | None = None
        self.expert_bio: tuple[int, str] | None = None
        # Event ids of the counted (non-inbound) contributions while the pane is open: the same event delivered
        # twice (at-least-once Kafka, a replayed file) is counted once. Freed when the pane is sealed.
        self.ids: set[str] | None = set()

    def seal(self) -> None:
        self.ids = None
        sealed = {}
        for counterpart, (first_in, outs, followers) in self.pairs.items():
            first_out = min(outs) if outs else None
            answer = None
            if first_in is not None and outs:
                after = [t for t in outs if t >= first_in]
                answer = min(after) if after else None
            sealed[counterpart] = (first_in, answer, first_out, followers)
        self.pairs = sealed


class AccountEngine:
    """Incremental sliding-window state of one account. Picklable (Beam state) without its config."""

    def __init__(self, account_id: str, config: ReciprocityConfig) -> None:
        self.account_id = account_id
        self.config = config
        self._open: dict[int, _Pane] = {}
        self._open_order: list[int] = []  # heap of the open pane indices
        self._window: deque[_Pane] = deque()  # sealed, non-empty panes inside the current window
        self._next_end: int | None = None  # index of the next window end to evaluate
        self._sealed_below: int | None = None  # panes below this index are sealed
        self._pair_panes: dict[str, deque[tuple[int, Any]]] = {}
        self._pair_state: dict[str, tuple] = {}
        self._sums = [0] * _N_COUNTERS
        self._n_in = self._n_resp = self._n_out = 0
        self._n_fan_in = self._n_fan_resp = self._n_peer = 0
        self._response_seconds: list[float] = []
        self._followers_max: deque[tuple[int, int]] = deque()  # monotonic: sliding maximum
        self._firing = False
        # The last window evaluated, while no pane has entered or left since: the next window holds the same
        # figures (at P=5min most windows of a busy account do), so its record is a copy with new times.
        self._unchanged: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The config (watchlist included) is the same for every account: never store it per key.
        return {name: value for name, value in self.__dict__.items() if name != "config"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.config = None  # type: ignore[assignment]  # re-attached by `restore`

    @classmethod
    def restore(cls, engine: AccountEngine, config: ReciprocityConfig) -> AccountEngine:
        engine.config = config
        return engine

    # ---- input -------------------------------------------------------------------------------------
    def add(self, contribution: c.Contribution) -> bool:
        """Folds one contribution into its pane; False (and nothing changes) if that pane is sealed."""
        t, kind, counterpart, cp_followers, own_followers, flags, text, eid = contribution
        index = pane_of(t, self.config.period_ms)
        if self._sealed_below is not None and index < self._sealed_below:
            return False
        if self._window and self._next_end is not None and index < self._next_end - 1:
            # It lands in a stretch skipped as unchanging: evaluation resumes at the window it enters.
            self._next_end = index + 1
        pane = self._open.get(index)
        if pane is None:
            pane = self._open[index] = _Pane(index)
            heapq.heappush(self._open_order, index)
        if own_followers is not None and (pane.own_followers is None or own_followers > pane.own_followers):
            pane.own_followers = own_followers
        counters = pane.counters
        if kind != c.INBOUND:  # inbound folding is idempotent (earliest time, largest audience); the rest counts
            ids = pane.ids
            assert ids is not None  # open panes have their ids
            if eid in ids:
                return True  # a duplicate: already counted
            ids.add(eid)
        if kind == c.INBOUND or kind == c.OUTBOUND:
            assert counterpart is not None  # `route` names the counterpart of every interaction
            pair = pane.pairs.get(counterpart)
            if pair is None:
                pair = pane.pairs[counterpart] = [None, [], None]
            if cp_followers is not None and (pair[2] is None or cp_followers > pair[2]):
                pair[2] = cp_followers
            if kind == c.INBOUND:
                if pair[0] is None or t < pair[0]:
                    pair[0] = t
                return True
            pair[1].append(t)
            if flags & c.REPLY:
                counters[REPLIES] += 1
                counters[SELF_SERVING] += 1 if flags & c.SELF_SERVING else 0
                counters[PROACTIVE] += 1 if flags & c.PROACTIVE else 0
                counters[DELEGATED] += 1 if flags & c.DELEGATED else 0
            if flags & c.SHARE:
                counters[SHARES] += 1
                counters[SHARES_OF_OTHERS] += 1
        elif kind == c.POST or kind == c.PROFILE:
            counters[POSTS if kind == c.POST else BIOS] += 1
            if flags & c.PREACHING:
                counters[PREACHING] += 1
                if text is not None and (pane.preaching_text is None or (t, text) > pane.preaching_text):
                    pane.preaching_text = (t, text)  # the latest; ties broken by text, not arrival order
            if flags & c.EXPERT:
                counters[EXPERT_BIOS] += 1
                if text is not None and (pane.expert_bio is None or (t, text) > pane.expert_bio):
                    pane.expert_bio = (t, text)
        elif flags & c.SHARE:
            counters[SHARES] += 1
        return True

    @property
    def firing(self) -> bool:
        """Whether the account's one-way alert is firing (state that outlives its windows)."""
        return self._firing

    def set_firing(self, firing: bool) -> None:
        """Restores the alert state (a streaming shard rebuilt from its log, pipelines/model/shard.py)."""
        self._firing = firing

    # ---- time --------------------------------------------------------------------------------------
    def next_deadline(self) -> int | None:
        """Event time (ms) at which the next window can be evaluated, or None when idle."""
        if self._window:
            assert self._next_end is not None
            return self._next_end * self.config.period_ms
        if self._open_order:
            return (self._open_order[0] + 1) * self.config.period_ms
        return None

    def advance(self, until_ms: int | None = None, runs: bool = False) -> tuple[list[Any], list[dict[str, Any]]]:
        """Evaluates every window ending at or before until_ms (all of them when None), in order.

        Returns (published windows, alerts); with `runs`, the windows come as (first window, count) runs
        (see `WindowRuns`).
        """
        windows: list[Any] = []
        alerts: list[dict[str, Any]] = []
        period = self.config.period_ms
        n = self.config.panes_per_window
        last_end = None if until_ms is None else until_ms // period
        while True:
            if not self._window:
                if not self._open_order:
                    break
                self._next_end = self._open_order[0] + 1  # nothing in between: jump to the next pane
            end = self._next_end
            assert end is not None
            if last_end is not None and end > last_end:
                break
            if self._window and self._window[0].index == end - 1 - n:
                self._leave(self._window.popleft())
            entering = self._open.pop(end - 1, None)
            if entering is not None:
                heapq.heappop(self._open_order)  # open panes are never below end - 1: this is the minimum
                entering.seal()
                self._window.append(entering)
                self._enter(entering)
            following = end + 1
            if self._window:
                if self._evaluate(end * period, windows, alerts, runs):
                    following = self._repeat(end, self._next_change(end, n), last_end, windows, runs)
                else:
                    # An unpublishable window stays so until a pane enters or the oldest leaves: skip ahead, even
                    # past `until` (a contribution that later lands in the skipped stretch rewinds, see `add`).
                    following = self._next_change(end, n)
            self._next_end = following
            # Sealed: the panes before the next entering one, and never beyond what `until` says is complete.
            self._sealed_below = following - 1 if last_end is None else min(following - 1, last_end)
        return windows, alerts

    def _next_change(self, end: int, panes_per_window: int) -> int:
        """The first window end after `end` at which a pane enters or the oldest pane leaves."""
        change = self._window[0].index + panes_per_window + 1
        if self._open_order:
            change = min(change, self._open_order[0] + 1)
        return max(change, end + 1)

    def _repeat(self, end: int, change: int, last_end: int | None, windows: list[Any], runs: bool) -> int:
        """Publishes the windows between `end` and the next change at once; returns the next end to evaluate.

        They hold the figures of the window just evaluated, so each is a copy with its own times (at P=5min
        most windows of a busy account are), or, with `runs`, more of its run. Their alert step is that
        window's again: no change, checked.
        """
        stop = change if last_end is None else min(change, last_end + 1)
        window = self._unchanged
        if stop <= end + 1 or window is None or next_status(self._firing, window, self.config) is not None:
            return end + 1
        if should_publish(window, self.config):
            if runs:
                first, count = windows[-1]  # the run `_evaluate` just started with this window
                windows[-1] = (first, count + stop - end - 1)
            else:
                period, width = self.config.period_ms, self.config.window_ms
                windows.extend(_retimed(window, later * period, width) for later in range(end + 1, stop))
        return stop

    # ---- sliding -----------------------------------------------------------------------------------
    def _enter(self, pane: _Pane) -> None:
        self._unchanged = None
        self._sums = list(map(operator.add, self._sums, pane.counters))
        if pane.own_followers is not None:
            maxima = self._followers_max
            while maxima and maxima[-1][1] <= pane.own_followers:
                maxima.pop()
            maxima.append((pane.index, pane.own_followers))
        for counterpart, summary in pane.pairs.items():
            entries = self._pair_panes.get(counterpart)
            if entries is None:
                entries = self._pair_panes[counterpart] = deque()
            entries.append((pane.index, summary))
            self._refresh_pair(counterpart, entries)

    def _leave(self, pane: _Pane) -> None:
        self._unchanged = None
        self._sums = list(map(operator.sub, self._sums, pane.counters))
        if self._followers_max and self._followers_max[0][0] == pane.index:
            self._followers_max.popleft()
        for counterpart in pane.pairs:
            entries = self._pair_panes[counterpart]
            entries.popleft()
            if not entries:
                del self._pair_panes[counterpart]
            self._refresh_pair(counterpart, entries)

    def _refresh_pair(self, counterpart: str, entries: deque[tuple[int, Any]]) -> None:
        """Replaces the counterpart's share of the running sums by its share under the current window."""
        if not entries:
            self._apply(self._pair_state.pop(counterpart), -1)
            return
        old = self._pair_state.get(counterpart)
        if len(entries) == 1:  # most counterparts: one pane in the window
            first_in, answer, first_out, followers = entries[0][1]
            outbound = first_out is not None
        else:
            first_in = answer = None
            outbound = False
            followers = None
            for _, (pane_first_in, pane_answer, pane_first_out, pane_followers) in entries:
                if pane_followers is not None and (followers is None or pane_followers > followers):
                    followers = pane_followers
                if pane_first_out is not None:
                    outbound = True
                if first_in is None:
                    if pane_first_in is not None:
                        first_in, answer = pane_first_in, pane_answer
                elif answer is None and pane_first_out is not None:
                    answer = pane_first_out  # any answer in a later pane comes after the first inbound
        tier = self.config.tiers.tier(followers)
        response = (answer - first_in) / 1000 if first_in is not None and answer is not None else None
        new = (first_in, response, tier in FAN_TIERS, outbound, tier in PEER_TIERS)
        if new != old:
            if old is not None:
                self._apply(old, -1)
            self._pair_state[counterpart] = new
            self._apply(new, 1)

    def _apply(self, pair: tuple, sign: int) -> None:
        first_in, response, fan, outbound, peer = pair
        if first_in is not None:
            self._n_in += sign
            if fan:
                self._n_fan_in += sign
            if response is not None:
                self._n_resp += sign
                if fan:
                    self._n_fan_resp += sign
                if sign > 0:
                    bisect.insort(self._response_seconds, response)
                else:
                    del self._response_seconds[bisect.bisect_left(self._response_seconds, response)]
        if outbound:
            self._n_out += sign
            if peer:
                self._n_peer += sign

    # ---- output ------------------------------------------------------------------------------------
    def _median_response(self) -> float | None:
        values = self._response_seconds
        size = len(values)
        if not size:
            return None
        middle = size // 2
        return values[middle] if size % 2 else (values[middle - 1] + values[middle]) / 2

    def counts(self) -> WindowCounts:
        s = self._sums
        # Positional, in WindowCounts' field order: keyword arguments cost a third of a window record's time.
        return WindowCounts(
            self._n_in,  # inbound
            self._n_resp,  # responded
            self._median_response(),  # median_response_seconds
            self._n_out,  # outbound
            self._n_fan_in,  # fan_inbound
            self._n_fan_resp,  # fan_responded
            self._n_peer,  # peer_outbound
            s[REPLIES],  # replies
            s[SELF_SERVING],  # self_serving_replies
            s[PROACTIVE],  # proactive_replies
            s[DELEGATED],  # delegated_replies
            s[SHARES],  # shares
            s[SHARES_OF_OTHERS],  # shares_of_others
            s[POSTS],  # posts
            s[BIOS],  # bios
            s[PREACHING],  # preaching_texts
            self._followers_max[0][1] if self._followers_max else None,  # own_followers
            s[EXPERT_BIOS],  # expert_bios
        )

    def _evaluate(self, end_ms: int, windows: list[Any], alerts: list[dict[str, Any]], runs: bool) -> bool:
        """Publishes the window and steps the alert; False when the window could do neither."""
        config = self.config
        window = self._unchanged
        if window is not None:
            window = _retimed(window, end_ms, config.window_ms)
        elif self._n_in < config.min_inbound and not self._may_preach():
            return False
        else:
            window = window_record(self.account_id, end_ms, self.counts(), config)
        self._unchanged = window
        if should_publish(window, config):
            windows.append((window, 1) if runs else window)
        status = next_status(self._firing, window, config)
        if status is not None:
            self._firing = status == FIRING
            alerts.append(
                make_alert(
                    window,
                    status,
                    self._ignored_engagers(),
                    self._preaching_post(),
                    self.account_id in config.watchlist,
                    self._expert_bio(),
                )
            )
        return True

    def _may_preach(self) -> bool:
        return self.account_id in self.config.watchlist or self._sums[PREACHING] >= self.config.min_preaching_posts

    def _ignored_engagers(self) -> list[str]:
        ignored = [
            (state[0], cp) for cp, state in self._pair_state.items() if state[0] is not None and state[1] is None
        ]
        return [cp for _, cp in sorted(ignored)[:IGNORED_EVIDENCE]]

    def _preaching_post(self) -> str | None:
        latest = max((p.preaching_text for p in self._window if p.preaching_text), default=None)
        return latest[1] if latest else None

    def _expert_bio(self) -> str | None:
        latest = max((p.expert_bio for p in self._window if p.expert_bio), default=None)
        return latest[1] if latest else None


def _retimed(window: dict[str, Any], end_ms: int, window_ms: int) -> dict[str, Any]:
    """The same figures as `window`, for the window ending at end_ms."""
    copy = window.copy()
    copy["window_start"] = end_ms - window_ms
    copy["window_end"] = end_ms
    return copy


class WindowRuns(NamedTuple):
    """One account's published windows, in order, as runs of (first window, number of windows).

    The windows of a run hold the same figures at consecutive ends, one period apart: at P=5min most
    windows of a busy account repeat the one before, so batch carries and writes them once per run.
    """

    period_ms: int
    runs: list[tuple[dict[str, Any], int]]

    def windows(self) -> Iterator[dict[str, Any]]:
        for first, count in self.runs:
            yield first
            for index in range(1, count):
                end_ms = first["window_end"] + index * self.period_ms
                yield _retimed(first, end_ms, first["window_end"] - first["window_start"])

    def window_count(self) -> int:
        return sum(count for _, count in self.runs)


class Reach:
    """An account's distinct engagers and sermons: what decides whether its data could publish a window.

    A window never holds more engagers or sermons than the data it is taken from, so an account whose data
    falls short on both (and is not watched) can neither publish a window nor move its alert.
    """

    __slots__ = ("engagers", "sermons")

    def __init__(self) -> None:
        self.engagers: set[str | None] = set()
        self.sermons = 0

    def add(self, contribution: c.Contribution) -> None:
        if contribution[1] == c.INBOUND:
            self.engagers.add(contribution[2])
        elif contribution[5] & c.PREACHING:
            self.sermons += 1

    def could_publish(self, account_id: str, config: ReciprocityConfig) -> bool:
        return (
            len(self.engagers) >= config.min_inbound
            or self.sermons >= config.min_preaching_posts
            or account_id in config.watchlist
        )


def could_matter(account_id: str, contributions: list[c.Contribution], config: ReciprocityConfig) -> bool:
    """False when no window of the account can be published or alert: too few engagers and sermons in total.

    Most accounts are fans who engage but are rarely engaged; skipping them saves most of a replay's work
    and changes no output (see `Reach`).
    """
    if account_id in config.watchlist:
        return True
    reach = Reach()
    for contribution in contributions:
        reach.add(contribution)
    return reach.could_publish(account_id, config)


def evaluate_account(
    account_id: str, contributions: Any, config: ReciprocityConfig, runs: bool = False
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Batch form: every contribution of one account, in any order, evaluated to the last window.

    With `runs`, the windows come as runs (first window, count): `WindowRuns(config.period_ms, windows)`.
    """
    contributions = list(contributions)
    if not could_matter(account_id, contributions, config):
        return [], []
    engine = AccountEngine(account_id, config)
    for contribution in contributions:
        engine.add(contribution)
    return engine.advance(runs=runs)
