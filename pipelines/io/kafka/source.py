"""The Kafka source in pure Python (kafka-python): no Java expansion service or Java harness, so any portable
runner can run it (tested on Prism; written for Flink too).

    read = pipeline | ReadSocialEventsFromKafka("127.0.0.1:9092", "social-events", group_id="reciprocity")
    read["events"]        # SocialEvents, timestamped with their event_time
    read["dead_letter"]   # DeadLetter dicts: reason, source "topic/partition/offset", the original bytes

How the source works, and why:

* Partitions are listed when the pipeline starts (Impulse -> one element per partition). Each partition is
  read by a splittable DoFn whose restriction is an offset range: [committed offset or the beginning, the
  end offset seen at start) with `until_end_offsets`, else [committed or beginning, sys.maxsize).
* The DoFn checkpoints itself: every call reads for at most `max_call_ms` / `max_records_per_call`, then
  `defer_remainder()`s. Portable runners do not checkpoint an SDF for it (apache/beam#20979), so without
  this a partition would hold its bundle forever and nothing downstream would see a watermark.
* Runner-initiated splits are refused (`_CheckpointOnlyOffsetTracker`): splitting a Kafka partition's offset
  range would read it twice in parallel and interleave the offset commits. The transform also turns Prism's
  own "split a slow bundle" off (experiment `prism_disable_sdf_split`): Prism keeps one watermark estimate
  per SDF stage, taken from the residuals of the bundle that finished last, so partitions must stay in one
  bundle for that estimate to be the minimum over all of them. For the same reason every checkpoint
  resumes at once (no resume delay: delayed residuals are parked and released one by one); the poll
  timeout is what keeps an idle partition from spinning.
* Watermark, per partition (the policy of Beam Java KafkaIO's CustomTimestampPolicyWithLimitedDelay):
  `min(now, highest event_time read) - max_out_of_orderness`, never moving back; and once the partition is
  caught up (a ListOffsets request confirms there is nothing after our position) `now - max_out_of_orderness`.
  The idle rule is what lets event-time timers fire while some partition receives nothing (on Flink the
  watermark otherwise waits for every partition, apache/beam#31085). It assumes that live events carry a
  current event_time; to replay history, use `until_end_offsets`, where a finished partition simply stops
  holding the watermark.
* Offsets, `commit_offsets="position"`: committed to the consumer group from the bundle finalizer, i.e. after
  the runner has made the bundle's output durable; a restart resumes from the committed offsets. A call that
  reads nothing commits the start of its restriction, so a commit lost to an outage is made good. On a runner
  whose state is not durable (Prism) that loses the windows open at a kill: hence `"tail"`, where the source
  commits nothing and emits, per poll, the span it read and its newest event_time on the "offsets" output,
  for `CommitReadTail` (pipelines/io/kafka/commit.py) to commit once the windows that need it are published.
* A broker that goes away is waited for: kafka-python errors are caught, logged and retried with capped
  backoff inside the call, and the partition resumes where it stopped. Bad messages never fail the
  pipeline: they become dead letters.

The sinks are in pipelines/io/kafka/sinks.py, partition discovery and the start-time checks in admin.py, the
connection and security settings in security.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.options.pipeline_options import DebugOptions
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp

from pipelines.io import wire
from pipelines.io.files import DEAD_LETTER, NAMESPACE, dead_letter
from pipelines.io.kafka.admin import UNBOUNDED, DiscoverPartitionsFn, PartitionSpec
from pipelines.io.kafka.commit import COMMIT_MODES, POSITION, TAIL, OffsetCommitter
from pipelines.io.kafka.common import backoff_s, close_quietly, fatal, is_fatal, kafka_errors
from pipelines.io.kafka.security import KafkaSettings
from pipelines.model.events import ContractError, SocialEvent

_LOGGER = logging.getLogger(__name__)

PRISM_NO_SDF_SPLIT = "prism_disable_sdf_split"
OFFSETS = "offsets"


def _stamped(value: Any, event_time_ms: int) -> TimestampedValue:
    return TimestampedValue(value, Timestamp(micros=event_time_ms * 1000))


def _nothing() -> None:
    """A bundle-finalizer callback for bundles with no offsets to commit (see ReadPartitionFn.process)."""


# --- restriction and watermark --------------------------------------------------------------------------------------


class _CheckpointOnlyOffsetTracker(OffsetRestrictionTracker):
    """An OffsetRestrictionTracker that checkpoints (fraction 0) but refuses every other split.

    Two readers of one partition would deliver its records out of order (breaking the watermark) and commit
    offsets over each other.
    """

    def try_split(self, fraction_of_remainder: float) -> tuple[OffsetRange, OffsetRange] | None:
        if fraction_of_remainder > 0:
            return None
        return super().try_split(0)

    def is_bounded(self) -> bool:
        return self._range.stop < UNBOUNDED


class _PartitionOffsets(RestrictionProvider):
    """Restriction = the offset range still to read in one partition."""

    def initial_restriction(self, element: PartitionSpec) -> OffsetRange:
        return OffsetRange(element[2], element[3])

    def create_tracker(self, restriction: OffsetRange) -> _CheckpointOnlyOffsetTracker:
        return _CheckpointOnlyOffsetTracker(restriction)

    def restriction_size(self, element: PartitionSpec, restriction: OffsetRange) -> float:
        return float(restriction.size())

    def split(self, element: PartitionSpec, restriction: OffsetRange) -> Iterator[OffsetRange]:
        yield restriction  # never split up front: one reader per partition

    def truncate(self, element: PartitionSpec, restriction: OffsetRange) -> OffsetRange | None:
        # On drain, an endless read stops; a read to the end offsets seen at start finishes.
        return None if restriction.stop >= UNBOUNDED else restriction


class _PartitionWatermark(WatermarkEstimatorProvider):
    """A ManualWatermarkEstimator per partition; its state (the watermark) travels with each checkpoint."""

    def initial_estimator_state(self, element: PartitionSpec, restriction: OffsetRange) -> Timestamp:
        # MIN rather than None: the SDK leaves a None watermark out of the checkpoint, and Prism then takes
        # the minimum over the other partitions only, which a partition not yet read must hold back.
        return MIN_TIMESTAMP

    def create_watermark_estimator(self, estimator_state: Timestamp | None) -> ManualWatermarkEstimator:
        return ManualWatermarkEstimator(estimator_state if estimator_state is not None else MIN_TIMESTAMP)


def next_watermark_ms(
    current_ms: int | None,
    max_event_ms: int | None,
    caught_up: bool,
    now_ms: int,
    max_out_of_orderness_ms: int,
    min_event_ms: int | None = None,
) -> int | None:
    """The partition's new watermark in epoch ms (None = no information yet). Never earlier than `current_ms`.

    Active: min(now, highest event_time read) - max_out_of_orderness, the cap on `now` keeping an event
    stamped in the future from pushing the watermark past the present. Caught up: now - max_out_of_orderness.
    Either way never past `min_event_ms`, the earliest event this call emitted: a runner may deliver a call's
    output after the watermark reported with its residual, and its events must not be late there. Beam 2.62's
    portable Flink runner does (output of a bundle cut by a checkpoint): without this cap a replay on the cluster
    lost 2 of 514 windows to events it saw as late; with it, the output is exact. On a replay of history this
    costs one poll's span of watermark; on a live stream, where a poll spans milliseconds, nothing.
    """
    candidate: int | None = None
    if max_event_ms is not None:
        candidate = min(now_ms, max_event_ms) - max_out_of_orderness_ms
    if caught_up:
        idle = now_ms - max_out_of_orderness_ms
        candidate = idle if candidate is None else max(candidate, idle)
    if candidate is not None and min_event_ms is not None:
        candidate = min(candidate, min_event_ms)
    if candidate is None:
        return current_ms
    return candidate if current_ms is None else max(current_ms, candidate)


# --- the reader -----------------------------------------------------------------------------------------------------


class ReadPartitionFn(beam.DoFn):
    """Splittable DoFn: one Kafka partition's offset range -> SocialEvents (main) and dead letters (tagged).

    Each DoFn instance keeps one KafkaConsumer per partition (assigned, not subscribed: the group only
    stores offsets, it does not balance partitions) so that resuming after a checkpoint keeps the consumer's
    prefetched data, and one more consumer that only commits offsets.
    """

    def __init__(
        self,
        kafka: KafkaSettings | str,
        group_id: str,
        json_ok: bool = False,
        batch_events: bool = False,
        poll_timeout_ms: int = 200,
        max_records_per_call: int = 5000,
        max_call_ms: int = 300,
        max_out_of_orderness_ms: int = 5000,
        consumer_config: dict[str, Any] | None = None,
        commit_offsets: str = POSITION,
    ) -> None:
        self._kafka = KafkaSettings.of(kafka)
        self._group_id = group_id
        self._tail = commit_offsets == TAIL
        self._json_ok = json_ok
        self._batch = batch_events
        self._poll_timeout_ms = poll_timeout_ms
        self._max_records = max_records_per_call
        self._max_call_s = max_call_ms / 1000
        self._max_delay_ms = max_out_of_orderness_ms
        self._config = dict(consumer_config or {})

    def setup(self) -> None:
        self._consumers: dict[Any, Any] = {}
        self._positions: dict[Any, int | None] = {}  # where each consumer will read next, None = unknown
        self._failures: dict[Any, int] = {}
        self._committer = self._new_committer()
        self._events = beam.metrics.Metrics.counter(NAMESPACE, "kafka_events_read")
        self._dead = beam.metrics.Metrics.counter(NAMESPACE, "dead_letters")
        self._broker_errors = beam.metrics.Metrics.counter(NAMESPACE, "kafka_broker_errors")

    def teardown(self) -> None:
        # A copy: on shutdown the runner may tear down while a bundle still opens a consumer in another thread
        # (seen in CI as "dictionary changed size during iteration" from this loop).
        for consumer in list(getattr(self, "_consumers", {}).values()):
            close_quietly(consumer)
        if hasattr(self, "_committer"):
            self._committer.close()

    # -- Kafka plumbing (every call that can meet a broker outage lives here, outside any `yield`) --

    def _new_consumer(self, tp: Any) -> Any:
        """A consumer assigned to `tp` alone. No group: the group only stores offsets (see `_commit`)."""
        from kafka import KafkaConsumer

        config = {
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "client_id": f"reciprocity-read-{tp.topic}-{tp.partition}",
            "bootstrap_timeout_ms": 5_000,  # a call must not block for kafka-python's default 30 s
            # An idle poll lasts as long as the broker holds the fetch (default 500 ms), and idle partitions
            # are polled one after the other: keep each short so new data is seen within a round.
            "fetch_max_wait_ms": self._poll_timeout_ms,
            **self._config,
        }
        consumer = self._kafka.client(KafkaConsumer, **config)
        consumer.assign([tp])
        return consumer

    def _new_committer(self) -> OffsetCommitter:
        return OffsetCommitter(self._kafka, self._group_id, self._config)

    def _consumer_at(self, tp: Any, offset: int) -> Any:
        consumer = self._consumers.get(tp)
        if consumer is None:
            consumer = self._new_consumer(tp)
            self._consumers[tp] = consumer
            self._positions[tp] = None
        if self._positions[tp] != offset:
            consumer.seek(tp, offset)
            self._positions[tp] = offset
        return consumer

    def _drop_consumer(self, tp: Any) -> None:
        consumer = self._consumers.pop(tp, None)
        self._positions.pop(tp, None)
        close_quietly(consumer)

    def _caught_up(self, consumer: Any, tp: Any) -> bool:
        """Asks the broker (ListOffsets), rather than trusting a cached high watermark: during an outage the
        cached value would make every partition look idle and push the watermark to now."""
        end = consumer.end_offsets([tp], timeout_ms=5000)[tp]
        return consumer.position(tp, timeout_ms=5000) >= end

    def _to_output(self, record: Any) -> SocialEvent | beam.pvalue.TaggedOutput:
        """One Kafka record -> a SocialEvent or a tagged dead letter. Never raises on data."""
        source = f"{record.topic}/{record.partition}/{record.offset}"
        value = record.value
        try:
            if value is None:
                raise ContractError("empty message (tombstone)")
            event = wire.decode_event(value, self._json_ok)
        except Exception as error:  # ContractError, and anything a pathological payload provokes
            reason = str(error) if isinstance(error, ContractError) else f"undecodable: {type(error).__name__}: {error}"
            self._dead.inc()
            seen = record.timestamp if record.timestamp and record.timestamp > 0 else int(time.time() * 1000)
            letter = dead_letter(reason, source, value or b"")
            return beam.pvalue.TaggedOutput(DEAD_LETTER, TimestampedValue(letter, seen / 1000))
        self._events.inc()
        return event

    # -- the splittable process --

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: PartitionSpec,
        # The finalizer must come first: Beam passes it positionally and the restriction and watermark
        # parameters by keyword (apache_beam.runners.common._get_arg_placeholders).
        finalizer: Any = beam.DoFn.BundleFinalizerParam,
        tracker: Any = beam.DoFn.RestrictionParam(_PartitionOffsets()),
        watermark: Any = beam.DoFn.WatermarkEstimatorParam(_PartitionWatermark()),
    ) -> Iterator[Any]:
        from kafka import TopicPartition

        # Every call registers a finalizer callback, even one with nothing to commit: Prism sends
        # FinalizeBundle for every bundle of a stage that may need it, the SDK answers it with an error for
        # a bundle that registered no callback, and Prism then fails the job (seen with idle partitions).
        finalizer.register(_nothing)
        restriction: OffsetRange = tracker.current_restriction()
        start, stop = restriction.start, restriction.stop
        if start >= stop:
            return
        tp = TopicPartition(element[0], element[1])
        deadline = time.monotonic() + self._max_call_s
        next_offset = start  # the first offset not yet handled
        span_start = start  # the first offset not yet reported on the "offsets" output (`tail`)
        max_event_ms: int | None = None
        min_event_ms: int | None = None
        caught_up = False
        emitted = 0
        while True:
            try:
                consumer = self._consumer_at(tp, next_offset)
                limit = max(1, min(500, self._max_records - emitted))
                records = consumer.poll(timeout_ms=self._poll_timeout_ms, max_records=limit).get(tp, [])
                if not records:
                    position = consumer.position(tp, timeout_ms=5000)
                    if stop < UNBOUNDED and position >= stop:  # the rest of the range is gaps/control records
                        tracker.try_claim(stop)
                        yield from self._progress(finalizer, tp, element, span_start, stop, watermark)
                        self._positions[tp] = None
                        return
                    caught_up = stop >= UNBOUNDED and self._caught_up(consumer, tp)
                self._failures.pop(tp, None)
            except kafka_errors() as error:
                if is_fatal(error):  # refused credentials or certificate: waiting will not help
                    raise fatal(self._kafka, error) from None
                # The broker is away (or the consumer broke): wait here rather than deferring with a delay,
                # so this partition stays in the same bundle as the others (see the module docstring).
                failures = self._failures[tp] = self._failures.get(tp, 0) + 1
                self._broker_errors.inc()
                _LOGGER.warning(
                    "kafka: reading %s/%d at offset %d failed (%s: %s); retry %d",
                    tp.topic,
                    tp.partition,
                    next_offset,
                    type(error).__name__,
                    error,
                    failures,
                )
                if failures > 1 or isinstance(error, RuntimeError):  # kafka-python: "NetworkSelector closed!"
                    self._drop_consumer(tp)
                time.sleep(backoff_s(failures))
                break
            batch: list[SocialEvent] = []
            finished = False
            poll_newest: int | None = None
            poll_oldest: int | None = None
            for record in records:
                if not tracker.try_claim(record.offset):  # at or past the stop offset: the range is done
                    finished = True
                    break
                next_offset = record.offset + 1
                emitted += 1
                output = self._to_output(record)
                if isinstance(output, SocialEvent):
                    if poll_newest is None or output.event_time > poll_newest:
                        poll_newest = output.event_time
                    if poll_oldest is None or output.event_time < poll_oldest:
                        poll_oldest = output.event_time
                    if self._batch:
                        batch.append(output)
                    else:
                        yield _stamped(output, output.event_time)
                else:
                    yield output
            if batch:
                # Stamped with its earliest event: an element is never later than anything it carries.
                yield _stamped(batch, min(event.event_time for event in batch))
            if poll_newest is not None:
                max_event_ms = poll_newest if max_event_ms is None else max(max_event_ms, poll_newest)
            if poll_oldest is not None:
                min_event_ms = poll_oldest if min_event_ms is None else min(min_event_ms, poll_oldest)
            if self._tail and next_offset > span_start:  # a span per poll: the tail is found to a poll's span
                yield self._span(element, span_start, next_offset, poll_newest, poll_oldest, watermark)
                span_start = next_offset
            if finished:
                yield from self._progress(finalizer, tp, element, span_start, stop, watermark)
                self._positions[tp] = None  # the consumer read past `stop`
                return
            self._positions[tp] = next_offset
            if caught_up or emitted >= self._max_records or time.monotonic() >= deadline:
                break

        current = watermark.current_watermark()
        current_ms = None if current is None or current <= MIN_TIMESTAMP else current.micros // 1000
        now_ms = int(time.time() * 1000)
        new_ms = next_watermark_ms(current_ms, max_event_ms, caught_up, now_ms, self._max_delay_ms, min_event_ms)
        if new_ms is not None and new_ms != current_ms:
            watermark.set_watermark(Timestamp(micros=new_ms * 1000))
        # `position`: with nothing read this commits `start`, which is safe (the runner persisted the bundles before
        # it to hand us this restriction) and heals a commit that failed earlier, e.g. during a broker outage.
        yield from self._progress(finalizer, tp, element, span_start, next_offset, watermark)
        _LOGGER.debug(
            "kafka: %s/%d read [%d, %d), watermark %s%s; checkpoint",
            tp.topic,
            tp.partition,
            start,
            next_offset,
            new_ms,
            " (caught up)" if caught_up else "",
        )
        tracker.defer_remainder()

    def _progress(
        self, finalizer: Any, tp: Any, element: PartitionSpec, first: int, end: int, wm: Any
    ) -> Iterator[Any]:
        """A call's end, having read up to `end`: `position` commits it from the bundle finalizer (never raises: a
        finalizer error is only logged by the SDK, and Prism fails the job on one); `tail` reports the rest of
        the span (offsets that held no record: gaps, control records)."""
        if not self._tail:
            finalizer.register(lambda: self._committer.commit({tp: end}))
        elif end > first:
            yield self._span(element, first, end, None, None, wm)

    @staticmethod
    def _span(element: PartitionSpec, first: int, end: int, newest: int | None, oldest: int | None, wm: Any) -> Any:
        """[first, end) and its newest event_time for `CommitReadTail`, stamped no later than its events (with
        none, at the partition's watermark)."""
        stamp = Timestamp(micros=oldest * 1000) if oldest is not None else wm.current_watermark()
        value = (element[0], (element[1], element[2], first, end, newest))
        return beam.pvalue.TaggedOutput(OFFSETS, TimestampedValue(value, MIN_TIMESTAMP if stamp is None else stamp))


def _disable_prism_sdf_splits(pipeline: beam.Pipeline) -> None:
    """Adds the experiment that stops Prism splitting SDF bundles it finds slow (see the module docstring).
    Only Prism reads it; the options are sent to the runner at run(), after every expand()."""
    options = pipeline.options.view_as(DebugOptions) if pipeline.options is not None else None
    if options is not None and PRISM_NO_SDF_SPLIT not in (options.experiments or []):
        options.add_experiment(PRISM_NO_SDF_SPLIT)


class ReadSocialEventsFromKafka(beam.PTransform):
    """SocialEvents from a Kafka topic. Output: {"events": ..., "dead_letter": ...}.

    Messages are Avro single-object encoded SocialEvents (pipelines/io/wire.py); with `json_ok`, JSON
    objects too. Events are timestamped with their event_time. With `batch_events`, "events" holds lists
    instead: the valid events of one poll (up to 500 of a partition), stamped with the earliest event_time
    among them; a runner's per-element cost is then paid per poll (ComputeReciprocity takes either). With
    `commit_offsets="tail"` the output also holds "offsets", the spans read, for `CommitReadTail`. See the
    module docstring for the watermark, offsets and failure handling.
    """

    def __init__(
        self,
        kafka: KafkaSettings | str,
        topic: str,
        group_id: str,
        until_end_offsets: bool = False,
        json_ok: bool = False,
        batch_events: bool = False,
        poll_timeout_ms: int = 200,
        max_records_per_call: int = 5000,
        max_call_ms: int = 300,
        max_out_of_orderness_ms: int = 5000,
        consumer_config: dict[str, Any] | None = None,
        commit_offsets: str = POSITION,
    ) -> None:
        super().__init__()
        if max_out_of_orderness_ms < 0:
            raise ValueError("max_out_of_orderness_ms must not be negative")
        if commit_offsets not in COMMIT_MODES:
            raise ValueError(f"commit_offsets must be one of {', '.join(COMMIT_MODES)}, got {commit_offsets!r}")
        self._tail = commit_offsets == TAIL
        self._kafka = KafkaSettings.of(kafka)
        self._topic = topic
        self._group_id = group_id
        self._until_end = until_end_offsets
        self._read = ReadPartitionFn(
            self._kafka,
            group_id,
            json_ok=json_ok,
            batch_events=batch_events,
            poll_timeout_ms=poll_timeout_ms,
            max_records_per_call=max_records_per_call,
            max_call_ms=max_call_ms,
            max_out_of_orderness_ms=max_out_of_orderness_ms,
            consumer_config=consumer_config,
            commit_offsets=commit_offsets,
        )
        self._consumer_config = consumer_config

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        _disable_prism_sdf_splits(pbegin.pipeline)
        outputs = (
            pbegin
            | "Impulse" >> beam.Impulse()
            | "Partitions"
            >> beam.ParDo(
                DiscoverPartitionsFn(self._kafka, self._topic, self._group_id, self._until_end, self._consumer_config)
            )
            | "Read" >> beam.ParDo(self._read).with_outputs(DEAD_LETTER, OFFSETS, main="events")
        )
        read = {"events": outputs.events, "dead_letter": outputs[DEAD_LETTER]}
        if self._tail:
            read[OFFSETS] = outputs[OFFSETS]
        return read
