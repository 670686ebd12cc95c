"""Reading a topic to its end offsets (the report's and the bench's snapshot reader), on the real broker."""

import time
import uuid

import pytest

from pipelines.io.topics import read_to_end
from tests.conftest import free_port
from tests.io.test_kafka_io import produce


def test_every_partition_is_read_to_the_end_offsets_seen_at_start(broker):
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    topic = f"topics-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(topic, 3, 1)], wait_for_metadata=True)
    try:
        produce(broker, topic, [(f"k{i % 7}".encode(), f"m{i}".encode()) for i in range(50)])
        read = read_to_end(broker, topic)
        first = next(read)
        produce(broker, topic, [(b"late", b"after the start")])  # after the end offsets were taken
        values = {first.value} | {message.value for message in read}
        assert values == {f"m{i}".encode() for i in range(50)}
    finally:
        admin.delete_topics([topic])
        admin.close()


def test_a_missing_topic_is_one_line(broker):
    with pytest.raises(ValueError, match=r"topic 'report-nothing-here' does not exist on 127\.0\.0\.1:\d+"):
        list(read_to_end(broker, "report-nothing-here"))


@pytest.mark.timeout(120)
def test_no_broker_is_one_line():
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ValueError, match=rf"^--kafka_bootstrap {address}: \w+"):
        list(read_to_end(address, "anything", timeout_s=3))
    assert time.monotonic() - started < 30
