"""The report's sources: a run's output folder and the pipeline's topics (real broker) give the same report."""

import re
import uuid
from collections.abc import Iterator

import pytest

from pipelines.cli.report import report
from pipelines.io import reports, wire
from pipelines.model.report import ReportBuilder
from tests.io.test_kafka_io import produce

H = 3_600_000
WINDOW = (
    '{"account_id": "a", "window_start": "2026-01-04T09:00:00.000Z", "window_end": "2026-01-05T09:00:00.000Z", '
    '"tier": "rising", "inbound_engagers": 22, "responded_engagers": 10, "response_rate": 0.5, '
    '"median_response_seconds": 60.0, "outbound_targets": 16, "fan_response_rate": 0.5, "peer_share": 0.5, '
    '"self_serving_reply_share": 0.0, "proactive_share": 0.25, "amplification_ratio": 0.0, '
    '"delegated_reply_share": 0.0, "preach_score": 0.5, "preaching_posts": 1, "replies": 17, "posts": 1, '
    '"is_preacher": false}'
)


def test_json_lines_come_back_in_wire_form_and_bad_lines_are_counted(tmp_path):
    path = tmp_path / "account_windows.jsonl"
    path.write_text(f"{WINDOW}\nnot json\n\n[1, 2]\n{WINDOW.replace('09:00:00.000Z', 'yesterday')}\n")
    skipped = reports.Skipped()
    records = list(reports.read_jsonl(path, skipped))
    assert len(records) == 1
    assert (records[0]["window_start"], records[0]["window_end"]) == (1767517200000, 1767517200000 + 24 * H)
    assert sum(skipped.values()) == 3
    reasons = sorted(skipped)
    assert reasons[0].startswith("account_windows.jsonl:2: JSONDecodeError")
    assert reasons[1] == "account_windows.jsonl:4: ValueError: expected a JSON object, got list"
    assert reasons[2].startswith("account_windows.jsonl:5: ContractError: event_time is not ISO-8601")
    assert list(reports.read_jsonl(tmp_path / "missing.jsonl", skipped)) == []


def test_a_window_missing_a_field_is_skipped_with_its_reason(tmp_path):
    without_tier = WINDOW.replace('"tier": "rising", ', "")
    (tmp_path / "account_windows.jsonl").write_text(f"{WINDOW}\n{without_tier}\n")
    builder = ReportBuilder()
    skipped = reports.from_folder(builder, tmp_path)
    assert dict(skipped) == {"account window: KeyError: 'tier'": 1}
    assert builder.build().windows == 1


@pytest.fixture
def topics(broker: str) -> Iterator[dict[str, str]]:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=broker)
    run = uuid.uuid4().hex[:10]
    names = {"windows": f"report-{run}-windows", "alerts": f"report-{run}-alerts"}
    admin.create_topics([NewTopic(names["windows"], 3, 1), NewTopic(names["alerts"], 2, 1)], wait_for_metadata=True)
    try:
        yield names
    finally:
        admin.delete_topics(list(names.values()))
        admin.close()


@pytest.mark.timeout(300)
def test_the_topics_give_the_report_of_the_files(broker, topics, tmp_path):
    """A small run's windows and alerts written to topics as the pipeline writes them (Avro single-object,
    keyed by account): read to their end offsets, they make the report the folder makes."""
    from pipelines.cli.reciprocity import run

    out = tmp_path / "run"
    run(["--output", str(out), "--sim_events", "10000", "--sim_seed", "5", "--sim_days", "2", "--min_inbound", "10"])
    skipped = reports.Skipped()
    windows = list(reports.read_jsonl(out / reports.WINDOWS_FILE, skipped))
    alerts = list(reports.read_jsonl(out / reports.ALERTS_FILE, skipped))
    assert windows and alerts and not skipped

    def keyed(records: list[dict], schema: str) -> list[tuple[bytes, bytes]]:
        return [(r["account_id"].encode(), wire.encode(r, schema)) for r in records]

    produce(broker, topics["windows"], keyed(windows, "AccountWindow"))
    produce(broker, topics["alerts"], keyed(alerts, "EngagementAlert"))
    produce(broker, topics["windows"], [(b"x", b"not avro")])  # a foreign message is skipped, not fatal

    from_files, from_kafka = ReportBuilder(sample_size=50), ReportBuilder(sample_size=50)
    assert not reports.from_folder(from_files, out)
    skipped = reports.from_topics(from_kafka, broker, topics["windows"], topics["alerts"])
    assert sum(skipped.values()) == 1 and "bad marker" in next(iter(skipped))
    expected = from_files.build()
    assert from_kafka.build() == expected
    assert expected.windows == len(windows) and expected.alerted

    # The command line draws the same charts from either source.
    common = ["--min_inbound", "10", "--drilldowns", "3"]
    by_folder = report(["--output", str(out), *common]).html.read_text(encoding="utf-8")
    by_topics = report(
        [
            *("--output", str(tmp_path / "from-kafka"), "--kafka_bootstrap", broker),
            *("--windows_topic", topics["windows"], "--alerts_topic", topics["alerts"], *common),
        ]
    ).html.read_text(encoding="utf-8")
    charts = re.compile(r'<img class="chart" id="[^"]+" alt="[^"]*" src="[^"]+">')
    assert charts.findall(by_topics) == charts.findall(by_folder) != []
    assert f"Source: <code>Kafka {broker}: {topics['windows']}, {topics['alerts']}</code>" in by_topics
    assert "Unreadable records skipped: 1" in by_topics
