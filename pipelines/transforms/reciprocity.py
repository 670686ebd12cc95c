"""The reciprocity composites: SocialEvents in; account windows, one-way alerts and late events out.

    events | ComputeReciprocity(config, streaming=False)
        -> {"windows": AccountWindow dicts, "alerts": EngagementAlert dicts, "late": DeadLetter dicts}

Both modes route each event to the accounts it touches and hand each account's contributions to the same
`AccountEngine` (pipelines/model/engine.py). Batch groups everything per account and evaluates to the end.
Streaming keeps the engines of a shard of accounts in Beam state and evaluates windows when the watermark
passes their end plus the allowed lateness; contributions for windows already evaluated are counted and
dead-lettered.
"""

from __future__ import annotations

import contextlib
import gc
import json
import random
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.io.files import NAMESPACE, dead_letter
from pipelines.model import contributions
from pipelines.model.config import ReciprocityConfig
from pipelines.model.engine import WindowRuns, evaluate_account
from pipelines.model.events import SocialEvent, iso_utc
from pipelines.model.resume import Resume
from pipelines.model.shard import ShardEngines, shard_of
from pipelines.model.windows import pane_of

WINDOWS, ALERTS, LATE = "windows", "alerts", "late"


class RouteAndGatherFn(beam.DoFn):
    """Batch only: routes each event and gathers a bundle's contributions per account before the shuffle.

    The GroupByKey then moves one element per account and bundle instead of one per contribution (most
    of its cost on the portable runners), and no per-contribution element crosses a DoFn boundary.
    Memory stays bounded: the buffer is flushed every `max_buffered` contributions. Outputs are in the
    global window (batch has no other).
    """

    def __init__(self, config: ReciprocityConfig, max_buffered: int = 200_000) -> None:
        self._config = config
        self._max_buffered = max_buffered

    def start_bundle(self) -> None:
        self._buffer: dict[str, list[contributions.Contribution]] = {}
        self._buffered = 0

    def process(self, event: SocialEvent) -> Iterator[tuple[str, list]]:
        buffer = self._buffer
        for account, contribution in contributions.route(event, self._config):
            bucket = buffer.get(account)
            if bucket is None:
                buffer[account] = [contribution]
            else:
                bucket.append(contribution)
            self._buffered += 1
        if self._buffered >= self._max_buffered:
            yield from buffer.items()
            self.start_bundle()

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for item in self._buffer.items():
            yield WindowedValue(item, MIN_TIMESTAMP, (GlobalWindow(),))
        self.start_bundle()


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pauses Python's cyclic garbage collector: the engine allocates millions of small acyclic objects.

    Reference counting frees them as usual; the cycle collector, triggered by the allocation count, would
    walk the worker's whole heap again and again for nothing (a fifth of a P=5min evaluation's time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _EmitMixin:
    def _emit(self, windows: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> Iterator[Any]:
        self._windows_counter.inc(len(windows))
        for window in windows:
            yield beam.pvalue.TaggedOutput(WINDOWS, window)
        for alert in alerts:
            self._alert_counters[alert["status"]].inc()
            yield beam.pvalue.TaggedOutput(ALERTS, alert)

    def _setup_counters(self) -> None:
        self._windows_counter = beam.metrics.Metrics.counter(NAMESPACE, "account_windows")
        self._alert_counters = {
            status: beam.metrics.Metrics.counter(NAMESPACE, f"alerts_{status}") for status in ("firing", "resolved")
        }


class EvaluateAccountFn(_EmitMixin, beam.DoFn):
    """Batch: (account, its contributions in gathered lists) -> windows and alerts.

    With `batch_windows`, an account's windows leave as one `WindowRuns` element instead of one element
    each: at P=5min an account publishes thousands of windows, and the per-element cost of the runner
    (not the engine) then dominates the job.
    """

    def __init__(self, config: ReciprocityConfig, batch_windows: bool = False) -> None:
        self._config = config
        self._batch_windows = batch_windows

    def setup(self) -> None:
        self._setup_counters()
        # Batch sees each account once, so these count accounts exactly (the summary reads them).
        self._accounts_published = beam.metrics.Metrics.counter(NAMESPACE, "accounts_published")
        self._preachers = beam.metrics.Metrics.counter(NAMESPACE, "preachers")

    def process(self, element: tuple[str, Iterable[list[contributions.Contribution]]]) -> Iterator[Any]:
        account, gathered = element
        with cyclic_gc_paused():
            items = [contribution for bucket in gathered for contribution in bucket]
            windows, alerts = evaluate_account(account, items, self._config, runs=self._batch_windows)
        if windows:
            self._accounts_published.inc()
            firsts = [first for first, _ in windows] if self._batch_windows else windows  # a run shares figures
            if any(window["is_preacher"] for window in firsts):
                self._preachers.inc()
        if self._batch_windows:
            if windows:
                runs = WindowRuns(self._config.period_ms, windows)
                self._windows_counter.inc(runs.window_count())
                yield beam.pvalue.TaggedOutput(WINDOWS, runs)
            yield from self._emit([], alerts)
        else:
            yield from self._emit(windows, alerts)


class RouteToShardsFn(beam.DoFn):
    """Streaming: events (or lists of events) -> (shard, [(account, contribution), ...]), one per shard touched.

    Streaming state is kept per shard of accounts, not per account: on a portable runner every state read
    and every timer of a key is a round trip to the runner, so one key per account costs milliseconds per
    event. A shard gathers an input element's contributions into one element, and one timer per shard
    and deadline evaluates all of its accounts. The shard of an account is a stable hash (not Python's
    salted `hash`): every worker must agree on it.
    """

    def __init__(self, config: ReciprocityConfig, shards: int) -> None:
        self._config = config
        self._shards = shards

    def process(self, element: SocialEvent | list[SocialEvent]) -> Iterator[tuple[int, list]]:
        events = element if isinstance(element, list) else [element]
        gathered: dict[int, list] = {}
        shards, config = self._shards, self._config
        for event in events:
            for pair in contributions.route(event, config):
                shard = shard_of(pair[0], shards)
                bucket = gathered.get(shard)
                if bucket is None:
                    gathered[shard] = [pair]
                else:
                    bucket.append(pair)
        yield from gathered.items()


# Shards this process holds in memory: (RollUpShardsFn id, shard) -> (state token, engines, log length).
_RESIDENT: dict[tuple[str, int], tuple[int, ShardEngines, int]] = {}


class RollUpShardsFn(_EmitMixin, beam.DoFn):
    """Streaming: the accounts of one shard, evaluated by event-time timers (pipelines/model/shard.py).

    Contributions wait in a bag until a timer fires: one per deadline (a pane's end plus the allowed
    lateness), armed when a contribution names it and, ahead, for the next deadlines the shard's data
    needs. A firing folds the waiting contributions into their accounts' engines and evaluates every
    window complete by the timer's time. Everything before that time is sealed for the whole shard: a
    contribution for a sealed pane is late, is counted and goes to the dead letters.

    The engines stay in this process's memory between firings. Beam state holds what rebuilds them (the
    log of contributions still needed, appended per firing and compacted when mostly expired; the horizon;
    the firing accounts) and a token that changes at every firing: memory is used only when its token is
    the stored one, so a shard moved to another worker, or a failed bundle, costs a rebuild, never a wrong
    result. Reading and rewriting every engine at each firing instead is what made state the bottleneck.

    With a `resume` (a restart over a re-read tail, pipelines/model/resume.py), each shard takes the mark and
    its own firing accounts: windows the stopped run published are not published again.
    """

    PENDING = BagStateSpec("pending", FastPrimitivesCoder())
    LOG = BagStateSpec("log", FastPrimitivesCoder())
    META = ReadModifyWriteStateSpec("meta", FastPrimitivesCoder())  # (token, horizon, firing accounts)
    DEADLINE = TimerSpec("deadline", TimeDomain.WATERMARK)  # one timer per deadline, tagged with it

    def __init__(
        self,
        config: ReciprocityConfig,
        compact_slack: int = 10_000,
        prearm: int = 24,
        resume: Resume | None = None,
        shards: int = 1,
    ) -> None:
        self._config = config
        self._resume = resume
        self._shards = shards
        self._compact_slack = compact_slack  # expired log entries tolerated beyond the live ones
        self._prearm = max(1, min(prearm, config.panes_per_window + 1))
        self._id = uuid.uuid4().hex  # shared by every copy of this DoFn: the key of its resident shards

    def setup(self) -> None:
        self._setup_counters()
        self._late_counter = beam.metrics.Metrics.counter(NAMESPACE, "late_events_dropped")
        self._firings = beam.metrics.Metrics.counter(NAMESPACE, "engine_evaluations")
        self._rebuilds = beam.metrics.Metrics.counter(NAMESPACE, "shard_rebuilds")

    def start_bundle(self) -> None:
        self._armed: set[tuple[int, int]] = set()

    def _arm(self, timer: Any, key: int, due_ms: int) -> None:
        """A timer per deadline, not one re-armed timer: a runner fires a timer set behind the watermark
        only at its next watermark update, so a chain of re-armed timers moves one deadline per update,
        while every deadline already armed fires at once when the watermark jumps past them."""
        if (key, due_ms) not in self._armed:
            self._armed.add((key, due_ms))
            timer.set(Timestamp(micros=due_ms * 1000), dynamic_timer_tag=str(due_ms))

    def _late(self, account: str, contribution: contributions.Contribution) -> Iterator[Any]:
        if contribution[1] != contributions.INBOUND:  # an interaction's inbound copy is the same event
            self._late_counter.inc()
            yield beam.pvalue.TaggedOutput(LATE, _late_letter(account, contribution))

    def process(
        self,
        element: tuple[int, list[tuple[str, contributions.Contribution]]],
        pending: Any = beam.DoFn.StateParam(PENDING),
        deadline: Any = beam.DoFn.TimerParam(DEADLINE),
    ) -> None:
        key, pairs = element
        pending.add(pairs)
        # A pane already sealed gives a deadline in the past: the timer fires at once and dead-letters it.
        period = self._config.period_ms
        first_pane = min(pane_of(contribution[0], period) for _, contribution in pairs)
        self._arm(deadline, key, (first_pane + 1) * period + self._config.allowed_lateness_ms)

    def _resume_of(self, key: int) -> Resume | None:
        resume = self._resume
        if resume is None:
            return None
        return resume.only(account for account in resume.firing if shard_of(account, self._shards) == key)

    def _resident(self, key: int, meta: Any, log: Any) -> tuple[ShardEngines, int]:
        """The shard's engines and its log's length: from memory when current, else rebuilt from state."""
        if meta is None:
            return ShardEngines(self._config, self._resume_of(key)), 0
        token, horizon, firing = meta
        held = _RESIDENT.get((self._id, key))
        if held is not None and held[0] == token:
            return held[1], held[2]
        self._rebuilds.inc()
        logged = [pair for chunk in log.read() for pair in chunk]
        return ShardEngines.rebuild(self._config, logged, horizon, firing, self._resume_of(key)), len(logged)

    @on_timer(DEADLINE)
    def on_deadline(
        self,
        # Beam's DoFn parameters are sentinel defaults that the runner replaces with the real values.
        key: int = beam.DoFn.KeyParam,  # type: ignore[assignment]
        fired_at: Timestamp = beam.DoFn.TimestampParam,  # type: ignore[assignment]
        pending: Any = beam.DoFn.StateParam(PENDING),
        log: Any = beam.DoFn.StateParam(LOG),
        meta: Any = beam.DoFn.StateParam(META),
        deadline: Any = beam.DoFn.TimerParam(DEADLINE),
    ) -> Iterator[Any]:
        config = self._config
        self._firings.inc()
        shard, logged = self._resident(key, meta.read(), log)
        _RESIDENT.pop((self._id, key), None)  # until this firing's state is written, memory is not current
        for chunk in pending.read():
            for account, contribution in shard.fold(chunk):
                yield from self._late(account, contribution)
        pending.clear()
        windows, alerts, next_due = shard.advance(fired_at.micros // 1000 - config.allowed_lateness_ms)
        yield from self._emit(windows, alerts)

        new = shard.take_unlogged()
        live = shard.live_count()
        if logged + len(new) > 2 * live + self._compact_slack:
            log.clear()  # mostly expired: rewrite what is still needed
            if live:
                log.add(shard.live())
            logged = live
        elif new:
            log.add(new)
            logged += len(new)
        token = random.getrandbits(62)
        meta.write((token, shard.horizon, tuple(shard.firing())))
        if shard.engines or live:  # live data without engines: dormant accounts, kept as well
            _RESIDENT[(self._id, key)] = (token, shard, logged)
        if next_due is not None:
            # The next deadlines too, up to the last one the shard's data can need (see `_arm`).
            last = shard.last_deadline()
            for due_ms in range(next_due, min(next_due + self._prearm * config.period_ms, last + 1), config.period_ms):
                self._arm(deadline, key, due_ms + config.allowed_lateness_ms)


def _late_letter(account: str, contribution: contributions.Contribution) -> dict[str, Any]:
    event_time, event_id = contribution[0], contribution[7]
    reason = (
        f"late event: event_time {iso_utc(event_time)} falls in windows of {account} "
        "already evaluated (beyond --allowed_lateness)"
    )
    raw = json.dumps({"event_id": event_id, "event_time": event_time, "account_id": account})
    return dead_letter(reason, f"event {event_id}", raw)


class ComputeReciprocity(beam.PTransform):
    """SocialEvents -> {"windows", "alerts", "late"}; `streaming` picks the stateful, watermark-driven path.

    Streaming also accepts lists of events (the Kafka source's batches) and keeps its state in
    `state_shards` keys (see RouteToShardsFn): enough for a Flink job's parallelism, few enough that each
    source batch meets each shard with several contributions. `resume` is a restart's mark over a re-read
    tail (pipelines/model/resume.py).

    Batch with `batch_windows=True` emits each account's windows as one `WindowRuns` (see
    EvaluateAccountFn); write them with `WriteJsonLines(path, encode=account_window_lines)`.
    """

    def __init__(
        self,
        config: ReciprocityConfig,
        streaming: bool = False,
        state_shards: int = 16,
        batch_windows: bool = False,
        resume: Resume | None = None,
    ) -> None:
        super().__init__()
        if state_shards < 1:
            raise ValueError(f"state_shards must be at least 1, got {state_shards}")
        if streaming and batch_windows:
            raise ValueError("batch_windows is a batch option: streaming emits each window as it closes")
        self._config = config
        self._streaming = streaming
        self._shards = state_shards
        self._batch_windows = batch_windows
        self._resume = resume

    def expand(self, events: beam.PCollection) -> dict[str, beam.PCollection]:
        if self._streaming:
            outputs = (
                events
                | "RouteToShards" >> beam.ParDo(RouteToShardsFn(self._config, self._shards))
                | "RollUp"
                >> beam.ParDo(RollUpShardsFn(self._config, resume=self._resume, shards=self._shards)).with_outputs(
                    WINDOWS, ALERTS, LATE
                )
            )
            late = outputs[LATE]
        else:
            outputs = (
                events
                | "RouteAndGather" >> beam.ParDo(RouteAndGatherFn(self._config))
                | "GroupByAccount" >> beam.GroupByKey()
                | "Evaluate"
                >> beam.ParDo(EvaluateAccountFn(self._config, self._batch_windows)).with_outputs(WINDOWS, ALERTS)
            )
            late = events.pipeline | "NoLateInBatch" >> beam.Create([])
        return {WINDOWS: outputs[WINDOWS], ALERTS: outputs[ALERTS], LATE: late}
