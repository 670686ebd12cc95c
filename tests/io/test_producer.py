"""The producers against the real broker: the simulator live (--to-kafka) and the file loader."""

import json
import subprocess
import sys
import time
import uuid

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from pipelines.io import wire


def fresh_topic(broker: str) -> str:
    name = f"producer-test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    admin.close()
    return name


def read_all(broker: str, topic: str, expected: int) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=5000)
    messages = []
    deadline = time.monotonic() + 60
    while len(messages) < expected and time.monotonic() < deadline:
        messages.extend(consumer)
    consumer.close()
    return messages


def test_simulator_streams_live_events_at_the_asked_rate(broker):
    topic = fresh_topic(broker)
    started_ms = int(time.time() * 1000)
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.simulate",
            "--to-kafka",
            broker,
            "--topic",
            topic,
            "--rate",
            "2000/s",
            "--events",
            "1000",
            "--days",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    messages = read_all(broker, topic, 1)
    assert len(messages) > 1000, done.stderr
    assert elapsed >= len(messages) / 2000 * 0.9  # rate-limited
    events = [wire.decode_event(m.value) for m in messages]
    assert all(m.key.decode() == e.actor_id for m, e in zip(messages, events, strict=True))
    assert all(started_ms <= e.event_time <= int(time.time() * 1000) for e in events)  # live event times


def test_loader_sends_valid_records_as_recorded_and_counts_the_rest(broker, tmp_path):
    topic = fresh_topic(broker)
    lines = [
        {"event_id": f"e{i}", "event_type": "REPLY", "actor_id": f"u{i}", "target_account_id": "g", "event_time": i}
        for i in range(50)
    ]
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n{broken\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.load",
            "--input",
            str(tmp_path / "events.jsonl"),
            "--kafka_bootstrap",
            broker,
            "--topic",
            topic,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "1 records not sent (contract); first:" in done.stderr
    events = sorted((wire.decode_event(m.value) for m in read_all(broker, topic, 50)), key=lambda e: e.event_time)
    assert [e.event_time for e in events] == list(range(50))
