"""deploy/grafana: the dashboard is consistent with the provisioned datasource and with the exported series.

Grafana's dashboard-linter cannot be installed here (the Go module proxy refuses it), so these checks carry
its main rules: a datasource on every panel and target, unique ids, no overlapping panels, rates only of
counters, and every series a query names is one the exporter defines.
"""

import json
import re
from pathlib import Path

import yaml

from pipelines.observability.metrics import FLINK_SERIES, IngestMetrics, ReciprocityMetrics

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "reciprocity.json").read_text())
DATASOURCE_UID = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())[
    "datasources"
][0]["uid"]
SERIES = re.compile(r"\b(reciprocity_[a-z_]+)\b")
RATED = re.compile(r"\b(?:rate|increase|irate)\((reciprocity_[a-z_]+)")


def exported_series() -> set[str]:
    metrics = ReciprocityMetrics(top_k=1)
    metrics.top_firing.labels("a", "leader").set(1)
    for histogram in (metrics.response_rate, metrics.fan_response_rate, metrics.peer_share):
        histogram.labels("leader").observe(0.5)
    for counter in (metrics.dead_letters, metrics.account_windows, metrics.read_errors):
        counter.labels("x").inc()
    metrics.alerts.labels("firing", "leader").inc()
    metrics.consumer_lag.labels("t").set(1)
    ingest = IngestMetrics("bluesky")
    for counter in (ingest.skipped, ingest.dead_letters, ingest.clamped):
        counter.labels("bluesky", "x").inc()
    ingest.lag.labels("bluesky").set(1)
    return {
        sample.name
        for registry in (metrics.registry, ingest.registry)
        for family in registry.collect()
        for sample in family.samples
    }


def targets():
    return [(panel, target) for panel in DASHBOARD["panels"] for target in panel["targets"]]


def test_every_panel_and_target_uses_the_provisioned_datasource():
    assert DASHBOARD["uid"] and DASHBOARD["title"]
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        assert panel["targets"], panel["title"]
    for panel, target in targets():
        assert target["datasource"]["uid"] == DATASOURCE_UID, panel["title"]


def test_ids_unique_and_panels_do_not_overlap():
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in DASHBOARD["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & area, f"{panel['title']} overlaps another panel"
        cells |= area


FLINK_NAMES = re.compile(r"\b(flink_[A-Za-z_]+)\b")


def is_flink_panel(panel: dict) -> bool:
    """The panels drawn from Flink's reporter (a job on a Flink cluster), checked live by tests/flink."""
    return panel["title"].startswith("Flink: ")


def test_flink_panels_name_only_the_flink_series_the_project_lists():
    flink = [(panel, target) for panel, target in targets() if is_flink_panel(panel)]
    assert flink, "the dashboard has no Flink panels"
    for panel, target in flink:
        names = FLINK_NAMES.findall(target["expr"])
        assert names and set(names) <= FLINK_SERIES, f"{panel['title']}: {target['expr']}"
        assert not RATED_ANY.search(target["expr"]), f"{panel['title']}: Flink serves these as gauges"


RATED_ANY = re.compile(r"\b(?:rate|increase|irate)\(")


def test_queries_name_only_exported_series_and_rate_only_counters():
    exported = exported_series()
    for panel, target in targets():
        if is_flink_panel(panel):
            continue
        names = SERIES.findall(target["expr"])
        assert names, panel["title"]
        for name in names:
            assert name in exported, f"{panel['title']}: {name} is not exported"
        for name in RATED.findall(target["expr"]):
            assert name.endswith(("_total", "_sum", "_count", "_bucket")), f"{panel['title']}: rate of gauge {name}"


def test_timeseries_panels_have_units():
    for panel in DASHBOARD["panels"]:
        if panel["type"] == "timeseries":
            assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
