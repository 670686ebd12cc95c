"""The Prometheus exporter: reads what the pipeline publishes to Kafka and serves /metrics.

    python -m pipelines.observability.exporter --kafka_bootstrap 127.0.0.1:9092 --port 9464

Why a separate service: the pipeline runs on any number of Flink workers (or Prism), none of which is a stable
scrape target; the topics are. One exporter reads the events, account-window, alert and dead-letter topics with
its own consumer group (it never commits on the pipeline's group), and measures the pipeline group's lag with
the admin API. It binds to 127.0.0.1 unless --bind says otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import start_http_server

from pipelines.cli.kafka_args import add_kafka_security_arguments, kafka_settings
from pipelines.io import wire
from pipelines.io.kafka.common import KafkaFatalError, close_quietly, fatal, is_fatal
from pipelines.io.kafka.security import KafkaSettings
from pipelines.observability.metrics import TOP_K_CAP, ReciprocityMetrics

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExporterOptions:
    bootstrap: str
    events_topic: str = "social-events"
    windows_topic: str = "account-windows"
    alerts_topic: str = "engagement-alerts"
    dead_letter_topic: str = "dead-letters"
    pipeline_group: str = "engagement-reciprocity"
    group_id: str = "engagement-reciprocity-exporter"
    bind: str = "127.0.0.1"
    port: int = 9464
    top_k: int = 0
    lag_interval_s: float = 5.0
    kafka: KafkaSettings | None = None  # address and security; None: PLAINTEXT to `bootstrap`

    @property
    def client(self) -> KafkaSettings:
        return self.kafka or KafkaSettings(self.bootstrap)


class TopicReader:
    """Turns Kafka messages into metric updates. Undecodable messages are counted, never fatal."""

    def __init__(self, metrics: ReciprocityMetrics, options: ExporterOptions) -> None:
        self._metrics = metrics
        self._handlers: dict[str, Callable[[bytes], None]] = {
            options.events_topic: self._event,
            options.windows_topic: self._record(metrics.on_window),
            options.alerts_topic: self._record(metrics.on_alert),
            options.dead_letter_topic: self._record(metrics.on_dead_letter),
        }

    @property
    def topics(self) -> list[str]:
        return list(self._handlers)

    def handle(self, topic: str, payload: bytes) -> None:
        try:
            self._handlers[topic](payload)
        except (ValueError, KeyError, TypeError) as error:
            _LOGGER.debug("cannot read a %s message: %s", topic, error)
            self._metrics.read_errors.labels(topic).inc()

    def _event(self, payload: bytes) -> None:
        # Only the type is needed: a JSON event is counted too, an undecodable one is the pipeline's dead letter.
        with contextlib.suppress(ValueError):
            self._metrics.on_event(wire.decode_event(payload, json_ok=True).event_type)

    @staticmethod
    def _record(update: Callable[[dict[str, Any]], None]) -> Callable[[bytes], None]:
        def handle(payload: bytes) -> None:
            update(wire.decode(payload)[1])

        return handle


def pipeline_lag(consumer: Any, admin: Any, group: str, topics: list[str]) -> dict[str, int]:
    """Per topic: end offsets minus the pipeline group's committed offsets (a partition never committed
    counts from its beginning)."""
    from kafka import TopicPartition

    committed = admin.list_group_offsets({group: None}).get(group, {})
    lag: dict[str, int] = {}
    for topic in topics:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            continue
        ends = consumer.end_offsets(partitions)
        begins = consumer.beginning_offsets(partitions)
        lag[topic] = sum(
            max(0, ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else begins[tp]))
            for tp in partitions
        )
    return lag


def serve(options: ExporterOptions, stop: threading.Event | None = None) -> ReciprocityMetrics:
    """Runs until `stop` is set (forever from the command line). Reconnects when the broker goes away; stops
    with KafkaFatalError when it refuses the credentials or the certificate (waiting would not help)."""
    from kafka import KafkaAdminClient, KafkaConsumer
    from kafka.errors import KafkaError

    metrics = ReciprocityMetrics(top_k=options.top_k)
    reader = TopicReader(metrics, options)
    start_http_server(options.port, addr=options.bind, registry=metrics.registry)
    _LOGGER.info("serving /metrics on %s:%d", options.bind, options.port)
    stop = stop or threading.Event()
    consumer = admin = None
    next_lag = 0.0
    while not stop.is_set():
        try:
            if consumer is None:
                consumer = options.client.client(
                    KafkaConsumer, group_id=options.group_id, auto_offset_reset="earliest", enable_auto_commit=True
                )
                consumer.subscribe(list(reader.topics))
                admin = options.client.client(KafkaAdminClient)
            for tp, messages in consumer.poll(timeout_ms=500, max_records=5000).items():
                for message in messages:
                    reader.handle(tp.topic, message.value)
            metrics.tick()
            if time.monotonic() >= next_lag:
                next_lag = time.monotonic() + options.lag_interval_s
                for topic, value in pipeline_lag(
                    consumer, admin, options.pipeline_group, [options.events_topic]
                ).items():
                    metrics.consumer_lag.labels(topic).set(value)
        except (KafkaError, OSError) as error:
            if is_fatal(error):
                for client in (consumer, admin):
                    close_quietly(client)
                raise fatal(options.client, error) from None
            _LOGGER.warning("Kafka unavailable (%s); retrying in 2 s", error)
            for client in (consumer, admin):
                close_quietly(client)  # closing a broken client may fail; it is dropped
            consumer = admin = None
            stop.wait(2.0)
    for client in (consumer, admin):
        close_quietly(client)  # the admin client too: each runs an IO thread until closed
    return metrics


def parse_options(argv: list[str]) -> ExporterOptions:
    """The command line as options; a bad value exits with status 2 and one line (argparse's way)."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.observability.exporter", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--kafka_bootstrap", required=True)
    parser.add_argument("--events_topic", default="social-events")
    parser.add_argument("--windows_topic", default="account-windows")
    parser.add_argument("--alerts_topic", default="engagement-alerts")
    parser.add_argument("--dead_letter_topic", default="dead-letters")
    parser.add_argument("--pipeline_group", default="engagement-reciprocity", help="the job's consumer group")
    parser.add_argument("--group_id", default="engagement-reciprocity-exporter")
    parser.add_argument("--bind", default="127.0.0.1", help="address of /metrics (loopback by default)")
    parser.add_argument("--port", type=int, default=9464)
    parser.add_argument("--top_k", type=int, default=0, help=f"opt-in per-account gauge, at most {TOP_K_CAP}")
    add_kafka_security_arguments(parser)
    args = parser.parse_args(argv)
    try:
        kafka = kafka_settings(args, args.kafka_bootstrap)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    if not 0 <= args.top_k <= TOP_K_CAP:
        parser.exit(2, f"error: --top_k must be between 0 and {TOP_K_CAP}, got {args.top_k}\n")
    if not 0 < args.port < 65536:
        parser.exit(2, f"error: --port must be between 1 and 65535, got {args.port}\n")
    return ExporterOptions(
        bootstrap=args.kafka_bootstrap,
        events_topic=args.events_topic,
        windows_topic=args.windows_topic,
        alerts_topic=args.alerts_topic,
        dead_letter_topic=args.dead_letter_topic,
        pipeline_group=args.pipeline_group,
        group_id=args.group_id,
        bind=args.bind,
        port=args.port,
        top_k=args.top_k,
        kafka=kafka,
    )


def main(argv: list[str] | None = None) -> None:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve(options)
    except KafkaFatalError as error:  # refused credentials or certificate: waiting would not help
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
