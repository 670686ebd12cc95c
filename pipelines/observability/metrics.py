"""Every Prometheus metric of the product, defined once.

The pipeline may run on many Flink workers, so no worker serves these: the exporter
(pipelines/observability/exporter.py) reads the topics the pipeline writes (account windows, alerts, dead
letters) and the events topic, and turns what it reads into these series. Beam's own counters
(`reciprocity/...`) reach Prometheus separately, through Flink's Prometheus reporter.

Naming follows Prometheus practice: a `reciprocity_` prefix, base units in the name, `_total` counters
(client_python adds the suffix). Labels are bounded: event type, tier, status and a reason class. Accounts
appear only in the opt-in top-K gauge, which has a hard cap.
"""

from __future__ import annotations

import platform
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

import pipelines
from pipelines.model.events import EVENT_TYPES

TIERS = ("celebrity", "leader", "rising", "normal", "unknown")
RATE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
TOP_K_CAP = 50
# Dead-letter reasons are free text; their first words name the class, and only known classes become labels.
REASON_CLASSES = {
    "not valid JSON": "invalid_json",
    "expected a JSON object": "not_an_object",
    "event_type must be": "bad_event_type",
    "late event": "late",
    "unreadable Avro": "unreadable_avro",
    "event_time": "bad_event_time",
    "needs target_account_id": "missing_target",
}


def reason_class(reason: str) -> str:
    for fragment, name in REASON_CLASSES.items():
        if fragment in reason:
            return name
    if "must be" in reason:
        return "bad_field"
    if "single-object" in reason or "fingerprint" in reason or "Avro" in reason:
        return "undecodable_message"
    return "other"


class ReciprocityMetrics:
    """The product's series in one registry, and how each record read from Kafka updates them."""

    def __init__(self, registry: CollectorRegistry | None = None, top_k: int = 0, window_s: float = 86_400) -> None:
        if not 0 <= top_k <= TOP_K_CAP:
            raise ValueError(f"--top_k must be between 0 and {TOP_K_CAP}, got {top_k}")
        self.registry = registry or CollectorRegistry()
        self._top_k = top_k
        self._window_s = window_s
        r = self.registry
        self.build_info = Info("reciprocity_build", "Version of the reciprocity product and its runtime.", registry=r)
        self.events = Counter(
            "reciprocity_events", "Social events read from the events topic.", ["event_type"], registry=r
        )
        self.dead_letters = Counter(
            "reciprocity_dead_letters", "Inputs that could not be used, by reason class.", ["reason"], registry=r
        )
        self.read_errors = Counter(
            "reciprocity_exporter_read_errors",
            "Messages on the output topics the exporter could not decode, by topic.",
            ["topic"],
            registry=r,
        )
        self.late_events = Counter(
            "reciprocity_late_events_dropped", "Events that arrived after their windows were evaluated.", registry=r
        )
        self.account_windows = Counter(
            "reciprocity_account_windows", "Account windows published, by the account's tier.", ["tier"], registry=r
        )
        self.alerts = Counter(
            "reciprocity_alerts", "One-way alert status changes, by status and tier.", ["status", "tier"], registry=r
        )
        self.firing = Gauge(
            "reciprocity_alerts_firing", "Accounts whose one-way alert is firing.", ["tier"], registry=r
        )
        self.preachers = Gauge(
            "reciprocity_preachers", "Distinct preachers with a published window in the last window length.", registry=r
        )
        self.response_rate = Histogram(
            "reciprocity_response_rate_ratio",
            "Response rate of published account windows, by tier.",
            ["tier"],
            buckets=RATE_BUCKETS,
            registry=r,
        )
        self.fan_response_rate = Histogram(
            "reciprocity_fan_response_rate_ratio",
            "Response rate toward fans (normal/unknown tier engagers) of published windows, by tier.",
            ["tier"],
            buckets=RATE_BUCKETS,
            registry=r,
        )
        self.peer_share = Histogram(
            "reciprocity_peer_share_ratio",
            "Share of outbound targets that are peers (rising tier or above), by tier.",
            ["tier"],
            buckets=RATE_BUCKETS,
            registry=r,
        )
        self.last_window_end = Gauge(
            "reciprocity_last_window_end_timestamp_seconds",
            "Event time of the latest window end published.",
            registry=r,
        )
        self.event_time_lag = Gauge(
            "reciprocity_event_time_lag_seconds",
            "Wall clock minus the latest window end published: how far results trail real time.",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "reciprocity_kafka_consumer_lag_messages",
            "Messages of a topic not yet committed by the pipeline's consumer group.",
            ["topic"],
            registry=r,
        )
        self.top_firing = Gauge(
            "reciprocity_top_firing_account_inbound_engagers",
            f"Opt-in (--top_k, at most {TOP_K_CAP}): inbound engagers of the busiest firing accounts.",
            ["account_id", "tier"],
            registry=r,
        )
        self.build_info.info(
            {"version": pipelines.__version__, "python": platform.python_version(), "beam": _beam_version()}
        )
        for event_type in sorted(EVENT_TYPES):
            self.events.labels(event_type)
        for tier in TIERS:
            self.firing.labels(tier).set(0)
        self._firing: dict[str, tuple[str, int]] = {}
        self._preachers: dict[str, float] = {}
        self._latest_end_s = 0.0

    # ---- records read from the topics -----------------------------------------------------------------
    def on_event(self, event_type: str) -> None:
        self.events.labels(event_type).inc()

    def on_dead_letter(self, record: dict[str, Any]) -> None:
        kind = reason_class(record.get("reason", ""))
        self.dead_letters.labels(kind).inc()
        if kind == "late":
            self.late_events.inc()

    def on_window(self, window: dict[str, Any]) -> None:
        tier = window["tier"]
        self.account_windows.labels(tier).inc()
        for histogram, field in (
            (self.response_rate, "response_rate"),
            (self.fan_response_rate, "fan_response_rate"),
            (self.peer_share, "peer_share"),
        ):
            if window[field] is not None:
                histogram.labels(tier).observe(window[field])
        end_s = window["window_end"] / 1000
        if end_s > self._latest_end_s:
            self._latest_end_s = end_s
            self.last_window_end.set(end_s)
        if window["is_preacher"]:
            self._preachers[window["account_id"]] = max(end_s, self._preachers.get(window["account_id"], 0.0))
        self._refresh_preachers()

    def on_alert(self, alert: dict[str, Any]) -> None:
        tier = alert["metrics"]["tier"]
        self.alerts.labels(alert["status"], tier).inc()
        account = alert["account_id"]
        if alert["status"] == "firing":
            self._firing[account] = (tier, alert["metrics"]["inbound_engagers"])
        else:
            self._firing.pop(account, None)
        for name in TIERS:
            self.firing.labels(name).set(sum(1 for t, _ in self._firing.values() if t == name))
        if self._top_k:
            self._refresh_top()

    def tick(self, now_s: float | None = None) -> None:
        """Time-driven gauges; the exporter calls this before every scrape-sized interval."""
        if self._latest_end_s:
            self.event_time_lag.set(max(0.0, (now_s or time.time()) - self._latest_end_s))

    # ---- helpers ------------------------------------------------------------------------------------
    def _refresh_preachers(self) -> None:
        horizon = self._latest_end_s - self._window_s
        if len(self._preachers) > 4 * TOP_K_CAP:  # forget preachers that left the horizon, keep memory flat
            self._preachers = {a: t for a, t in self._preachers.items() if t > horizon}
        self.preachers.set(sum(1 for t in self._preachers.values() if t > horizon))

    def _refresh_top(self) -> None:
        self.top_firing.clear()
        busiest = sorted(self._firing.items(), key=lambda item: (-item[1][1], item[0]))[: self._top_k]
        for account, (tier, inbound) in busiest:
            self.top_firing.labels(account, tier).set(inbound)


