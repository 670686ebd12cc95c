"""The pure-Python Kafka source and sinks (pipelines/io/kafka/: source.py, sinks.py).

The first half drives ReadPartitionFn by hand with a fake consumer: checkpoints, the watermark policy, the
done condition, broker errors and commits, in milliseconds. The second half runs real pipelines on Prism
against the real local broker (deploy/local/kafka.sh: see the `broker` fixture in tests/conftest.py), each
test on topics of its own.
"""

from __future__ import annotations

import logging
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import apache_beam as beam
import pytest
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions
from apache_beam.runners.runner import PipelineState
from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp
from kafka.errors import KafkaConnectionError

from pipelines.io import wire
from pipelines.io.files import DEAD_LETTER
from pipelines.io.kafka import (
    UNBOUNDED,
    ReadPartitionFn,
    ReadSocialEventsFromKafka,
    WriteDeadLettersToKafka,
    WriteToKafka,
    next_watermark_ms,
)
from pipelines.io.kafka.commit import OffsetCommitter
from pipelines.io.kafka.security import KafkaSettings
from pipelines.io.kafka.source import _CheckpointOnlyOffsetTracker
from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import SocialEvent
from pipelines.model.reference import reference
from pipelines.simulator import SimulationConfig, build_network, generate
from pipelines.transforms.reciprocity import ComputeReciprocity
from tests.conftest import KAFKA_SCRIPT, LocalBroker, free_port, kafka_env

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3_600_000

# --- ReadPartitionFn with a fake consumer -----------------------------------------------------------------------


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    value: bytes | None


class FakeConsumer:
    """Just the part of KafkaConsumer that ReadPartitionFn uses, over an in-memory partition."""

    def __init__(self, records: list[Record], end: int | None = None) -> None:
        self.records = records
        self.end = end if end is not None else (records[-1].offset + 1 if records else 0)
        self._position = 0
        self.fail_next = 0
        self.commits: list[dict] = []

    def seek(self, tp: Any, offset: int) -> None:
        self._position = offset

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        if self.fail_next:
            self.fail_next -= 1
            raise KafkaConnectionError("broker went away")
        batch = [r for r in self.records if r.offset >= self._position][:max_records]
        if batch:
            self._position = batch[-1].offset + 1
        elif self._position < self.end:
            self._position = self.end  # the rest are control records or compacted away
        return {self.tp: batch} if batch else {}

    def position(self, tp: Any, timeout_ms: int | None = None) -> int:
        return self._position

    def end_offsets(self, tps: list, timeout_ms: int | None = None) -> dict:
        return {tp: self.end for tp in tps}

    def commit(self, offsets: dict, timeout_ms: int | None = None) -> None:
        if self.fail_next:
            raise KafkaConnectionError("coordinator not available")
        self.commits.append({tp.partition: meta.offset for tp, meta in offsets.items()})

    def close(self, autocommit: bool = False) -> None:
        pass


