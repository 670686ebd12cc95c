"""The job end to end on the DirectRunner: files in, JSON Lines out, the contract of every output."""

import json
import subprocess
import sys
from datetime import datetime

import fastavro
import pytest

from pipelines.cli.reciprocity import run
from pipelines.model.config import ReciprocityConfig
from pipelines.model.reference import reference
from pipelines.schemas import schema
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.model.helpers import canonical

SMALL = SimulationConfig(seed=7, gurus=12, fans=600, days=3)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def to_millis(value):
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def as_avro_window(record):
    return record | {"window_start": to_millis(record["window_start"]), "window_end": to_millis(record["window_end"])}


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """Simulated events as JSON Lines with malformed lines mixed in, replayed through the job."""
    folder = tmp_path_factory.mktemp("replay")
    events = list(generate(build_network(SMALL)))
    bad = ["{not json", json.dumps({"event_id": "x", "event_type": "TWEET", "actor_id": "a", "event_time": 1}), "[]"]
    lines = [json.dumps(e.to_record()) for e in events]
    for i, line in enumerate(bad):
        lines.insert(100 * (i + 1), line)
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    summary = run(["--input", str(folder / "events.jsonl"), "--output", str(folder / "out"), "--min_inbound", "10"])
    return folder / "out", events, summary


def test_replay_equals_reference(replay):
    out, events, _ = replay
    config = ReciprocityConfig(min_inbound=10)
    expected_windows, expected_alerts = reference(events, config)
    windows = [as_avro_window(w) for w in read_jsonl(out / "account_windows.jsonl")]
    assert canonical(windows) == canonical(expected_windows)
    alerts = read_jsonl(out / "alerts.jsonl")
    assert sorted(a["alert_id"] for a in alerts) == sorted(a["alert_id"] for a in expected_alerts)
    assert any(a["status"] == "firing" for a in alerts)


def test_bad_lines_are_dead_lettered_with_reason_source_and_original(replay):
    out, events, summary = replay
    dead = read_jsonl(out / "dead_letter.jsonl")
    assert sorted(d["raw"] for d in dead) == sorted(
        ["{not json", json.dumps({"event_id": "x", "event_type": "TWEET", "actor_id": "a", "event_time": 1}), "[]"]
    )
    reasons = {d["raw"]: d["reason"] for d in dead}
    assert reasons["{not json"].startswith("not valid JSON")
    assert reasons["[]"] == "expected a JSON object, got list"
    assert all(":" in d["source"] and d["source"].split(":")[0].endswith("events.jsonl") for d in dead)
    assert summary["events_read"] == len(events)
    assert summary["dead_letters"] == 3


def test_outputs_follow_the_avro_contracts(replay):
    out, _, _ = replay
    for record in read_jsonl(out / "account_windows.jsonl"):
        assert fastavro.validation.validate(as_avro_window(record), schema("AccountWindow"), raise_errors=True)
    for alert in read_jsonl(out / "alerts.jsonl"):
        avro = alert | {
            "window_start": to_millis(alert["window_start"]),
            "window_end": to_millis(alert["window_end"]),
            "metrics": as_avro_window(alert["metrics"]),
        }
        assert fastavro.validation.validate(avro, schema("EngagementAlert"), raise_errors=True)
        assert alert["evidence"]["ignored_engagers"]


def test_avro_input_and_simulator_source_agree(tmp_path):
    """The embedded default (simulator inside the pipeline) equals replaying the simulator's file."""
    from pipelines.io.avro import write_events

    network = build_network(SimulationConfig.for_events(20_000, seed=3, days=2))
    write_events(tmp_path / "events.avro", generate(network))
    from_file = run(["--input", str(tmp_path / "events.avro"), "--output", str(tmp_path / "a")])
    embedded = run(["--output", str(tmp_path / "b"), "--sim_events", "20000", "--sim_seed", "3", "--sim_days", "2"])
    assert from_file["events_read"] == embedded["events_read"] > 15_000
    assert (tmp_path / "a" / "alerts.jsonl").read_text().count("\n") == embedded["alerts_firing"] + embedded[
        "alerts_resolved"
    ]
    assert sorted(read_jsonl(tmp_path / "a" / "alerts.jsonl"), key=lambda a: a["alert_id"]) == sorted(
        read_jsonl(tmp_path / "b" / "alerts.jsonl"), key=lambda a: a["alert_id"]
    )
    assert embedded["recall"] >= 0.9 and embedded["precision"] >= 0.9


def test_cli_rejects_bad_options_with_one_line():
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.reciprocity", "--output", "o", "--period", "7x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr == (
        "error: --period: invalid duration '7x' "
        "(use a positive number followed by s, m, h or d, e.g. 90s, 15m, 1h, 7d)\n"
    )


def test_missing_input_fails_at_once(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.reciprocity", "--input", str(tmp_path / "none.avro"), "--output", "o"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr == f"error: --input: no .avro or .jsonl file matches '{tmp_path / 'none.avro'}'\n"
