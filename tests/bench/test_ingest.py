"""The ingester's bench row against the real broker: it measures a run that delivered every event."""

import uuid

from kafka import KafkaConsumer, TopicPartition

from pipelines.bench.ingest import run_row, synthetic_frames
from pipelines.model.bluesky import map_frame


def test_the_row_measures_a_complete_run_into_the_broker(broker):
    topic = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    row = run_row(broker, 3000, topic)
    assert row["frames"] == 3000 and row["frames_per_s"] > 0 and 10 < row["peak_rss_mib"] < 1000
    consumer = KafkaConsumer(bootstrap_servers=broker)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    delivered = sum(consumer.end_offsets(partitions).values())
    consumer.close()
    assert len(partitions) == 4
    assert delivered == sum(len(map_frame(f).events) for f in synthetic_frames(3000))