class Finalizer:
    def __init__(self) -> None:
        self.callbacks: list = []

    def register(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def finalize(self) -> None:
        for callback in self.callbacks:
            callback()


class FakeReadFn(ReadPartitionFn):
    def __init__(self, consumer: FakeConsumer, committer: FakeConsumer, **kwargs: Any) -> None:
        super().__init__("fake:9092", "group", **kwargs)
        self.consumer, self.committer = consumer, committer

    def _new_consumer(self, tp: Any) -> FakeConsumer:
        self.consumer.tp = tp
        return self.consumer

    def _new_committer(self) -> OffsetCommitter:
        return FakeCommitter(self.committer)


class FakeCommitter(OffsetCommitter):
    def __init__(self, consumer: FakeConsumer) -> None:
        super().__init__(KafkaSettings("fake:9092"), "group")
        self.fake = consumer

    def _new_consumer(self) -> FakeConsumer:
        return self.fake


def _event(i: int, t: int) -> SocialEvent:
    return SocialEvent(f"e{i}", "REPLY", f"fan{i}", t, target_account_id="guru")


def _records(times: list[int], malformed_at: frozenset[int] = frozenset()) -> list[Record]:
    return [
        Record(
            "t", 0, i, 1_000 + i, b"junk" if i in malformed_at else wire.encode(_event(i, t).to_record(), "SocialEvent")
        )
        for i, t in enumerate(times)
    ]


class Call(NamedTuple):
    outputs: list
    residual: OffsetRange | None
    watermark: Timestamp
    finalizer: Finalizer
    tracker: ThreadsafeRestrictionTracker


def call(fn: ReadPartitionFn, restriction: OffsetRange, watermark: Timestamp = MIN_TIMESTAMP) -> Call:
    """One process() call, the way the SDK harness makes it; returns what the runner would get back."""
    tracker = ThreadsafeRestrictionTracker(_CheckpointOnlyOffsetTracker(restriction))
    estimator = ManualWatermarkEstimator(watermark)
    finalizer = Finalizer()
    outputs = list(
        fn.process(("t", 0, restriction.start, restriction.stop), finalizer, RestrictionTrackerView(tracker), estimator)
    )
    deferred = tracker.deferred_status()
    if deferred is None:
        tracker.check_done()
    return Call(outputs, deferred[0] if deferred else None, estimator.current_watermark(), finalizer, tracker)


@pytest.fixture
def read_fn() -> Iterator[Any]:
    made: list[FakeReadFn] = []

    def make(records: list[Record], end: int | None = None, **kwargs: Any) -> FakeReadFn:
        fn = FakeReadFn(FakeConsumer(records, end), FakeConsumer([]), poll_timeout_ms=1, **kwargs)
        fn.setup()
        made.append(fn)
        return fn

    yield make
    for fn in made:
        fn.teardown()


def test_reads_to_the_end_offset_then_finishes(read_fn):
    times = [HOUR + i for i in range(6)]
    fn = read_fn(_records(times, malformed_at=frozenset({2})))
    result = call(fn, OffsetRange(0, 6))
    assert result.residual is None  # done: no checkpoint
    events = [o for o in result.outputs if not isinstance(o, beam.pvalue.TaggedOutput)]
    letters = [o for o in result.outputs if isinstance(o, beam.pvalue.TaggedOutput)]
    assert [e.value.event_id for e in events] == ["e0", "e1", "e3", "e4", "e5"]
    assert all(e.timestamp == Timestamp(micros=e.value.event_time * 1000) for e in events)
    assert [(d.tag, d.value.value["source"], d.value.value["raw"]) for d in letters] == [
        (DEAD_LETTER, "t/0/2", b"junk")
    ]
    assert "bad marker" in letters[0].value.value["reason"]
    # Offsets are committed by the bundle finalizer only, i.e. once the runner has the outputs.
    assert fn.committer.commits == []
    result.finalizer.finalize()
    assert fn.committer.commits == [{0: 6}]


def test_with_tail_commits_the_source_reports_each_polls_span_and_commits_nothing(read_fn):
    """`commit_offsets="tail"`: each poll's span [first, next) with its newest event_time goes to the "offsets"
    output, stamped with its oldest event (never later than what it carries); the offsets without records at the
    end of the range come as a span with no event; nothing is committed by the source."""
    times = [HOUR + 10, HOUR + 5, HOUR + 30, HOUR, HOUR + 7]
    fn = read_fn(_records(times, malformed_at=frozenset({4})), end=7, commit_offsets="tail")
    fn._max_records = 10
    fn.consumer.poll = _in_polls_of(fn.consumer.poll, 2)
    result = call(fn, OffsetRange(0, 7))
    assert result.residual is None
    spans = [(o.value.value, o.value.timestamp) for o in result.outputs if getattr(o, "tag", None) == "offsets"]
    assert spans == [
        (("t", (0, 0, 0, 2, HOUR + 10)), Timestamp(micros=(HOUR + 5) * 1000)),
        (("t", (0, 0, 2, 4, HOUR + 30)), Timestamp(micros=HOUR * 1000)),
        (("t", (0, 0, 4, 5, None)), MIN_TIMESTAMP),  # only a dead letter: no event time, the watermark's stamp
        (("t", (0, 0, 5, 7, None)), MIN_TIMESTAMP),  # no records there (control records, compaction)
    ]
    result.finalizer.finalize()
    assert fn.committer.commits == []


def _in_polls_of(poll: Any, size: int) -> Any:
    return lambda timeout_ms, max_records: poll(timeout_ms, min(size, max_records))


def test_a_stop_offset_beyond_the_last_record_still_finishes(read_fn):
    """Transaction markers and compaction leave offsets without records; the range must end anyway."""
    fn = read_fn(_records([HOUR, HOUR + 1]), end=5)
    result = call(fn, OffsetRange(0, 5))
    assert result.residual is None and len(result.outputs) == 2
    result.finalizer.finalize()
    assert fn.committer.commits == [{0: 5}]


def test_checkpoints_after_max_records_and_resumes_where_it_stopped(read_fn):
    times = [HOUR * i for i in range(10)]
    fn = read_fn(_records(times), max_records_per_call=4, max_out_of_orderness_ms=1000)
    first = call(fn, OffsetRange(0, 10))
    assert len(first.outputs) == 4 and first.residual == OffsetRange(4, 10)
    # Highest event time - out-of-orderness, but never past the earliest event the call emitted (times[0]).
    assert first.watermark == Timestamp(micros=min(times[3] - 1000, times[0]) * 1000)
    second = call(fn, first.residual, first.watermark)
    assert [o.value.event_id for o in second.outputs] == ["e4", "e5", "e6", "e7"]
    assert second.residual == OffsetRange(8, 10)
    first.finalizer.finalize()
    second.finalizer.finalize()
    assert fn.committer.commits == [{0: 4}, {0: 8}]


def test_an_unbounded_read_checkpoints_and_an_idle_partition_moves_the_watermark_to_now(read_fn):
    fn = read_fn(_records([HOUR, 2 * HOUR]), max_out_of_orderness_ms=5000)
    before = int(time.time() * 1000)
    result = call(fn, OffsetRange(0, UNBOUNDED))
    assert len(result.outputs) == 2 and result.residual == OffsetRange(2, UNBOUNDED)
    # Caught up (the broker says there is nothing after offset 2), but the call emitted an event at HOUR: the
    # watermark stops there rather than at now - 5 s.
    assert result.watermark == Timestamp(micros=HOUR * 1000)
    result.finalizer.finalize()
    assert fn.committer.commits == [{0: 2}]
    # Nothing new: it stays caught up, checkpoints at the same offset, and the idle partition's watermark moves to
    # now - 5 s, far past the old event times.
    again = call(fn, result.residual, result.watermark)
    assert again.outputs == [] and again.residual == OffsetRange(2, UNBOUNDED)
    assert before - 5000 <= again.watermark.micros // 1000 <= int(time.time() * 1000) - 5000
    assert again.finalizer.callbacks, "a bundle must always ask for finalization (Prism finalizes them all)"
    again.finalizer.finalize()
    assert fn.committer.commits == [{0: 2}]  # already committed: not again


def test_a_commit_lost_to_an_outage_is_made_good_by_the_next_call(read_fn):
    fn = read_fn(_records([HOUR, HOUR + 1]))
    first = call(fn, OffsetRange(0, UNBOUNDED))
    fn.committer.fail_next = 1
    first.finalizer.finalize()
    fn.committer.fail_next = 0
    assert fn.committer.commits == []
    idle = call(fn, first.residual, first.watermark)
    assert idle.outputs == []
    idle.finalizer.finalize()
    assert fn.committer.commits == [{0: 2}]


def test_a_broker_error_is_waited_out_and_the_partition_resumes(read_fn, caplog):
    fn = read_fn(_records([HOUR, HOUR + 1]))
    fn.consumer.fail_next = 1
    with caplog.at_level(logging.WARNING, logger="pipelines.io.kafka"):
        failed = call(fn, OffsetRange(0, 2), Timestamp(micros=7))
    assert failed.outputs == [] and failed.residual == OffsetRange(0, 2)
    assert failed.watermark == Timestamp(micros=7)  # an outage is not idleness
    assert "KafkaConnectionError" in caplog.text
    resumed = call(fn, failed.residual, failed.watermark)
    assert len(resumed.outputs) == 2 and resumed.residual is None


def test_a_failed_commit_is_logged_and_never_raises(read_fn, caplog):
    fn = read_fn(_records([HOUR]))
    result = call(fn, OffsetRange(0, 1))
    fn.committer.fail_next = 1
    with caplog.at_level(logging.WARNING, logger="pipelines.io.kafka"):
        result.finalizer.finalize()
    assert "committing t/0 offset 1 failed" in caplog.text


def test_runner_splits_are_refused_but_checkpoints_are_not():
    tracker = _CheckpointOnlyOffsetTracker(OffsetRange(0, 100))
    assert tracker.try_claim(10)
    assert tracker.try_split(0.5) is None
    assert tracker.try_split(0) == (OffsetRange(0, 11), OffsetRange(11, 100))
    assert not _CheckpointOnlyOffsetTracker(OffsetRange(0, UNBOUNDED)).is_bounded()


@pytest.mark.parametrize(
    ("current", "max_event", "caught_up", "expected"),
    [
        (None, None, False, None),  # nothing known yet
        (None, 50_000, False, 45_000),  # highest event time - out-of-orderness
        (60_000, 50_000, False, 60_000),  # never backwards
        (None, 500_000, False, 95_000),  # an event stamped in the future is capped at now
        (None, None, True, 95_000),  # idle: now - out-of-orderness
        (10_000, 20_000, True, 95_000),
    ],
)
def test_watermark_policy(current, max_event, caught_up, expected):
    assert next_watermark_ms(current, max_event, caught_up, now_ms=100_000, max_out_of_orderness_ms=5_000) == expected


@pytest.mark.parametrize(
    ("current", "max_event", "min_event", "caught_up", "expected"),
    [
        (None, 50_000, 10_000, False, 10_000),  # never past the earliest event the call emitted
        (None, 50_000, 48_000, False, 45_000),  # a poll narrower than the out-of-orderness: the usual rule
        (20_000, 50_000, 10_000, False, 20_000),  # still never backwards
        (None, 30_000, 30_000, True, 30_000),  # caught up after emitting: not past that event either
    ],
)
def test_watermark_never_passes_an_event_of_the_same_call(current, max_event, min_event, caught_up, expected):
    got = next_watermark_ms(
        current, max_event, caught_up, now_ms=100_000, max_out_of_orderness_ms=5_000, min_event_ms=min_event
    )
    assert got == expected


class FakeFuture:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def add_errback(self, callback: Any) -> None:
        if self.error is not None:
            callback(self.error)


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.fail = fail
        self.flushed = 0

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> FakeFuture:
        self.sent.append((topic, key, value))
        return FakeFuture(KafkaConnectionError("no leader") if self.fail else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushed += 1

    def close(self, timeout: float | None = None) -> None:
        pass


def _produce_fn(producer: FakeProducer, schema: str = "SocialEvent", key_field: str | None = "actor_id") -> Any:
    fn = WriteToKafka("fake:9092", "out", schema, key_field=key_field)._fn
    fn._new_producer = lambda: producer
    fn.setup()
    fn.start_bundle()
    return fn


def test_the_sink_writes_single_object_avro_keyed_and_flushes_per_bundle():
    producer = FakeProducer()
    fn = _produce_fn(producer)
    event = _event(1, HOUR)
    fn.process(event.to_record())
    fn.finish_bundle()
    assert producer.flushed == 1
    [(topic, key, value)] = producer.sent
    assert (topic, key) == ("out", b"fan1") and wire.decode_event(value) == event


def test_a_failed_send_fails_the_bundle_so_the_runner_retries_it():
    fn = _produce_fn(FakeProducer(fail=True), "DeadLetter", key_field=None)
    fn.process({"reason": "r", "source": "s", "raw": b"x", "seen_at": 1})
    with pytest.raises(RuntimeError, match="1 of 1 messages to Kafka topic out failed: KafkaConnectionError"):
        fn.finish_bundle()


def test_an_unknown_schema_fails_at_construction():
    with pytest.raises(KeyError, match="unknown schema"):
        WriteToKafka("fake:9092", "out", "Nope")


def test_the_source_turns_off_prisms_bundle_splitting():
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    _ = pipeline | ReadSocialEventsFromKafka("fake:9092", "topic", "group")
    assert "prism_disable_sdf_split" in pipeline.options.view_as(DebugOptions).experiments


# --- against the real broker, on Prism --------------------------------------------------------------------------

PRISM = ROOT / ".cache" / "bin" / "prism"
PIPELINE_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def prism() -> str:
    subprocess.run(["bash", str(ROOT / "deploy" / "local" / "prism.sh")], check=True, capture_output=True, timeout=900)
    return str(PRISM)


@pytest.fixture(scope="module")
def topics(broker: str) -> Iterator[Any]:
    """make(name -> partitions) creates uniquely named topics; all are deleted at the end of the module."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=broker)
    created: list[str] = []

    def make(**partitions: int) -> dict[str, str]:
        run = uuid.uuid4().hex[:10]
        names = {role: f"test-{run}-{role}" for role in partitions}
        admin.create_topics([NewTopic(names[r], n, 1) for r, n in partitions.items()], wait_for_metadata=True)
        created.extend(names.values())
        return names

    yield make
    try:
        admin.delete_topics(created)
    finally:
        admin.close()


def produce(broker: str, topic: str, messages: list[tuple[bytes | None, bytes]], partition: int | None = None) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=20)
    for key, value in messages:
        producer.send(topic, key=key, value=value, partition=partition)
    producer.flush(timeout=60)
    producer.close()


def read_all(broker: str, topic: str) -> list[tuple[str, dict]]:
    """Every message now in the topic, decoded."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(tps)
        out: list[tuple[str, dict]] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for records in consumer.poll(timeout_ms=500).values():
                out += [wire.decode(r.value) for r in records]
        return out
    finally:
        consumer.close()


def committed(broker: str, group: str, topic: str) -> tuple[dict[int, int | None], dict[int, int]]:
    """(the group's committed offset per partition, the end offset per partition)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=broker, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends = consumer.end_offsets(tps)
        return {tp.partition: consumer.committed(tp) for tp in tps}, {tp.partition: ends[tp] for tp in tps}
    finally:
        consumer.close(autocommit=False)


class RunnerLog(logging.Handler):
    """Keeps what Beam's runners log, to tell which runner really ran the pipeline."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")

    def __enter__(self) -> RunnerLog:
        self._saved = logging.getLogger("apache_beam").level, logging.getLogger("PrismRunner").level
        for name in ("apache_beam", "PrismRunner"):
            logging.getLogger(name).addHandler(self)
            logging.getLogger(name).setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, level in zip(("apache_beam", "PrismRunner"), self._saved, strict=True):
            logging.getLogger(name).removeHandler(self)
            logging.getLogger(name).setLevel(level)


def streaming_options(prism: str) -> PipelineOptions:
    # The DirectRunner, as the product uses it: it must pick Prism (the test checks it did), since its
    # fallbacks cannot run this pipeline (the bundle-based runner holds an SDF's watermark at -inf).
    # PrismRunner, not DirectRunner: the DirectRunner falls back quietly to the batch FnApiRunner, on which an
    # endless read never returns; with PrismRunner a Prism problem fails the test instead of hanging it.
    # disable_prism_server_singleton: Beam keeps one Prism job server per process, and a batch test that ran on
    # the DirectRunner earlier in this process leaves one without --prism_location (it tried to download Prism).
    return PipelineOptions(
        [
            "--runner=PrismRunner",
            f"--prism_location={prism}",
            "--streaming",
            "--experiments=disable_prism_server_singleton",
        ]
    )


def run_to_completion(pipeline: beam.Pipeline) -> tuple[Any, list[str], float]:
    with RunnerLog() as log:
        started = time.monotonic()
        result = pipeline.run()
        state = result.wait_until_finish(duration=PIPELINE_TIMEOUT_S * 1000)
        elapsed = time.monotonic() - started
    if state != PipelineState.DONE:
        result.cancel()
        pytest.fail(f"pipeline did not finish within {PIPELINE_TIMEOUT_S}s (state {state})")
    return result, log.lines, elapsed


def assert_ran_on_prism(log: list[str], result: Any) -> None:
    """The job ran on Prism: a portable job's result (Prism's job service), and no fallback in the log."""
    from apache_beam.runners.portability.portable_runner import PipelineResult as PortableResult

    tail = "\n".join(log[-20:])
    assert not any("falling back" in line.lower() for line in log), tail
    assert isinstance(result, PortableResult), type(result)


MALFORMED = [
    b"not an avro message",
    b"\xc3\x01" + bytes(8) + b"\x02x",  # unknown fingerprint
    b"{}",  # JSON, not enabled
]


def malformed_messages(sample: SocialEvent) -> list[bytes]:
    no_target = {**sample.to_record(), "event_type": "REPLY", "target_account_id": None}
    return [
        *MALFORMED,
        wire.encode(sample.to_record(), "SocialEvent")[:-4],  # truncated
        wire.encode(no_target, "SocialEvent"),  # breaks the contract
    ]


class EndToEnd(NamedTuple):
    result: Any
    events: list[SocialEvent]
    malformed: int
    topics: dict[str, str]
    group: str
    log: list[str]
    seconds: float


CONFIG = ReciprocityConfig(min_inbound=10)


@pytest.fixture(scope="module")
def end_to_end(broker: str, prism: str, topics: Any) -> EndToEnd:
    """Simulated events (in event-time order, keyed by actor, as a live feed would be) plus malformed messages
    on a 4-partition topic -> Kafka source -> streaming reciprocity -> Kafka sinks, on Prism, to the end."""
    names = topics(events=4, windows=2, alerts=2, dead=1)
    events = sorted(
        generate(build_network(SimulationConfig(seed=7, gurus=12, fans=600, days=3))), key=lambda e: e.event_time
    )
    bad = malformed_messages(events[0])
    half = len(events) // 2
    encoded = [(e.actor_id.encode(), wire.encode(e.to_record(), "SocialEvent")) for e in events]
    produce(broker, names["events"], encoded[:half] + [(None, b) for b in bad] + encoded[half:])

    group = f"test-{uuid.uuid4().hex[:10]}"
    pipeline = beam.Pipeline(options=streaming_options(prism))
    read = pipeline | ReadSocialEventsFromKafka(
        broker, names["events"], group, until_end_offsets=True, batch_events=True
    )
    results = read["events"] | ComputeReciprocity(CONFIG, streaming=True)
    results["windows"] | "WriteWindows" >> WriteToKafka(broker, names["windows"], "AccountWindow")
    results["alerts"] | "WriteAlerts" >> WriteToKafka(broker, names["alerts"], "EngagementAlert")
    dead = (read["dead_letter"], results["late"]) | beam.Flatten()
    dead | "WriteDeadLetters" >> WriteDeadLettersToKafka(broker, names["dead"])
    result, log, seconds = run_to_completion(pipeline)
    rate = len(events) / seconds
    print(f"\nPrism end to end: {len(events)} events + {len(bad)} malformed in {seconds:.1f}s ({rate:.0f} events/s)")
    return EndToEnd(result, events, len(bad), names, group, log, seconds)


def test_end_to_end_ran_on_prism(end_to_end):
    assert_ran_on_prism(end_to_end.log, end_to_end.result)


def test_end_to_end_equals_the_batch_reference(broker, end_to_end):
    expected_windows, expected_alerts = reference(end_to_end.events, CONFIG)
    windows = [r for name, r in read_all(broker, end_to_end.topics["windows"]) if name == "AccountWindow"]
    alerts = [r for name, r in read_all(broker, end_to_end.topics["alerts"]) if name == "EngagementAlert"]

    def by_window(w: dict) -> tuple:
        return w["account_id"], w["window_end"]

    assert expected_alerts, "the simulation should raise alerts"
    assert sorted(a["alert_id"] for a in alerts) == sorted(a["alert_id"] for a in expected_alerts)
    assert sorted(alerts, key=lambda a: a["alert_id"]) == sorted(expected_alerts, key=lambda a: a["alert_id"])
    assert len(windows) == len(expected_windows)
    assert sorted(windows, key=by_window) == sorted(expected_windows, key=by_window)


def test_end_to_end_dead_letters_are_the_malformed_messages(broker, end_to_end):
    letters = read_all(broker, end_to_end.topics["dead"])
    assert {name for name, _ in letters} == {"DeadLetter"}
    assert len(letters) == end_to_end.malformed  # and no late events: the watermark never overtook the data
    sources = [r["source"] for _, r in letters]
    assert all(s.startswith(end_to_end.topics["events"] + "/") and s.count("/") == 2 for s in sources)
    raws = sorted(r["raw"] for _, r in letters)
    assert raws == sorted(malformed_messages(end_to_end.events[0]))
    reasons = " | ".join(r["reason"] for _, r in letters)
    for expected in (
        "bad marker",
        "unknown schema fingerprint",
        "truncated or corrupt SocialEvent body",
        "needs target_account_id",
    ):
        assert expected in reasons


def test_offsets_are_committed_and_a_restart_resumes_from_them(broker, prism, topics, end_to_end):
    """After the run every partition's committed offset is its end; a second run with the same group reads
    only what was produced since (and commits again)."""
    source = end_to_end.topics["events"]
    offsets, ends = committed(broker, end_to_end.group, source)
    assert offsets == ends

    more = [_event(1000 + i, HOUR * 1000 + i) for i in range(25)]
    produce(broker, source, [(e.actor_id.encode(), wire.encode(e.to_record(), "SocialEvent")) for e in more])
    produce(broker, source, [(None, b"garbage after restart")])
    echo = topics(echo=1, dead=1)
    pipeline = beam.Pipeline(options=streaming_options(prism))
    read = pipeline | ReadSocialEventsFromKafka(broker, source, end_to_end.group, until_end_offsets=True)
    read["events"] | beam.Map(SocialEvent.to_record) | WriteToKafka(broker, echo["echo"], "SocialEvent", "actor_id")
    read["dead_letter"] | WriteDeadLettersToKafka(broker, echo["dead"])
    result, log, _ = run_to_completion(pipeline)
    assert_ran_on_prism(log, result)

    echoed = sorted(r["event_id"] for _, r in read_all(broker, echo["echo"]))
    assert echoed == sorted(e.event_id for e in more)
    assert [r["raw"] for _, r in read_all(broker, echo["dead"])] == [b"garbage after restart"]
    offsets, ends = committed(broker, end_to_end.group, source)
    assert offsets == ends


def test_idle_partitions_do_not_hold_back_the_watermark(broker, prism, topics):
    """An endless read where three of four partitions never receive anything: windows must still be
    emitted while the pipeline runs (event-time timers fire), which needs the idle-partition rule."""
    names = topics(events=4, windows=1)
    config = ReciprocityConfig(window_ms=HOUR, period_ms=HOUR, min_inbound=2)
    base = 1_767_225_600_000  # 2026-01-01T00:00Z
    events = [_event(i, base + i * 60_000) for i in range(4)]
    produce(broker, names["events"], [(None, wire.encode(e.to_record(), "SocialEvent")) for e in events], partition=0)
    expected, _ = reference(events, config)
    assert expected

    pipeline = beam.Pipeline(options=streaming_options(prism))
    read = pipeline | ReadSocialEventsFromKafka(broker, names["events"], f"test-{uuid.uuid4().hex[:10]}")
    results = read["events"] | ComputeReciprocity(config, streaming=True)
    results["windows"] | WriteToKafka(broker, names["windows"], "AccountWindow")
    with RunnerLog() as log:
        result = pipeline.run()
        try:
            deadline = time.monotonic() + 180
            windows: list[dict] = []
            while len(windows) < len(expected) and time.monotonic() < deadline:
                time.sleep(2)
                windows = [r for _, r in read_all(broker, names["windows"])]
            # An endless read: still going, through bundles that read nothing and commit nothing.
            time.sleep(5)
            assert result.state == PipelineState.RUNNING, result.state
        finally:
            result.cancel()
    assert_ran_on_prism(log.lines, result)

    def by_window(w: dict) -> tuple:
        return w["account_id"], w["window_end"]

    assert sorted(windows, key=by_window) == sorted(expected, key=by_window)


@pytest.fixture
def private_broker(local_broker: LocalBroker) -> Iterator[tuple[str, Any]]:
    """A second broker of our own (the shared one must not be stopped under other tests), on free ports,
    reusing the jars of the first. Yields (bootstrap, run) where run("up"|"down") drives it."""
    home = ROOT / ".cache" / "kafka-outage-test"
    home.mkdir(parents=True, exist_ok=True)
    libs = home / "libs"
    if libs.is_symlink() and libs.resolve() != (local_broker.home / "libs").resolve():
        libs.unlink()
    if not libs.exists():
        libs.symlink_to(local_broker.home / "libs")
    port = free_port()
    env = kafka_env(home, port, free_port())

    def run(command: str) -> None:
        subprocess.run(["bash", str(KAFKA_SCRIPT), command], env=env, check=True, capture_output=True, timeout=180)

    run("up")
    try:
        yield f"127.0.0.1:{port}", run
    finally:
        run("down")


def test_an_endless_read_rides_out_a_broker_outage(private_broker, prism):
    """The broker goes away for a while under a running pipeline: the pipeline keeps running, and once the
    broker is back every event is delivered exactly once and the offsets are committed."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    bootstrap, broker_ctl = private_broker
    run = uuid.uuid4().hex[:8]
    source, echo, group = f"outage-{run}", f"outage-{run}-echo", f"outage-{run}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(source, 4, 1), NewTopic(echo, 1, 1)], wait_for_metadata=True)
    admin.close()

    def send(lo: int, hi: int) -> list[SocialEvent]:
        events = [_event(i, HOUR + i) for i in range(lo, hi)]
        produce(bootstrap, source, [(e.actor_id.encode(), wire.encode(e.to_record(), "SocialEvent")) for e in events])
        return events

    def wait_for(count: int, seconds: float) -> list[str]:
        deadline, ids = time.monotonic() + seconds, []
        while time.monotonic() < deadline:
            ids = [r["event_id"] for _, r in read_all(bootstrap, echo)]
            if len(ids) >= count:
                break
            time.sleep(1)
        return ids

    sent = send(0, 100)
    pipeline = beam.Pipeline(options=streaming_options(prism))
    read = pipeline | ReadSocialEventsFromKafka(bootstrap, source, group)
    read["events"] | beam.Map(SocialEvent.to_record) | WriteToKafka(bootstrap, echo, "SocialEvent", "actor_id")
    result = pipeline.run()
    try:
        assert len(wait_for(100, 120)) == 100
        broker_ctl("down")
        time.sleep(10)
        assert result.state == PipelineState.RUNNING, result.state
        broker_ctl("up")
        sent += send(100, 200)
        ids = wait_for(200, 120)
        assert result.state == PipelineState.RUNNING, result.state
        # Commits made while the broker was away failed; the calls after it make them good.
        deadline = time.monotonic() + 30
        while (offsets_and_ends := committed(bootstrap, group, source))[0] != offsets_and_ends[1]:
            assert time.monotonic() < deadline, f"offsets not committed: {offsets_and_ends}"
            time.sleep(1)
    finally:
        result.cancel()
    assert sorted(ids) == sorted(e.event_id for e in sent)  # all delivered, none twice
