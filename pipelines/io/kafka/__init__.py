"""Kafka IO in pure Python (kafka-python), split by responsibility:

source.py    ReadSocialEventsFromKafka: a splittable DoFn per partition, watermarks, what it read
commit.py    offset commits: the read position, or the tail unpublished windows need, and the resume point
sinks.py     WriteToKafka / WriteDeadLettersToKafka: Avro single-object messages, at least once
admin.py     check_kafka (start-time checks) and the partition discovery that opens the source
security.py  KafkaSettings: the address and security settings every client of the product is built from
common.py    which errors are waited out and which are fatal; backoff
kafka_python_fix.py  two kafka-python 3.0.x bugs: an answer lost with the hang-up, a thread left by a failed start

read = pipeline | ReadSocialEventsFromKafka(KafkaSettings("127.0.0.1:9092"), "social-events", group_id="g")
windows | WriteToKafka(settings, "account-windows", "AccountWindow")
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use (PEP 562): security.py and common.py are used by clients that must not pay for
# importing Beam (the exporter, the producer, the ingesters), and importing a submodule runs this file first.
_EXPORTS = {
    "CommitReadTail": "commit",
    "read_resume_point": "commit",
    "UNBOUNDED": "admin",
    "DiscoverPartitionsFn": "admin",
    "KafkaCheckError": "admin",
    "check_kafka": "admin",
    "KafkaSettings": "security",
    "WriteDeadLettersToKafka": "sinks",
    "WriteToKafka": "sinks",
    "ReadPartitionFn": "source",
    "ReadSocialEventsFromKafka": "source",
    "next_watermark_ms": "source",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
