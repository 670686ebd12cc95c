"""Kafka IO in pure Python (kafka-python), split by responsibility:

source.py    ReadSocialEventsFromKafka: a splittable DoFn per partition, watermarks, offset commits
sinks.py     WriteToKafka / WriteDeadLettersToKafka: Avro single-object messages, at least once
admin.py     check_kafka (start-time checks) and the partition discovery that opens the source
security.py  KafkaSettings: the address and security settings every client of the product is built from
common.py    which errors are waited out and which are fatal; backoff

read = pipeline | ReadSocialEventsFromKafka(KafkaSettings("127.0.0.1:9092"), "social-events", group_id="g")
windows | WriteToKafka(settings, "account-windows", "AccountWindow")
"""

from pipelines.io.kafka.admin import DiscoverPartitionsFn, KafkaCheckError, check_kafka
from pipelines.io.kafka.security import KafkaSettings
from pipelines.io.kafka.sinks import WriteDeadLettersToKafka, WriteToKafka
from pipelines.io.kafka.source import UNBOUNDED, ReadPartitionFn, ReadSocialEventsFromKafka, next_watermark_ms

__all__ = [
    "UNBOUNDED",
    "DiscoverPartitionsFn",
    "KafkaCheckError",
    "KafkaSettings",
    "ReadPartitionFn",
    "ReadSocialEventsFromKafka",
    "WriteDeadLettersToKafka",
    "WriteToKafka",
    "check_kafka",
    "next_watermark_ms",
]
