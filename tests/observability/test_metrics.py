"""The exported series: values follow the records read, names and cardinality pass promtool's lint."""

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest

from pipelines.model.config import ReciprocityConfig
from pipelines.observability.metrics import TOP_K_CAP, ReciprocityMetrics, reason_class
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.model.helpers import engine_batch


@pytest.fixture(scope="module")
def outputs():
    events = list(generate(build_network(SimulationConfig(seed=5, gurus=12, fans=600, days=3))))
    windows, alerts = engine_batch(events, ReciprocityConfig(min_inbound=10))
    alerts.sort(key=lambda a: a["window_end"])
    return events, windows, alerts


def fed(outputs, top_k=0):
    events, windows, alerts = outputs
    metrics = ReciprocityMetrics(top_k=top_k)
    for event in events:
        metrics.on_event(event.event_type)
    for window in windows:
        metrics.on_window(window)
    for alert in alerts:
        metrics.on_alert(alert)
    metrics.on_dead_letter({"reason": "not valid JSON: Expecting value"})
    metrics.on_dead_letter({"reason": "late event: event_time 2026-01-05T00:10:00Z falls in windows of x"})
    metrics.tick(now_s=max(w["window_end"] for w in windows) / 1000 + 30)
    return metrics


def sample(metrics, name, labels=None):
    return metrics.registry.get_sample_value(name, labels or {})


def test_values_follow_the_records(outputs):
    events, windows, alerts = outputs
    metrics = fed(outputs)
    assert sample(metrics, "reciprocity_events_total", {"event_type": "REPLY"}) == sum(
        e.event_type == "REPLY" for e in events
    )
    tiers = {w["tier"] for w in windows}
    assert sum(sample(metrics, "reciprocity_account_windows_total", {"tier": t}) for t in tiers) == len(windows)
    firing = {a["account_id"]: a["status"] for a in alerts}  # the last status per account
    assert sum(
        sample(metrics, "reciprocity_alerts_firing", {"tier": t}) for t in ("celebrity", "leader", "rising", "normal")
    ) == sum(s == "firing" for s in firing.values())
    assert sample(metrics, "reciprocity_dead_letters_total", {"reason": "invalid_json"}) == 1
    assert sample(metrics, "reciprocity_late_events_dropped_total") == 1
    assert sample(metrics, "reciprocity_event_time_lag_seconds") == 30
    rated = [w for w in windows if w["response_rate"] is not None]
    assert sum(sample(metrics, "reciprocity_response_rate_ratio_count", {"tier": t}) or 0 for t in tiers) == len(rated)


def test_no_account_labels_unless_asked_and_capped(outputs):
    exposition = generate_latest(fed(outputs).registry).decode()
    assert "account_id=" not in exposition
    metrics = fed(outputs, top_k=3)
    top = [s for m in metrics.registry.collect() for s in m.samples if s.name.startswith("reciprocity_top_firing")]
    assert 0 < len(top) <= 3
    with pytest.raises(ValueError, match=f"--top_k must be between 0 and {TOP_K_CAP}, got 51"):
        ReciprocityMetrics(top_k=TOP_K_CAP + 1)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("not valid JSON: x", "invalid_json"),
        ("event_type must be one of POST, ...", "bad_event_type"),
        ("REPLY needs target_account_id", "missing_target"),
        ("followers_count must be a non-negative integer or null, got -3", "bad_field"),
        ("something else entirely", "other"),
    ],
)
def test_reason_classes_are_bounded(reason, kind):
    assert reason_class(reason) == kind


def test_promtool_accepts_the_exposition(outputs):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `bash deploy/local/install-tools.sh` installs it"
    exposition = generate_latest(fed(outputs, top_k=5).registry)
    checked = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.decode().strip() == ""  # no lint findings either


def test_promtool_accepts_the_ingester_exposition():
    from pipelines.io.social import Delivery
    from pipelines.model.bluesky import map_frame
    from pipelines.observability.metrics import IngestMetrics
    from tests.fixtures.jetstream import FRAMES

    metrics = IngestMetrics("bluesky")
    delivery = Delivery(sink=_NullSink(), metrics=metrics)
    for frame in FRAMES.values():
        delivery.take(map_frame(frame), frame, "test")
    metrics.reconnects.labels("bluesky").inc()
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `bash deploy/local/install-tools.sh` installs it"
    exposition = generate_latest(metrics.registry)
    checked = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, check=False)
    assert checked.returncode == 0 and checked.stdout.decode().strip() == "", checked.stdout.decode()
    assert metrics.value("reciprocity_ingest_events_total", event_type="PROFILE") == 2
    assert metrics.value("reciprocity_ingest_clamped_event_times_total", reason="future") == 1


class _NullSink:
    def events(self, events):
        pass

    def dead_letter(self, reason, source, raw):
        pass

    def flush(self):
        pass

    def close(self):
        pass
