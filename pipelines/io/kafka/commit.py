"""Committing the source's offsets to the consumer group, and reading them back at start.

    read = pipeline | ReadSocialEventsFromKafka(kafka, topic, group, commit_offsets=TAIL)
    written = [windows | WriteToKafka(...), alerts | WriteToKafka(...)]
    (read["offsets"], *written) | beam.Flatten() | CommitReadTail(kafka, group, config)  # commits the tail

    resume = read_resume_point(kafka, topic, group, alerts_topic)              # at the next start

Two ways to commit (`--commit_offsets`):

* `position` (the source's bundle finalizer commits what it has read): a restart is quick, but on a runner that
  keeps state in memory (Prism) a `kill -9` loses the windows still open, because their events lie before the
  committed offset; a fresh start with new state on Flink does the same.
* `tail` (default): `CommitTailFn` commits, per partition, the offset from which every event an unpublished window
  needs is read again (pipelines/model/resume.py), with the mark in the commit's metadata. It runs downstream of the
  window and alert sinks, on event-time timers: when its watermark passes T, every window the job emits before T
  (a window ending at E is emitted at E + allowed lateness) has been flushed to Kafka by its sink, since a sink
  flushes at the end of every bundle. Only then are the events before T - lateness - window released, and the
  commit is made from the bundle finalizer: at once on Prism, after the next completed checkpoint on Flink (whose
  watermark alone runs ahead of the outputs, see `_CommitFn`). On Flink, whose checkpoints restore state and read
  positions together, the commit matters only for a fresh start of the job with new state.

A restart reads the mark back (`read_resume_point`, the largest over the partitions: the committer writes one mark
for all) and the alerts published before it, which give each account's alert state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from pipelines.io import wire
from pipelines.io.files import NAMESPACE
from pipelines.io.kafka.common import close_quietly
from pipelines.io.kafka.security import KafkaSettings
from pipelines.model.config import ReciprocityConfig
from pipelines.model.resume import Resume, TailTracker, cutoff_ms, decode_mark, encode_mark, firing_at

_LOGGER = logging.getLogger(__name__)

TAIL, POSITION = "tail", "position"
COMMIT_MODES = (TAIL, POSITION)


class OffsetCommitter:
    """Commits offsets (and metadata) for a consumer group. Never raises: a failed commit is logged and counted,
    and the next commit of the partition covers it."""

    def __init__(self, kafka: KafkaSettings, group_id: str, consumer_config: dict[str, Any] | None = None) -> None:
        self._kafka = kafka
        self._group_id = group_id
        self._config = dict(consumer_config or {})
        self._consumer: Any = None
        self._committed: dict[Any, tuple[int, str]] = {}
        self._commits = beam.metrics.Metrics.counter(NAMESPACE, "kafka_commits")
        self._failures = beam.metrics.Metrics.counter(NAMESPACE, "kafka_commit_failures")

    def _new_consumer(self) -> Any:
        from kafka import KafkaConsumer

        config = {
            "client_id": f"reciprocity-commit-{self._group_id}",
            "bootstrap_timeout_ms": 5_000,  # a finalizer or a timer must not block for kafka-python's 30 s
            **self._config,
            "group_id": self._group_id,
            "enable_auto_commit": False,
        }
        return self._kafka.client(KafkaConsumer, **config)

    def commit(self, offsets: dict[Any, int], metadata: str = "", forward_only: bool = True) -> None:
        """Commits {TopicPartition: offset}; with `forward_only`, skips offsets at or behind the last commit."""
        from kafka.structs import OffsetAndMetadata

        wanted = {
            tp: offset
            for tp, offset in offsets.items()
            if self._committed.get(tp) != (offset, metadata)
            and not (forward_only and offset <= self._committed.get(tp, (-1, ""))[0])
        }
        if not wanted:
            return
        try:
            if self._consumer is None:
                self._consumer = self._new_consumer()
            commit = {tp: OffsetAndMetadata(offset, metadata, -1) for tp, offset in wanted.items()}
            self._consumer.commit(commit, timeout_ms=5_000)
            self._committed.update({tp: (offset, metadata) for tp, offset in wanted.items()})
            self._commits.inc()
        except Exception as error:
            self._failures.inc()
            what = ", ".join(f"{tp.topic}/{tp.partition} offset {offset}" for tp, offset in wanted.items())
            _LOGGER.warning("kafka: committing %s failed (group %s): %s", what, self._group_id, error)
            consumer, self._consumer = self._consumer, None
            close_quietly(consumer)

    def close(self) -> None:
        close_quietly(self._consumer)
        self._consumer = None


class CommitTailFn(beam.DoFn):
    """Stateful, one key (the topic): the spans the source read -> commits of the tail offsets and the mark.

    A span whose newest event is at t stops being needed once every window holding t is published, i.e. when the
    watermark here passes t + window + allowed lateness: a timer is armed for that (rounded up to the period, so
    there are few), and each firing emits every partition's tail with the mark it proves, for `_CommitFn`. The
    mark never moves back behind the one this run resumed from (`resume_ms`): the tail before it was not read.
    """

    TAILS = ReadModifyWriteStateSpec("tails", FastPrimitivesCoder())
    RELEASE = TimerSpec("release", TimeDomain.WATERMARK)

    def __init__(
        self,
        kafka: KafkaSettings,
        group_id: str,
        config: ReciprocityConfig,
        resume_ms: int | None = None,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        self._kafka = kafka
        self._group_id = group_id
        self._window_ms = config.window_ms
        self._lateness_ms = config.allowed_lateness_ms
        self._period_ms = config.period_ms
        self._resume_ms = resume_ms
        self._config = consumer_config

    def setup(self) -> None:
        self._tail_spans = beam.metrics.Metrics.distribution(NAMESPACE, "kafka_tail_spans")

    def _due_ms(self, newest_ms: int) -> int:
        """When the span's events are needed by no unpublished window: a period boundary past newest + horizon."""
        period = self._period_ms
        return (newest_ms + self._window_ms + self._lateness_ms) // period * period + period

    def process(
        self,
        element: tuple[str, tuple[int, int, int, int, int | None]],
        # Prism sends FinalizeBundle for every bundle of a stage that may need it (see `_CommitFn`), and the SDK
        # fails one that registered no callback: every bundle registers one.
        finalizer: Any = beam.DoFn.BundleFinalizerParam,
        timestamp: Timestamp = beam.DoFn.TimestampParam,  # type: ignore[assignment]
        tails: Any = beam.DoFn.StateParam(TAILS),
        release: Any = beam.DoFn.TimerParam(RELEASE),
    ) -> None:
        finalizer.register(_nothing)
        _, span = element
        tracker = TailTracker.from_state(tails.read(), self._period_ms)
        tracker.add(span)
        tails.write(tracker.state())
        newest = span[4]
        due = self._due_ms(newest) if newest is not None else self._due_ms(timestamp.micros // 1000 - self._window_ms)
        release.set(Timestamp(micros=due * 1000), dynamic_timer_tag=str(due))

    @on_timer(RELEASE)
    def on_release(
        self,
        key: str = beam.DoFn.KeyParam,  # type: ignore[assignment]
        fired_at: Timestamp = beam.DoFn.TimestampParam,  # type: ignore[assignment]
        tails: Any = beam.DoFn.StateParam(TAILS),
    ) -> Iterator[tuple[str, dict[int, int], int]]:
        # Every element stamped before `fired_at` has passed the sinks: windows ending before `mark` are out.
        mark = fired_at.micros // 1000 - self._lateness_ms
        if self._resume_ms is not None:
            mark = max(mark, self._resume_ms)
        tracker = TailTracker.from_state(tails.read(), self._period_ms)
        offsets = tracker.release(cutoff_ms(mark, self._window_ms))
        tails.write(tracker.state())
        self._tail_spans.update(tracker.spans())
        yield key, offsets, mark


def _nothing() -> None:
    """A bundle-finalizer callback for bundles with nothing to commit."""


class _CommitFn(beam.DoFn):
    """(topic, {partition: offset}, metadata) -> a commit, from the bundle finalizer: Prism calls it once the
    bundle is done; Flink once a checkpoint holding the bundle has completed. On Flink the watermark is not
    enough: its portable runner forwards a stage's watermark before the outputs of the timers it fired
    (seen: a tail committed up to the end offsets while 302 windows were published, a few hundred short). A
    checkpoint completes only once every stage has finished the bundles before it, so the windows the commit
    says are published have been flushed by their sink."""

    def __init__(self, kafka: KafkaSettings, group_id: str, consumer_config: dict[str, Any] | None) -> None:
        self._kafka = kafka
        self._group_id = group_id
        self._config = consumer_config

    def setup(self) -> None:
        self._committer = OffsetCommitter(self._kafka, self._group_id, self._config)
        self._mark: int | None = None

    def teardown(self) -> None:
        committer = getattr(self, "_committer", None)
        if committer is not None:
            committer.close()

    def process(self, record: tuple[str, dict[int, int], int], finalizer: Any = beam.DoFn.BundleFinalizerParam) -> None:
        from kafka import TopicPartition

        topic, offsets, mark = record
        commit = {TopicPartition(topic, partition): offset for partition, offset in offsets.items()}
        finalizer.register(lambda: self._commit(commit, mark))

    def _commit(self, commit: dict[Any, int], mark: int) -> None:
        if self._mark is not None and mark < self._mark:
            return  # an older release finalized late: never move the mark back
        self._mark = mark
        self._committer.commit(commit, encode_mark(mark), forward_only=False)  # the mark moves, offsets may not


class CommitReadTail(beam.PTransform):
    """The source's "offsets" flattened with every sink's output -> commits of the tail (module docstring).

    The sinks' outputs carry no element: they are there for their watermark, which passes a time only once the
    sink has flushed everything stamped before it."""

    def __init__(
        self,
        kafka: KafkaSettings,
        group_id: str,
        config: ReciprocityConfig,
        resume: Resume | None = None,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        resume_ms = resume.published_before_ms if resume is not None else None
        self._fn = CommitTailFn(kafka, group_id, config, resume_ms, consumer_config)
        self._commit = _CommitFn(kafka, group_id, consumer_config)

    def expand(self, inputs: Any) -> beam.PCollection:
        return (
            inputs
            | "Keyed" >> beam.Map(_same).with_output_types(tuple[str, tuple[int, int, int, int, Any]])
            | "Release" >> beam.ParDo(self._fn)
            | "Commit" >> beam.ParDo(self._commit)
        )


def _same(span: Any) -> Any:
    """Gives the flattened spans their type, so the key (the topic) has a deterministic coder."""
    return span


def read_resume_point(
    kafka: KafkaSettings, topic: str, group_id: str, alerts_topic: str, timeout_s: float = 60.0
) -> Resume | None:
    """The mark the group's last tail commit recorded, with the accounts firing at it (from the alerts published
    before it); None when the group has no tail commit for the topic (a first start, or `position` commits)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = kafka.client(KafkaConsumer, group_id=group_id, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        marks = []
        for partition in sorted(partitions):
            committed = consumer.committed(TopicPartition(topic, partition), metadata=True)
            mark = decode_mark(getattr(committed, "metadata", None))
            if mark is not None:
                marks.append(mark)
    finally:
        close_quietly(consumer)
    if not marks:
        return None
    mark = max(marks)
    return Resume(mark, firing_at(_read_all(kafka, alerts_topic, timeout_s), mark))


def _read_all(kafka: KafkaSettings, topic: str, timeout_s: float) -> list[dict[str, Any]]:
    """Every record of a topic up to its end offsets now, decoded (Avro single-object); undecodable ones skipped."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = kafka.client(KafkaConsumer, group_id=None, enable_auto_commit=False)
    records: list[dict[str, Any]] = []
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} to its end took longer than {timeout_s:g}s")
            for batch in consumer.poll(timeout_ms=500).values():
                for message in batch:
                    try:
                        records.append(wire.decode(message.value)[1])
                    except Exception:  # not ours to judge here: the topic's consumers see it as it is
                        continue
    finally:
        close_quietly(consumer)
    return records
