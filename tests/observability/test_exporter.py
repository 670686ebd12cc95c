"""The exporter's reading of the topics (pure: messages in, series out); the broker-backed run is in e2e tests."""

import pytest

from pipelines.io import wire
from pipelines.model.config import ReciprocityConfig
from pipelines.observability.exporter import ExporterOptions, TopicReader, parse_options
from pipelines.observability.metrics import ReciprocityMetrics
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.model.helpers import engine_batch

OPTIONS = ExporterOptions(bootstrap="unused:9092")


def test_messages_become_series():
    events = list(generate(build_network(SimulationConfig(seed=5, gurus=12, fans=600, days=2))))
    windows, alerts = engine_batch(events, ReciprocityConfig(min_inbound=10))
    metrics = ReciprocityMetrics()
    reader = TopicReader(metrics, OPTIONS)
    for event in events[:500]:
        reader.handle(OPTIONS.events_topic, wire.encode(event.to_record(), "SocialEvent"))
    for window in windows:
        reader.handle(OPTIONS.windows_topic, wire.encode(window, "AccountWindow"))
    for alert in alerts:
        reader.handle(OPTIONS.alerts_topic, wire.encode(alert, "EngagementAlert"))
    reader.handle(OPTIONS.events_topic, b"garbage")  # the pipeline dead-letters it; the exporter skips it
    reader.handle(OPTIONS.windows_topic, b"garbage")
    total_events = sum(
        metrics.registry.get_sample_value("reciprocity_events_total", {"event_type": t}) or 0
        for t in ("POST", "REPLY", "MENTION", "SHARE", "LIKE", "FOLLOW", "PROFILE")
    )
    assert total_events == 500
    windows_seen = sum(
        metrics.registry.get_sample_value("reciprocity_account_windows_total", {"tier": t}) or 0
        for t in ("celebrity", "leader", "rising", "normal", "unknown")
    )
    assert windows_seen == len(windows) > 0
    assert (
        metrics.registry.get_sample_value("reciprocity_exporter_read_errors_total", {"topic": OPTIONS.windows_topic})
        == 1
    )
    assert sum(
        metrics.registry.get_sample_value("reciprocity_alerts_total", {"status": "firing", "tier": t}) or 0
        for t in ("celebrity", "leader", "rising", "normal", "unknown")
    ) == sum(a["status"] == "firing" for a in alerts)


def test_options_default_to_loopback_and_refuse_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    options = parse_options(["--kafka_bootstrap", "k:9092"])
    assert (options.bind, options.port, options.events_topic) == ("127.0.0.1", 9464, "social-events")
    assert parse_options(["--kafka_bootstrap", "k:9092", "--bind", "0.0.0.0"]).bind == "0.0.0.0"
    refused = ((["--port", "0"], "--port must be between 1 and 65535, got 0"), (["--top_k", "-1"], "--top_k"))
    for bad, message in refused:
        with pytest.raises(SystemExit) as exited:
            parse_options(["--kafka_bootstrap", "k:9092", *bad])
        assert exited.value.code == 2 and message in capsys.readouterr().err