def _beam_version() -> str:
    try:
        from importlib.metadata import version

        return version("apache-beam")
    except Exception:  # metadata missing in odd installs: the build info says so
        return "unknown"


class IngestMetrics:
    """The live ingesters' series (`python -m pipelines.ingest bluesky|mastodon|snap --metrics_port N`).

    An ingester is one process, so it serves these itself. Labels are bounded: the source (bluesky, mastodon,
    snap), the event type, and the mappers' fixed skip, dead-letter and clamp reasons.
    """

    def __init__(self, source: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.source = source
        r = self.registry
        self.frames = Counter(
            "reciprocity_ingest_frames", "Frames received from a live source.", ["source"], registry=r
        )
        self.events = Counter(
            "reciprocity_ingest_events", "Events delivered to the sink, by type.", ["source", "event_type"], registry=r
        )
        self.skipped = Counter(
            "reciprocity_ingest_skipped",
            "Well-formed frames that carry no event (deletes, identity changes, ...), by reason.",
            ["source", "reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "reciprocity_ingest_dead_letters",
            "Malformed frames written to the dead-letter output, by reason class.",
            ["source", "reason"],
            registry=r,
        )
        self.clamped = Counter(
            "reciprocity_ingest_clamped_event_times",
            "Events whose own timestamp was replaced by the service's (clock skew, backdating, missing), by reason.",
            ["source", "reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "reciprocity_ingest_duplicates_dropped",
            "Events dropped because their event_id was already delivered (reconnection overlap).",
            ["source"],
            registry=r,
        )
        self.reconnects = Counter(
            "reciprocity_ingest_reconnects",
            "Connections re-established after a drop or an error.",
            ["source"],
            registry=r,
        )
        self.lag = Gauge(
            "reciprocity_ingest_lag_seconds",
            "Wall clock minus the event time of the latest event delivered.",
            ["source"],
            registry=r,
        )
        for event_type in sorted(EVENT_TYPES):
            self.events.labels(source, event_type)
        self.frames.labels(source)
        self.duplicates.labels(source)
        self.reconnects.labels(source)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when never set): for summaries and tests."""
        return self.registry.get_sample_value(name, {"source": self.source, **labels}) or 0.0


# What Flink's Prometheus reporter serves for the job on a Flink cluster (deploy/local/flink.sh), that the
# dashboard's "Flink: " panels draw. Flink's names, not ours: Beam's counters of the job appear as
# flink_taskmanager_job_task_operator_<namespace>_<name> (gauges of the running total), Flink's job and task
# metrics under their own names. tests/flink checks that each returns data from a real Prometheus scraping a
# real cluster.
FLINK_SERIES = frozenset(
    {
        "flink_taskmanager_job_task_operator_reciprocity_kafka_events_read",
        "flink_jobmanager_job_numberOfCompletedCheckpoints",
        "flink_jobmanager_job_lastCheckpointDuration",
        "flink_jobmanager_job_numRestarts",
        "flink_taskmanager_job_task_numRecordsInPerSecond",
        "flink_taskmanager_job_task_numRecordsOutPerSecond",
        "flink_taskmanager_job_task_backPressuredTimeMsPerSecond",
    }
)
