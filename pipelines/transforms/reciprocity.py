"""The reciprocity composites: SocialEvents in; account windows, one-way alerts and late events out.

    events | ComputeReciprocity(config, streaming=False)
        -> {"windows": AccountWindow dicts, "alerts": EngagementAlert dicts, "late": DeadLetter dicts}

Both modes route each event to the accounts it touches and hand each account's contributions to the same
`AccountEngine` (pipelines/model/engine.py). Batch groups everything per account and evaluates to the end.
Streaming keeps one engine per account in Beam state and evaluates windows when the watermark passes their
end plus the allowed lateness; contributions for windows already evaluated are counted and dead-lettered.
"""

from __future__ import annotations

import json
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


class RouteToAccounts(beam.PTransform):
    """SocialEvent -> (account_id, contribution) for every account the event touches."""

    def __init__(self, config: ReciprocityConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, events: beam.PCollection) -> beam.PCollection:
        config = self._config
        return events | "Route" >> beam.FlatMap(lambda event: contributions.route(event, config))


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


class RollUpAccountsFn(_EmitMixin, beam.DoFn):
    """Streaming: one AccountEngine per account in state, driven by an event-time timer."""

    PENDING = BagStateSpec("pending", FastPrimitivesCoder())
    ENGINE = ReadModifyWriteStateSpec("engine", PickleCoder())
    DUE = ReadModifyWriteStateSpec("due", VarIntCoder())
    SEALED = ReadModifyWriteStateSpec("sealed_below", VarIntCoder())  # first pane not yet evaluated
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
        element: tuple[str, contributions.Contribution],
        pending: Any = beam.DoFn.StateParam(PENDING),
        due: Any = beam.DoFn.StateParam(DUE),
        sealed: Any = beam.DoFn.StateParam(SEALED),
        deadline: Any = beam.DoFn.TimerParam(DEADLINE),
    ) -> Iterator[Any]:
        account, contribution = element
        pane = pane_of(contribution[0], self._config.period_ms)
        sealed_below = sealed.read()
        if sealed_below is not None and pane < sealed_below:
            yield from self._late(account, contribution)
            return
        pending.add(contribution)
        self._arm(deadline, due, (pane + 1) * self._config.period_ms + self._config.allowed_lateness_ms)

    @on_timer(DEADLINE)
    def on_deadline(
        self,
        key: str = beam.DoFn.KeyParam,
        fired_at: Timestamp = beam.DoFn.TimestampParam,
        pending: Any = beam.DoFn.StateParam(PENDING),
        engine_state: Any = beam.DoFn.StateParam(ENGINE),
        due: Any = beam.DoFn.StateParam(DUE),
        sealed: Any = beam.DoFn.StateParam(SEALED),
        deadline: Any = beam.DoFn.TimerParam(DEADLINE),
    ) -> Iterator[Any]:
        config = self._config
        self._firings.inc()
        due.clear()
        stored = engine_state.read()
        engine = AccountEngine.restore(stored, config) if stored is not None else AccountEngine(key, config)
        for contribution in pending.read():
            if not engine.add(contribution):
                yield from self._late(key, contribution)
        pending.clear()
        windows, alerts = engine.advance(fired_at.micros // 1000 - config.allowed_lateness_ms)
        yield from self._emit(windows, alerts)
        if engine.sealed_below is not None:
            sealed.write(engine.sealed_below)
        next_due = engine.next_deadline()
        if next_due is None:
            engine_state.clear()
        else:
            engine_state.write(engine)
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
    """SocialEvents -> {"windows", "alerts", "late"}; `streaming` picks the stateful, watermark-driven path."""

    def __init__(self, config: ReciprocityConfig, streaming: bool = False) -> None:
        super().__init__()
        self._config = config
        self._streaming = streaming

    def expand(self, events: beam.PCollection) -> dict[str, beam.PCollection]:
        if self._streaming:
            outputs = (
                events
                | "RouteToAccounts" >> RouteToAccounts(self._config)
                | "RollUp" >> beam.ParDo(RollUpAccountsFn(self._config)).with_outputs(WINDOWS, ALERTS, LATE)
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
