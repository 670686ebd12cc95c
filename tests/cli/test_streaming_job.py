"""The streaming mode end to end: Kafka in, Prism, Kafka out (pipelines.reciprocity --kafka_bootstrap)."""

import subprocess
import sys
import uuid
from pathlib import Path

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from pipelines.io import wire
from pipelines.io.producer import produce
from pipelines.model.config import ReciprocityConfig
from pipelines.model.reference import reference
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.model.helpers import canonical

ROOT = Path(__file__).resolve().parents[2]
# Small on purpose: the streaming path on Prism runs one timer bundle per account and pane.
SMALL = SimulationConfig(seed=11, gurus=4, fans=60, days=1, posts_per_day=3, engagers_per_post=8)


def read_back(broker: str, topic: str) -> list[dict]:
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=4000)
    records = [wire.decode(message.value)[1] for message in consumer]
    consumer.close()
    return records


def fresh_topics(broker: str) -> tuple[str, dict[str, str]]:
    """A random suffix and the job's four topics named with it, created with two partitions each."""
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"{name}-{suffix}" for name in ("events", "windows", "alerts", "dead")}
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1) for topic in topics.values()])
    admin.close()
    return suffix, topics


def run_streaming_job(broker: str, topics: dict[str, str], group_id: str, out: Path) -> subprocess.CompletedProcess:
    """The streaming job on Prism over `topics` (events, windows, alerts, dead) up to the end offsets."""
    prism = (
        subprocess.run(
            ["bash", str(ROOT / "deploy" / "local" / "prism.sh")],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.reciprocity",
            "--kafka_bootstrap",
            broker,
            "--until_end_offsets",
            "--events_topic",
            topics["events"],
            "--windows_topic",
            topics["windows"],
            "--alerts_topic",
            topics["alerts"],
            "--dead_letter_topic",
            topics["dead"],
            "--group_id",
            group_id,
            "--min_inbound",
            "5",
            "--output",
            str(out),
            "--runner",
            "PrismRunner",
            f"--prism_location={prism}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return done


def test_streaming_job_equals_the_batch_reference(broker, tmp_path):
    suffix, topics = fresh_topics(broker)
    events = list(generate(build_network(SMALL)))
    produce(events, broker, topics["events"], progress=False)
    done = run_streaming_job(broker, topics, f"job-{suffix}", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    expected_windows, expected_alerts = reference(events, ReciprocityConfig(min_inbound=5))
    assert canonical(read_back(broker, topics["windows"])) == canonical(expected_windows)
    assert sorted(a["alert_id"] for a in read_back(broker, topics["alerts"])) == sorted(
        a["alert_id"] for a in expected_alerts
    )
    assert f"events read        {len(events)}" in done.stdout
