"""The dead-letter reader against a real broker: latest letters of every partition, decoded, oldest first."""

from __future__ import annotations

import json
import uuid

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipelines.cli import deadletters
from pipelines.cli.options import OptionError
from pipelines.io import wire
from pipelines.io.files import dead_letter


def test_options_are_validated() -> None:
    with pytest.raises(OptionError, match="--last must be at least 1, got 0"):
        deadletters.parse(["--kafka_bootstrap", "x:1", "--last", "0"])
    with pytest.raises(OptionError, match="--kafka_bootstrap"):
        deadletters.parse([])


def test_a_message_that_is_no_dead_letter_is_shown_not_fatal() -> None:
    assert "unreadable" in deadletters.render(b"plain text")
    assert deadletters.render(wire.encode(dead_letter("late event", "t/0/1", b"\xff{"), "DeadLetter"))["raw"] == (
        "\\xff{"
    )


def test_prints_the_latest_letters_of_every_partition(broker: str, capsys: pytest.CaptureFixture[str]) -> None:
    topic = f"dead-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=broker)
    for i in range(6):
        reason = "late event" if i % 2 else "event_type must be one of POST, REPLY"
        letter = dead_letter(reason, f"social-events/{i % 2}/{i}", f'{{"n": {i}}}')
        producer.send(topic, wire.encode(letter, "DeadLetter"), partition=i % 2, timestamp_ms=1_000_000 + i)
    producer.send(topic, b"not avro", partition=0, timestamp_ms=1_000_010)
    producer.flush()
    producer.close()

    deadletters.main(["--kafka_bootstrap", broker, "--topic", topic, "--last", "3"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # The 3 latest across both partitions, oldest first: letters 4 and 5, then the unreadable message.
    assert [line.get("source") for line in lines] == ["social-events/0/4", "social-events/1/5", None]
    assert lines[0]["raw"] == '{"n": 4}' and lines[1]["reason"] == "late event"
    assert "unreadable" in lines[2]

    deadletters.main(["--kafka_bootstrap", broker, "--topic", topic, "--last", "10", "--reason", "late"])
    assert len(capsys.readouterr().out.splitlines()) == 3

    with pytest.raises(SystemExit):
        deadletters.main(["--kafka_bootstrap", broker, "--topic", f"missing-{topic}"])
    assert f"--topic: topic 'missing-{topic}' does not exist on {broker}" in capsys.readouterr().err
