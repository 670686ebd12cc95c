"""Puts SocialEvents on the events topic: Avro single-object messages keyed by actor_id, rate-limited.

Used by `python -m pipelines.simulate --to-kafka ...` (the simulator, live event times),
`python -m pipelines.load ...` (a file, event times as recorded) and `python -m pipelines.ingest ...` (live
Bluesky/Mastodon streams, through `new_producer` and `send_event`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from pipelines.io import wire
from pipelines.io.kafka.security import KafkaSettings
from pipelines.model.events import SocialEvent


def paced(events: Iterable[SocialEvent], rate: float | None, live: bool) -> Iterator[SocialEvent]:
    """At most `rate` events a second (None: as fast as possible); `live` stamps each with the send time."""
    started = time.monotonic()
    for sent, event in enumerate(events):
        if rate:
            due = started + sent / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if live:
            event.event_time = int(time.time() * 1000)
        yield event


def new_producer(kafka: KafkaSettings | str) -> Any:
    """The events producer: every message acknowledged by all in-sync replicas, batched for throughput."""
    from kafka import KafkaProducer

    return KafkaSettings.of(kafka).client(KafkaProducer, acks="all", linger_ms=20, batch_size=256 * 1024)


def send_event(producer: Any, topic: str, event: SocialEvent) -> None:
    """One event as an Avro single-object message keyed by its actor (an account's events stay in order)."""
    producer.send(topic, key=event.actor_id.encode(), value=wire.encode(event.to_record(), "SocialEvent"))


def produce(
    events: Iterable[SocialEvent],
    kafka: KafkaSettings | str,
    topic: str,
    rate: float | None = None,
    live: bool = False,
    progress: bool = True,
) -> int:
    """Sends every event; returns how many. Waits for the broker's acknowledgement of all of them."""
    producer = new_producer(kafka)
    count, last_report, started = 0, time.monotonic(), time.monotonic()
    try:
        for event in paced(events, rate, live):
            send_event(producer, topic, event)
            count += 1
            now = time.monotonic()
            if progress and now - last_report >= 1.0:
                last_report = now
                print(f"\r{count:,} events sent, {count / (now - started):,.0f}/s", end="", file=sys.stderr, flush=True)
        producer.flush()
    finally:
        producer.close()
    if progress:
        print(f"\r{count:,} events sent to {topic} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return count
