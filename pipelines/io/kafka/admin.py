"""Kafka administration: the start-time checks every command runs before it builds a pipeline or a client loop,
and the partition discovery that opens the streaming source.

    check_kafka(KafkaSettings("127.0.0.1:9092"), ["social-events"])  # raises KafkaCheckError with one line

Why check at start: a pipeline only meets the broker on a worker, after Beam has started a runner, where an
unreachable broker, a refused password or a missing topic shows as a retry loop or a stack trace minutes later.
The check asks the broker the same questions at once and turns each answer into one line.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from pipelines.io.kafka.common import close_quietly, is_fatal, with_retries
from pipelines.io.kafka.security import KafkaSettings

_LOGGER = logging.getLogger(__name__)

UNBOUNDED = sys.maxsize  # the stop offset of a partition read without end
# (topic, partition, start offset, stop offset): a plain tuple, so every runner encodes it deterministically.
PartitionSpec = tuple[str, int, int, int]


class KafkaCheckError(ValueError):
    """The broker cannot be used as configured; the message is the one line to show."""


# A broker that answers does so in milliseconds; the budget leaves a start-up error within 15 s, Python and Beam
# imports included.
CHECK_TIMEOUT_S = 6.0


def check_kafka(kafka: KafkaSettings, topics: list[str], timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Connects as the pipeline will (same settings) and lists the topics; raises KafkaCheckError with one line:
    unreachable within `timeout_s`, authentication/TLS refused (as soon as it is seen), or a topic missing.

    kafka-python retries every bootstrap failure until its timeout and then reports only "Unable to bootstrap";
    the cause is in its log. So the check listens to that log (keeping it off the user's terminal meanwhile) and
    bootstraps in short attempts, stopping at the first failure that waiting cannot cure.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    cause: str | None = None
    with _BootstrapFailures() as failures:
        while True:
            attempt_ms = int(max(0.5, min(3.0, deadline - time.monotonic())) * 1000)
            admin = None
            try:
                admin = kafka.client(
                    KafkaAdminClient,
                    client_id="reciprocity-check",
                    bootstrap_timeout_ms=attempt_ms,
                    request_timeout_ms=max(attempt_ms, 5000),
                )
                existing = set(admin.list_topics())
                break
            except (KafkaError, OSError) as error:
                cause = failures.fatal or failures.last or f"{type(error).__name__}: {error}"
                if is_fatal(error) or _fatal_text(cause):
                    raise KafkaCheckError(
                        f"Kafka at {kafka.describe()}: {_fatal_kind(cause)} failed: {cause}"
                    ) from None
                if time.monotonic() >= deadline:
                    raise KafkaCheckError(
                        f"Kafka at {kafka.describe()} is unreachable (no answer within {timeout_s:g}s): {cause}"
                    ) from None
            finally:
                close_quietly(admin)
    missing = [topic for topic in topics if topic not in existing]
    if missing:
        raise KafkaCheckError(
            f"Kafka topic {missing[0]!r} does not exist on {kafka.bootstrap} (create it: deploy/local/kafka.sh topics)"
        )


_FATAL_MARKS = ("SaslAuthenticationFailed", "Authentication", "CERTIFICATE_VERIFY_FAILED", "SSL", "WRONG_VERSION")


def _fatal_text(cause: str) -> bool:
    return any(mark in cause for mark in _FATAL_MARKS)


def _fatal_kind(cause: str) -> str:
    return "authorization" if "Authorization" in cause else "authentication or TLS"


class _BootstrapFailures(logging.Handler):
    """Collects kafka-python's "... failed: <cause>" log lines while a check runs, and keeps its log (retries,
    reconnects) from reaching the terminal meanwhile: the check reports the outcome in one line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None
        self.fatal: str | None = None  # the first cause waiting cannot cure (a refused login is followed by a
        # "socket disconnected" as the broker hangs up: that later line must not hide it)
        self._logger = logging.getLogger("kafka")

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "failed: " in message and not message.startswith("Bootstrap failed"):
            self.last = message.split("failed: ", 1)[1].split(" (backoff")[0].strip()
            if self.fatal is None and _fatal_text(self.last):
                self.fatal = self.last

    def __enter__(self) -> _BootstrapFailures:
        self._propagate = self._logger.propagate
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate


class DiscoverPartitionsFn(beam.DoFn):
    """Impulse -> one PartitionSpec per partition, starting at the group's committed offset (else the beginning).

    Runs once, at pipeline start. A missing broker is waited for (up to `connect_timeout_s`); a missing
    topic fails the pipeline at once with one line, since waiting would not create it.
    """

    def __init__(
        self,
        kafka: KafkaSettings | str,
        topic: str,
        group_id: str,
        until_end_offsets: bool,
        consumer_config: dict[str, Any] | None = None,
        connect_timeout_s: float = 120.0,
    ) -> None:
        self._kafka = KafkaSettings.of(kafka)
        self._topic = topic
        self._group_id = group_id
        self._until_end = until_end_offsets
        self._config = dict(consumer_config or {})
        self._connect_timeout_s = connect_timeout_s

    def process(self, _impulse: Any) -> Iterator[PartitionSpec]:
        yield from with_retries(self._kafka, self._discover, self._connect_timeout_s, f"listing {self._topic}")

    def _discover(self) -> list[PartitionSpec]:
        from kafka import KafkaConsumer, TopicPartition

        config = {
            "client_id": f"reciprocity-discover-{self._group_id}",
            **self._config,
            "group_id": self._group_id,
            "enable_auto_commit": False,
        }
        consumer = self._kafka.client(KafkaConsumer, **config)
        try:
            partitions = sorted(consumer.partitions_for_topic(self._topic))
            if not partitions:
                raise ValueError(f"Kafka topic {self._topic!r} does not exist on {self._kafka.bootstrap}")
            tps = [TopicPartition(self._topic, p) for p in partitions]
            beginning = consumer.beginning_offsets(tps)
            end = consumer.end_offsets(tps)
            specs: list[PartitionSpec] = []
            for tp in tps:
                committed = consumer.committed(tp)
                start = beginning[tp] if committed is None else max(committed, beginning[tp])
                if start > end[tp]:  # the topic was recreated under the same group: its offsets mean nothing
                    _LOGGER.warning("kafka: %s committed %s > end %s; reading from the start", tp, start, end[tp])
                    start = beginning[tp]
                stop = end[tp] if self._until_end else UNBOUNDED
                _LOGGER.info(
                    "kafka: %s/%d from offset %d (%s) to %s",
                    tp.topic,
                    tp.partition,
                    start,
                    "committed" if committed is not None else "beginning",
                    stop if stop != UNBOUNDED else "unbounded",
                )
                specs.append((tp.topic, tp.partition, start, stop))
            return specs
        finally:
            close_quietly(consumer)
