"""Garbage of every kind mixed into the real events topic, through the streaming job on Prism.

10% of the messages are garbage (the catalogue of tests/garbage.py, cycled: truncated and corrupt Avro, the
Confluent framing, unknown fingerprints and enum symbols, invalid UTF-8, oversized, JSON of every contract
break, deeply nested JSON, tombstones). The job must finish, put exactly one dead letter per garbage message,
each with its reason and the original bytes, and give the windows and alerts of the valid events alone.

Size: ~108k simulated events over 2 days and ~12k garbage messages (10% of the stream); the job runs ~1 min on
Prism, the whole test ~2.5 min (figures in the README's Reliability table).
"""

from __future__ import annotations

import random
import time
from collections import Counter

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipelines.io import wire
from pipelines.io.dead_letters import MAX_RAW_BYTES
from pipelines.model.config import ReciprocityConfig
from pipelines.model.reference import reference
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.cli.jobs import read_back, run_streaming_job
from tests.garbage import MB10, bad_messages
from tests.model.helpers import canonical

EVENTS_CONFIG = SimulationConfig.for_events(100_000, seed=21, days=2)
GARBAGE_SHARE = 0.10
MAX_MESSAGE = 12 * 1024 * 1024  # the events topic takes the 10 MB garbage message


def _topics(broker: str) -> dict[str, str]:
    suffix = f"{random.getrandbits(32):08x}"
    topics = {name: f"{name}-{suffix}" for name in ("events", "windows", "alerts", "dead")}
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics(
        [
            NewTopic(topic, num_partitions=2, replication_factor=1)
            if name != "events"
            else NewTopic(topic, 2, 1, topic_configs={"max.message.bytes": str(MAX_MESSAGE)})
            for name, topic in topics.items()
        ]
    )
    admin.close()
    return topics


def test_garbage_becomes_exactly_its_dead_letters_and_changes_nothing_else(broker, tmp_path):
    # In event-time order, as live events arrive (pipelines.simulate --to-kafka sends them so): the source's
    # watermark allows 5 s of disorder, and this test is about garbage, not lateness.
    events = sorted(generate(build_network(EVENTS_CONFIG)), key=lambda e: e.event_time)
    catalogue = [(name, payload, reason) for name, payload, reason in bad_messages()]
    garbage_count = round(len(events) * GARBAGE_SHARE / (1 - GARBAGE_SHARE))
    garbage = [catalogue[i % len(catalogue)] for i in range(garbage_count)] + [("tombstone", None, "tombstone")]
    messages: list[tuple[bytes | None, bytes | None]] = [
        (e.actor_id.encode(), wire.encode(e.to_record(), "SocialEvent")) for e in events
    ]
    rng = random.Random(5)
    for i, (_, payload, _) in enumerate(garbage):  # anywhere in the stream, any partition
        messages.insert(rng.randrange(len(messages) + 1), (f"junk{i}".encode(), payload))
    topics = _topics(broker)
    producer = KafkaProducer(bootstrap_servers=broker, max_request_size=MAX_MESSAGE, linger_ms=20, acks="all")
    for key, value in messages:
        producer.send(topics["events"], key=key, value=value)
    producer.flush()
    producer.close()

    started = time.monotonic()
    done = run_streaming_job(broker, topics, "garbage", tmp_path / "out", "--json_messages")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr

    letters = read_back(broker, topics["dead"])
    assert len(letters) == len(garbage), Counter(letter["reason"][:60] for letter in letters)
    expected = Counter(((payload or b"")[:MAX_RAW_BYTES], reason) for _, payload, reason in garbage)
    found: Counter = Counter()
    for letter in letters:
        assert letter["reason"] and "\n" not in letter["reason"]
        assert letter["source"].startswith(topics["events"] + "/")
        reasons = [reason for raw, reason in expected if raw == letter["raw"] and reason in letter["reason"]]
        assert reasons, (letter["reason"], letter["raw"][:80])
        found[(letter["raw"], reasons[0])] += 1
    assert found == expected
    assert any(len(letter["raw"]) == MAX_RAW_BYTES for letter in letters)  # the 10 MB message, cut
    assert MB10 > MAX_RAW_BYTES

    windows, alerts = reference(events, ReciprocityConfig(min_inbound=5))
    assert alerts, "the sample must fire alerts"
    assert canonical(read_back(broker, topics["windows"])) == canonical(windows)
    assert sorted(a["alert_id"] for a in read_back(broker, topics["alerts"])) == sorted(a["alert_id"] for a in alerts)
    print(
        f"\n{len(events)} events + {len(garbage)} garbage ({len(catalogue)} kinds): {len(letters)} dead letters, "
        f"{len(windows)} windows, {len(alerts)} alerts, job {elapsed:.0f} s"
    )
