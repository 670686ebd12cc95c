"""Running the streaming job the way users do (`python -m pipelines.reciprocity --kafka_bootstrap ...` on Prism),
for the tests that need a real job against the real broker."""

from __future__ import annotations

import subprocess
import sys
import uuid
from functools import cache
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from pipelines.io import wire
from pipelines.model.resume import decode_mark

ROOT = Path(__file__).resolve().parents[2]


@cache
def prism() -> str:
    """The Prism binary (deploy/local/prism.sh builds it once)."""
    script = ROOT / "deploy" / "local" / "prism.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True, timeout=900)
    return done.stdout.strip().splitlines()[-1]


def fresh_topics(broker: str) -> tuple[str, dict[str, str]]:
    """A random suffix and the job's four topics named with it, created with two partitions each."""
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"{name}-{suffix}" for name in ("events", "windows", "alerts", "dead")}
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1) for topic in topics.values()])
    admin.close()
    return suffix, topics


def job_command(broker: str, topics: dict[str, str], group: str, output: Path, *extra: str) -> list[str]:
    """The streaming job on Prism over `topics` (events, windows, alerts, dead)."""
    return reciprocity_command(
        broker, topics, group, output, "--runner", "PrismRunner", f"--prism_location={prism()}", *extra
    )


def reciprocity_command(broker: str, topics: dict[str, str], group: str, output: Path, *extra: str) -> list[str]:
    """The streaming job over `topics` (events, windows, alerts, dead), on the runner `extra` names."""
    return [
        sys.executable,
        "-m",
        "pipelines.reciprocity",
        "--kafka_bootstrap",
        broker,
        "--events_topic",
        topics["events"],
        "--windows_topic",
        topics["windows"],
        "--alerts_topic",
        topics["alerts"],
        "--dead_letter_topic",
        topics["dead"],
        "--group_id",
        group,
        "--output",
        str(output),
        *extra,
    ]


def streaming_job_command(broker: str, topics: dict[str, str], group_id: str, out: Path, *extra: str) -> list[str]:
    """The job to the end offsets seen at start, alerts from 5 inbound engagers (the tests' small networks)."""
    return job_command(broker, topics, group_id, out, "--until_end_offsets", "--min_inbound", "5", *extra)


def run_streaming_job(
    broker: str, topics: dict[str, str], group_id: str, out: Path, *extra: str
) -> subprocess.CompletedProcess:
    """The streaming job on Prism over `topics` (events, windows, alerts, dead) up to the end offsets."""
    argv = streaming_job_command(broker, topics, group_id, out, *extra)
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)


def read_back(broker: str, topic: str) -> list[dict]:
    """Every record of a topic, decoded (Avro single-object)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=4000)
    records = [wire.decode(message.value)[1] for message in consumer]
    consumer.close()
    return records


def tail_commits(broker: str, topic: str, group: str) -> dict[int, tuple[int | None, int | None]]:
    """Per partition of `topic`: (the group's committed offset, the mark in its metadata), None where there is none."""
    consumer = KafkaConsumer(bootstrap_servers=broker, group_id=group, enable_auto_commit=False)
    try:
        out: dict[int, tuple[int | None, int | None]] = {}
        for partition in sorted(consumer.partitions_for_topic(topic) or set()):
            committed = consumer.committed(TopicPartition(topic, partition), metadata=True)
            out[partition] = (getattr(committed, "offset", None), decode_mark(getattr(committed, "metadata", None)))
        return out
    finally:
        consumer.close()


def end_offsets(broker: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=broker)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()
