"""Reading a Kafka topic to the end offsets seen at start: for consumers that take a snapshot and finish (the
report, the bench's checks), unlike the pipeline's source (pipelines/io/kafka/source.py), which tails a topic.

No consumer group and nothing committed: a snapshot never moves anyone's offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipelines.io.kafka.security import KafkaSettings


def read_to_end(
    kafka: KafkaSettings | str, topic: str, timeout_s: float = 30.0, last: int | None = None
) -> Iterator[Any]:
    """Every message (kafka-python ConsumerRecord) of `topic` up to the end offsets seen at start, partition
    by partition interleaved as the broker returns them; with `last`, only each partition's `last` latest.
    ValueError when the topic does not exist or the broker stops answering for `timeout_s`."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    settings = KafkaSettings.of(kafka)
    bootstrap = settings.bootstrap
    try:
        consumer = settings.client(
            KafkaConsumer,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=30_000,
            bootstrap_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaError as error:
        raise ValueError(f"--kafka_bootstrap {bootstrap}: {error}") from None
    try:
        known = consumer.partitions_for_topic(topic)
        if not known:
            raise ValueError(f"topic {topic!r} does not exist on {bootstrap}")
        partitions = [TopicPartition(topic, p) for p in sorted(known)]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        if last is None:
            consumer.seek_to_beginning(*partitions)
        else:
            begins = consumer.beginning_offsets(partitions)
            for tp in partitions:
                consumer.seek(tp, max(begins[tp], ends[tp] - last))
        left = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
        idle_polls = 0
        while left:
            batches = consumer.poll(timeout_ms=1000, max_records=10_000)
            idle_polls = 0 if batches else idle_polls + 1
            if idle_polls > timeout_s:
                raise ValueError(f"topic {topic!r}: no message for {timeout_s:.0f} s before its end offsets")
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset < ends[tp]:
                        yield message
            left = {tp for tp in left if consumer.position(tp) < ends[tp]}
    except KafkaError as error:
        raise ValueError(f"topic {topic!r} on {bootstrap}: {error}") from None
    finally:
        consumer.close()
