"""The Bluesky ingester against a local Jetstream (a real WebSocket server replaying recorded frames): every
kind mapped, dead letters beside, cuts mid-stream, restarts from the state file, SIGTERM, and a real broker."""

import json
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from pipelines.bench.ingest import JetstreamReplay, synthetic_frames
from pipelines.cli.ingest import main
from pipelines.io import wire
from pipelines.model.bluesky import map_frame
from pipelines.model.events import event_from_record
from tests.conftest import free_port
from tests.fixtures.jetstream import DEAD, FRAMES

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def replay():
    servers = []

    def start(frames, drop_after=None):
        servers.append(JetstreamReplay(list(frames), drop_after))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def expected_records(frames):
    return {e.event_id: e.to_record() for f in frames for e in map_frame(f).events}


def read_events(path):
    return [event_from_record(json.loads(line)).to_record() for line in path.read_text().splitlines()]


def ingest(server, out, *extra):
    argv = ["bluesky", "--endpoint", server.url, "--output", str(out), "--idle_exit", "1.5", *extra]
    assert main(argv) == 0


def test_every_recorded_kind_is_mapped_and_malformed_frames_go_to_the_dead_letter_file(replay, tmp_path):
    server = replay(FRAMES.values())
    out, state = tmp_path / "events.jsonl", tmp_path / "state.json"
    ingest(server, out, "--state_file", str(state))
    records = read_events(out)
    assert {r["event_id"]: r for r in records} == expected_records(FRAMES.values())
    assert len(records) == len(expected_records(FRAMES.values()))
    dead = [json.loads(line) for line in (tmp_path / "events.dead_letter.jsonl").read_text().splitlines()]
    assert sorted(d["raw"] for d in dead) == sorted(FRAMES[name] for name in DEAD)
    assert all(d["reason"] and d["source"].startswith(server.url) for d in dead)
    assert json.loads(state.read_text())["cursor"] == max(server.positions)  # the last frame with a time_us
    assert "wantedCollections=app.bsky.feed.post" in server.requests[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cut_at_random_frames_every_event_is_delivered_once(replay, tmp_path, seed, capsys):
    rng = random.Random(seed)
    frames = list(synthetic_frames(300, seed=seed, step_us=100_000))  # 0.1 s apart: the 3 s overlap is 30 frames
    frames.insert(rng.randrange(len(frames)), FRAMES["bad_parent"].replace("1764547218", "1764547200"))
    server = replay(frames, drop_after=sorted(rng.sample(range(5, 150), 2)))
    out = tmp_path / "events.jsonl"
    ingest(server, out)
    ids = [r["event_id"] for r in read_events(out)]
    assert len(ids) == len(set(ids))  # no duplicate
    assert set(ids) == set(expected_records(frames))  # no loss
    assert len(server.requests) == 3 and all("cursor=" in r for r in server.requests[1:])
    dead = (tmp_path / "events.dead_letter.jsonl").read_text().splitlines()
    assert len(dead) == 1  # the malformed frame, once, though replayed in an overlap
    summary = capsys.readouterr().err.splitlines()[-1]
    assert "2 reconnects" in summary and " 0 duplicates dropped" not in summary  # the overlap was replayed


def test_a_restart_resumes_from_the_state_file_without_loss_or_duplicate(replay, tmp_path):
    frames = list(synthetic_frames(400, seed=7, step_us=20_000))  # the overlap reaches back 150 frames
    server = replay(frames)
    out, state = tmp_path / "events.jsonl", tmp_path / "state.json"
    ingest(server, out, "--state_file", str(state), "--max_events", "120")
    assert len(read_events(out)) == 120
    saved = json.loads(state.read_text())
    assert saved["recent_ids"]  # the overlap's ids travel to the next run
    ingest(server, out, "--state_file", str(state))
    ids = [r["event_id"] for r in read_events(out)]
    assert len(ids) == len(set(ids)) and set(ids) == set(expected_records(frames))
    assert f"cursor={saved['cursor'] - 3_000_000}" in server.requests[1]


def test_sigterm_flushes_saves_the_cursor_and_exits_0_and_metrics_are_served(replay, tmp_path):
    frames = list(synthetic_frames(200, seed=4))
    server = replay(frames)
    out, state, port = tmp_path / "events.jsonl", tmp_path / "state.json", free_port()
    command = [sys.executable, "-m", "pipelines.ingest", "bluesky", "--endpoint", server.url, "--output", str(out)]
    command += ["--state_file", str(state), "--metrics_port", str(port)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        scraped = ""
        while time.monotonic() < deadline and 'reciprocity_ingest_frames_total{source="bluesky"} 200.0' not in scraped:
            time.sleep(0.2)
            try:
                scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                continue
        assert 'reciprocity_ingest_frames_total{source="bluesky"} 200.0' in scraped
        assert 'reciprocity_ingest_skipped_total{reason="delete",source="bluesky"}' in scraped
        assert "reciprocity_ingest_lag_seconds" in scraped
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "(SIGTERM)" in stderr and "bluesky: 200 frames" in stderr
    assert {r["event_id"] for r in read_events(out)} == set(expected_records(frames))
    assert json.loads(state.read_text())["cursor"] == json.loads(frames[-1])["time_us"]


def test_recorded_frames_reach_the_events_topic_of_a_real_broker(replay, broker):
    topic, dead_topic = f"ingest-{uuid.uuid4().hex[:8]}", f"ingest-dead-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(t, num_partitions=2, replication_factor=1) for t in (topic, dead_topic)])
    admin.close()
    server = replay(FRAMES.values())
    argv = ["bluesky", "--endpoint", server.url, "--kafka_bootstrap", broker, "--topic", topic]
    assert main([*argv, "--dead_letter_topic", dead_topic, "--idle_exit", "1.5"]) == 0
    expected = expected_records(FRAMES.values())

    def consume(name, count):
        consumer = KafkaConsumer(name, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=3000)
        messages, deadline = [], time.monotonic() + 60
        while len(messages) < count and time.monotonic() < deadline:
            messages.extend(consumer)
        consumer.close()
        return messages

    messages = consume(topic, len(expected))
    events = [wire.decode_event(m.value) for m in messages]
    assert {e.event_id: e.to_record() for e in events} == expected and len(events) == len(expected)
    assert all(m.key.decode() == e.actor_id for m, e in zip(messages, events, strict=True))
    dead = [wire.decode(m.value) for m in consume(dead_topic, len(DEAD))]
    assert sorted(record["raw"].decode() for _, record in dead) == sorted(FRAMES[n] for n in DEAD)


def test_an_endpoint_that_refuses_the_request_stops_at_once_with_one_line(replay, tmp_path, capsys):
    server = replay(FRAMES.values())
    wrong = server.url.replace("/subscribe", "/nope")
    with pytest.raises(SystemExit) as stopped:
        main(["bluesky", "--endpoint", wrong, "--output", str(tmp_path / "o.jsonl")])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"error: --endpoint: {wrong} answered HTTP 404\n"
