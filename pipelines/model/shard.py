"""The streaming state of one shard of accounts: their engines, what they still need, and the shard's horizon.

A streaming key holds many accounts (see pipelines/transforms/reciprocity.py for why). Their engines live in
memory between timer firings; what Beam must store durably is much smaller and mostly append-only:

* the contributions still inside a future window (the log; appended once per firing, compacted rarely),
* the horizon: panes below it are sealed for every account of the shard (their windows were evaluated),
* which accounts have a firing alert (status that outlives an account's windows).

`ShardEngines.rebuild` turns those three back into engines that behave exactly as the ones they replace,
so a worker that has never seen the shard (a restart, a rescale, another Flink slot) carries on unchanged.

A job restarted over a re-read tail (pipelines/model/resume.py) gives the shard a `Resume`: the windows ending
before its mark were published by the run that stopped, so they are evaluated silently (built from part of
their data, they would differ), and when the shard first evaluates past the mark every engine's alert state is
set to the one published (the silent windows stepped it from a partial past).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from pipelines.model import contributions as c
from pipelines.model.config import ReciprocityConfig
from pipelines.model.engine import AccountEngine, Reach
from pipelines.model.resume import Resume
from pipelines.model.windows import pane_of

Routed = tuple[str, c.Contribution]  # (account_id, contribution)


def shard_of(account_id: str, shards: int) -> int:
    """The shard holding an account: a stable hash (not Python's salted `hash`), so every worker agrees."""
    return zlib.crc32(account_id.encode()) % shards


class _Dormant:
    """What an account without an engine holds: its contributions, their reach, the panes they span."""

    __slots__ = ("contributions", "newest", "oldest", "reach")

    def __init__(self) -> None:
        self.contributions: list[c.Contribution] = []
        self.reach = Reach()
        self.oldest = self.newest = 0  # pane indices of the held contributions (set by the first `add`)

    def add(self, contribution: c.Contribution, pane: int) -> None:
        if not self.contributions:
            self.oldest = self.newest = pane
        elif pane < self.oldest:
            self.oldest = pane
        elif pane > self.newest:
            self.newest = pane
        self.contributions.append(contribution)
        self.reach.add(contribution)


class ShardEngines:
    """The engines of one shard, the contributions their future windows need, and the horizon."""

    def __init__(self, config: ReciprocityConfig, resume: Resume | None = None) -> None:
        self.config = config
        # A restart's mark, until the shard has evaluated past it (see the module docstring).
        self._resume = resume
        self.horizon: int | None = None  # panes below this index are sealed (None: nothing evaluated yet)
        self.engines: dict[str, AccountEngine] = {}
        # Accounts whose live data cannot publish a window or move an alert (most are fans): their
        # contributions wait here, and an engine is built from them once they could (see `_hold`).
        self._dormant: dict[str, _Dormant] = {}
        self._live: dict[int, list[Routed]] = {}  # pane -> accepted contributions a future window needs
        self._unlogged: list[Routed] = []  # accepted since the last `take_unlogged`

    @classmethod
    def rebuild(
        cls,
        config: ReciprocityConfig,
        log: Iterable[Routed],
        horizon: int | None,
        firing: Iterable[str],
        resume: Resume | None = None,
    ) -> ShardEngines:
        """Engines equal to the lost ones: replay what the log still needs, evaluate (silently) up to the
        horizon, and put the alert states back."""
        shard = cls(config, resume)
        shard.fold(log)  # horizon None: nothing is late yet
        firing = set(firing)
        for account in firing:
            shard._wake(account)  # a firing account always has an engine, whatever it holds
        if horizon is not None:
            shard.advance(horizon * config.period_ms)
        for account in firing:
            shard._engine(account)  # again: the advance drops engines left empty, not knowing they fire
        for account, engine in shard.engines.items():
            engine.set_firing(account in firing)  # the replay saw only part of the past: its statuses are not
        shard.horizon = horizon
        shard._unlogged = []
        return shard

    def _engine(self, account: str) -> AccountEngine:
        engine = self.engines.get(account)
        if engine is None:
            engine = self.engines[account] = AccountEngine(account, self.config)
        return engine

    def fold(self, routed: Iterable[Routed]) -> list[Routed]:
        """Adds contributions to their accounts; returns the late ones (in sealed panes), which change nothing."""
        period = self.config.period_ms
        horizon = self.horizon
        late: list[Routed] = []
        for item in routed:
            account, contribution = item
            pane = pane_of(contribution[0], period)
            if horizon is not None and pane < horizon:
                late.append(item)
                continue
            engine = self.engines.get(account)
            if engine is not None:
                engine.add(contribution)
            else:
                self._hold(account, contribution, pane)
            bucket = self._live.get(pane)
            if bucket is None:
                self._live[pane] = [item]
            else:
                bucket.append(item)
            self._unlogged.append(item)
        return late

    def _hold(self, account: str, contribution: c.Contribution, pane: int) -> None:
        """Keeps a contribution of an account without an engine; builds the engine once the account's
        held data could publish a window (the batch path's `could_matter`, over the data still live).

        Until then every window of the account is unpublishable and leaves its alert alone, so nothing is
        lost by not evaluating them; the engine built later replays what is held and is evaluated
        (silently) up to the horizon, exactly like a shard rebuilt from its log.
        """
        held = self._dormant.get(account)
        if held is None:
            held = self._dormant[account] = _Dormant()
        held.add(contribution, pane)
        if held.reach.could_publish(account, self.config):
            self._wake(account)

    def _wake(self, account: str) -> None:
        """Gives the account an engine fed with what it holds, evaluated (silently) up to the horizon."""
        held = self._dormant.pop(account, None)
        engine = self._engine(account)
        if held is None:
            return
        for item in held.contributions:
            engine.add(item)
        if self.horizon is not None:
            windows, alerts = engine.advance(self.horizon * self.config.period_ms)
            assert not windows and not alerts, f"{account}: a dormant account had publishable windows"

    def _expire_dormant(self, oldest_needed: int) -> None:
        """Drops held contributions no future window needs, and accounts left with none."""
        period = self.config.period_ms
        for account in list(self._dormant):
            held = self._dormant[account]
            if held.newest < oldest_needed:
                del self._dormant[account]
            elif held.oldest < oldest_needed:
                kept = self._dormant[account] = _Dormant()
                for item in held.contributions:
                    pane = pane_of(item[0], period)
                    if pane >= oldest_needed:
                        kept.add(item, pane)

    def advance(self, until_ms: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int | None]:
        """Evaluates every window ending at or before until_ms; returns (windows, alerts, next deadline).

        After a restart, the windows ending before the mark are evaluated but not returned, and the alert states
        are set to the published ones once the shard reaches the mark."""
        resume = self._resume
        if resume is None:
            return self._advance(until_ms)
        first_end = resume.first_window_end(self.config.period_ms)
        if until_ms < first_end:
            return [], [], self._advance(until_ms)[2]
        self._advance(first_end - 1)
        for account in resume.firing:
            self._wake(account)  # a firing account always has an engine, as in the run that stopped
        for account, engine in self.engines.items():
            engine.set_firing(account in resume.firing)
        self._resume = None
        return self._advance(until_ms)

    def _advance(self, until_ms: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int | None]:
        windows: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        next_due: int | None = None
        for account in list(self.engines):
            engine = self.engines[account]
            due = engine.next_deadline()
            if due is not None and due <= until_ms:
                w, a = engine.advance(until_ms)
                windows += w
                alerts += a
                due = engine.next_deadline()
            if due is None and not engine.firing:
                del self.engines[account]  # nothing left in its windows; the horizon stands for its past
            elif due is not None and (next_due is None or due < next_due):
                next_due = due
        sealed = until_ms // self.config.period_ms
        if self.horizon is None or sealed > self.horizon:
            self.horizon = sealed
        # A pane is needed while some window to come holds it: windows end after the horizon.
        oldest_needed = self.horizon - self.config.panes_per_window + 1
        expired = [p for p in self._live if p < oldest_needed]
        for pane in expired:
            del self._live[pane]
        if expired:
            self._expire_dormant(oldest_needed)
        return windows, alerts, next_due

    def last_deadline(self) -> int:
        """The last window end (ms) the data held can change: the newest pane's last window. 0 when none."""
        if not self._live:
            return 0
        return (max(self._live) + self.config.panes_per_window + 1) * self.config.period_ms

    def take_unlogged(self) -> list[Routed]:
        """The contributions accepted since the last call: what the durable log lacks."""
        taken, self._unlogged = self._unlogged, []
        return taken

    def firing(self) -> list[str]:
        return sorted(account for account, engine in self.engines.items() if engine.firing)

    def live(self) -> list[Routed]:
        """The contributions a rebuild needs (the compacted log)."""
        return [item for pane in sorted(self._live) for item in self._live[pane]]

    def live_count(self) -> int:
        return sum(len(bucket) for bucket in self._live.values())
