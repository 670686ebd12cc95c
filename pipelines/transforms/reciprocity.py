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

import json
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder, PickleCoder, VarIntCoder
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
from pipelines.model.engine import AccountEngine, evaluate_account
from pipelines.model.events import SocialEvent, iso_utc
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
            yield WindowedValue(item, MIN_TIMESTAMP, [GlobalWindow()])
        self.start_bundle()


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
    """Batch: (account, its contributions in gathered lists) -> windows and alerts."""

    def __init__(self, config: ReciprocityConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._setup_counters()
        # Batch sees each account once, so these count accounts exactly (the summary reads them).
        self._accounts_published = beam.metrics.Metrics.counter(NAMESPACE, "accounts_published")
        self._preachers = beam.metrics.Metrics.counter(NAMESPACE, "preachers")

    def process(self, element: tuple[str, Iterable[list[contributions.Contribution]]]) -> Iterator[Any]:
        account, gathered = element
        items = [contribution for bucket in gathered for contribution in bucket]
        windows, alerts = evaluate_account(account, items, self._config)
        if windows:
            self._accounts_published.inc()
            if any(window["is_preacher"] for window in windows):
                self._preachers.inc()
        yield from self._emit(windows, alerts)


class RouteToShardsFn(beam.DoFn):
    """Streaming: events (or lists of events) -> (shard, [(account, contribution), ...]), one per shard touched.

    Streaming state is kept per shard of accounts, not per account: on a portable runner every state read
    and every timer of a key is a round trip to the runner, so one key per account costs milliseconds per
    event. A shard gathers an input element's contributions into one element, and one timer per shard
    and period evaluates all of its accounts. The shard of an account is a stable hash (not Python's
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
                shard = zlib.crc32(pair[0].encode()) % shards
                bucket = gathered.get(shard)
                if bucket is None:
                    gathered[shard] = [pair]
                else:
                    bucket.append(pair)
        yield from gathered.items()


class RollUpShardsFn(_EmitMixin, beam.DoFn):
    """Streaming: the AccountEngines of one shard in state, evaluated by one event-time timer.

    Contributions wait in a bag until the timer, set for the earliest deadline (a pane's end plus the
    allowed lateness) of the shard, fires; then they are folded into their accounts' engines and every
    window complete by the timer's time is evaluated. Everything before that time is sealed for the whole
    shard (`horizon`): a contribution for a sealed pane is late, is counted and goes to the dead letters.
    """

    PENDING = BagStateSpec("pending", FastPrimitivesCoder())
    ENGINES = ReadModifyWriteStateSpec("engines", PickleCoder())
    DUE = ReadModifyWriteStateSpec("due", VarIntCoder())
    HORIZON = ReadModifyWriteStateSpec("horizon", VarIntCoder())  # panes below this index are sealed
    DEADLINE = TimerSpec("deadline", TimeDomain.WATERMARK)

    def __init__(self, config: ReciprocityConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._setup_counters()
        self._late_counter = beam.metrics.Metrics.counter(NAMESPACE, "late_events_dropped")
        self._firings = beam.metrics.Metrics.counter(NAMESPACE, "engine_evaluations")

    def _arm(self, timer: Any, due_state: Any, due_ms: int) -> None:
        current = due_state.read()
        if current is None or due_ms < current:
            timer.set(Timestamp(micros=due_ms * 1000))
            due_state.write(due_ms)

    def _late(self, account: str, contribution: contributions.Contribution) -> Iterator[Any]:
        if contribution[1] != contributions.INBOUND:  # an interaction's inbound copy is the same event
            self._late_counter.inc()
            yield beam.pvalue.TaggedOutput(LATE, _late_letter(account, contribution))

    def process(
        self,
        element: tuple[int, list[tuple[str, contributions.Contribution]]],
        pending: Any = beam.DoFn.StateParam(PENDING),
        due: Any = beam.DoFn.StateParam(DUE),
        deadline: Any = beam.DoFn.TimerParam(DEADLINE),
    ) -> None:
        _, pairs = element
        pending.add(pairs)
        # A pane already sealed gives a deadline in the past: the timer fires at once and dead-letters it.
        first_pane = min(pane_of(contribution[0], self._config.period_ms) for _, contribution in pairs)
        self._arm(deadline, due, (first_pane + 1) * self._config.period_ms + self._config.allowed_lateness_ms)

    @on_timer(DEADLINE)
    def on_deadline(
        self,
        fired_at: Timestamp = beam.DoFn.TimestampParam,
        pending: Any = beam.DoFn.StateParam(PENDING),
        engines_state: Any = beam.DoFn.StateParam(ENGINES),
        due: Any = beam.DoFn.StateParam(DUE),
        horizon_state: Any = beam.DoFn.StateParam(HORIZON),
        deadline: Any = beam.DoFn.TimerParam(DEADLINE),
    ) -> Iterator[Any]:
        config = self._config
        self._firings.inc()
        due.clear()
        engines: dict[str, AccountEngine] = engines_state.read() or {}
        for engine in engines.values():
            AccountEngine.restore(engine, config)
        horizon = horizon_state.read()
        sealed_before = -1 if horizon is None else horizon * config.period_ms  # event time (ms)
        for pairs in pending.read():
            for account, contribution in pairs:
                if contribution[0] < sealed_before:
                    yield from self._late(account, contribution)
                    continue
                engine = engines.get(account)
                if engine is None:
                    engine = engines[account] = AccountEngine(account, config)
                engine.add(contribution)  # never refused: an engine seals nothing beyond the horizon
        pending.clear()
        until = fired_at.micros // 1000 - config.allowed_lateness_ms
        next_due: int | None = None
        for account in list(engines):
            engine = engines[account]
            engine_due = engine.next_deadline()
            if engine_due is not None and engine_due <= until:
                windows, alerts = engine.advance(until)
                yield from self._emit(windows, alerts)
                engine_due = engine.next_deadline()
            if engine_due is None and not engine.firing:
                del engines[account]  # nothing left in its window: the shard's horizon stands for it
            elif engine_due is not None and (next_due is None or engine_due < next_due):
                next_due = engine_due
        sealed = until // config.period_ms
        if horizon is None or sealed > horizon:
            horizon_state.write(sealed)
        if engines:
            engines_state.write(engines)
        else:
            engines_state.clear()
        if next_due is not None:
            self._arm(deadline, due, next_due + config.allowed_lateness_ms)


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
    source batch meets each shard with several contributions.
    """

    def __init__(self, config: ReciprocityConfig, streaming: bool = False, state_shards: int = 32) -> None:
        super().__init__()
        if state_shards < 1:
            raise ValueError(f"state_shards must be at least 1, got {state_shards}")
        self._config = config
        self._streaming = streaming
        self._shards = state_shards

    def expand(self, events: beam.PCollection) -> dict[str, beam.PCollection]:
        if self._streaming:
            outputs = (
                events
                | "RouteToShards" >> beam.ParDo(RouteToShardsFn(self._config, self._shards))
                | "RollUp" >> beam.ParDo(RollUpShardsFn(self._config)).with_outputs(WINDOWS, ALERTS, LATE)
            )
            late = outputs[LATE]
        else:
            outputs = (
                events
                | "RouteAndGather" >> beam.ParDo(RouteAndGatherFn(self._config))
                | "GroupByAccount" >> beam.GroupByKey()
                | "Evaluate" >> beam.ParDo(EvaluateAccountFn(self._config)).with_outputs(WINDOWS, ALERTS)
            )
            late = events.pipeline | "NoLateInBatch" >> beam.Create([])
        return {WINDOWS: outputs[WINDOWS], ALERTS: outputs[ALERTS], LATE: late}
