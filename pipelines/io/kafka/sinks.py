"""The Kafka sinks: records as Avro single-object messages (pipelines/io/wire.py), at least once.

    windows | WriteToKafka(KafkaSettings("127.0.0.1:9092"), "account-windows", "AccountWindow")

Each bundle's sends are flushed at the end of the bundle, so a bundle succeeds only once the broker has
acknowledged all of them. A broker outage is waited out (up to `max_outage_s`) instead of failing the bundle:
Prism does not retry a failed bundle, it fails the job. Refused credentials or certificates fail at once.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import apache_beam as beam

from pipelines.io import wire
from pipelines.io.files import NAMESPACE
from pipelines.io.kafka.common import with_retries
from pipelines.io.kafka.security import KafkaSettings

_LOGGER = logging.getLogger(__name__)


class _ProduceFn(beam.DoFn):
    """Sends each record as an Avro single-object message; a bundle succeeds only if all its sends did.

    A broker outage is ridden out rather than failed, for up to `max_outage_s`: on Prism a failed bundle
    fails the whole job (it does not retry bundles). The producer is created on first use (its constructor
    waits for the broker), its own retries are allowed to last the whole budget (`delivery_timeout_ms`),
    which keeps the messages of a key in order, and `send` may block as long while it waits for metadata.
    """

    _producer: Any  # a kafka.KafkaProducer (kafka-python ships no types), None until first used; set in setup

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        schema_name: str,
        key_field: str | None,
        producer_config: dict[str, Any] | None,
        max_outage_s: float,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._schema = schema_name
        self._key_field = key_field
        self._config = dict(producer_config or {})
        self._max_outage_s = max_outage_s

    def _new_producer(self) -> Any:
        from kafka import KafkaProducer

        budget_ms = int(self._max_outage_s * 1000)
        config = {
            "acks": "all",
            "linger_ms": 20,
            "client_id": f"reciprocity-write-{self._topic}",
            "delivery_timeout_ms": max(budget_ms, 31_000),  # must exceed request_timeout_ms (30 s)
            "max_block_ms": budget_ms,
            "bootstrap_timeout_ms": 5_000,
            **self._config,
        }
        return self._kafka.client(KafkaProducer, **config)

    def _ready_producer(self) -> Any:
        """The producer, created now if need be; waits out a broker that is down, up to `max_outage_s`."""
        if self._producer is not None:
            return self._producer
        self._producer = with_retries(
            self._kafka, self._new_producer, self._max_outage_s, f"connecting the producer for {self._topic}"
        )
        return self._producer

    def setup(self) -> None:
        self._producer = None
        self._written = beam.metrics.Metrics.counter(NAMESPACE, f"kafka_written_{self._topic}")

    def start_bundle(self) -> None:
        self._errors: list[BaseException] = []
        self._sent = 0

    def process(self, record: dict[str, Any]) -> None:
        value = wire.encode(record, self._schema)
        key = record.get(self._key_field) if self._key_field else None
        producer = self._ready_producer()
        future = producer.send(self._topic, value=value, key=None if key is None else str(key).encode("utf-8"))
        future.add_errback(self._errors.append)  # called on the producer's I/O thread; list.append is atomic
        self._sent += 1

    def finish_bundle(self) -> None:
        if not self._sent:
            return
        # No timeout of our own: each send ends, delivered or failed, within delivery_timeout_ms.
        self._producer.flush()
        if self._errors:
            first = self._errors[0]
            raise RuntimeError(
                f"{len(self._errors)} of {self._sent} messages to Kafka topic {self._topic} failed: "
                f"{type(first).__name__}: {first}"
            )
        self._written.inc(self._sent)

    def teardown(self) -> None:
        producer = getattr(self, "_producer", None)
        if producer is not None:
            with contextlib.suppress(Exception):
                producer.close(timeout=10)


class WriteToKafka(beam.PTransform):
    """Writes dicts of `schema_name` (a schema in schemas/) to `topic`, keyed by `key_field` (None: no key).

    At-least-once: a bundle whose sends fail for longer than `max_outage_s` fails (Flink retries it from
    its last checkpoint; Prism fails the job), so a message may be written twice; consumers dedupe on the
    record's natural id (alert_id; account_id + window_end).
    """

    def __init__(
        self,
        kafka: KafkaSettings | str,
        topic: str,
        schema_name: str,
        key_field: str | None = "account_id",
        producer_config: dict[str, Any] | None = None,
        max_outage_s: float = 600.0,
    ) -> None:
        super().__init__()
        wire.header_of(schema_name)  # an unknown schema fails here, at construction, not on a worker
        self._fn = _ProduceFn(KafkaSettings.of(kafka), topic, schema_name, key_field, producer_config, max_outage_s)

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return records | "Produce" >> beam.ParDo(self._fn)


class WriteDeadLettersToKafka(WriteToKafka):
    """Dead letters (schemas/DeadLetter.avsc) to `topic`, unkeyed: they are few and read in order."""

    def __init__(self, kafka: KafkaSettings | str, topic: str, producer_config: dict[str, Any] | None = None) -> None:
        super().__init__(kafka, topic, "DeadLetter", key_field=None, producer_config=producer_config)
