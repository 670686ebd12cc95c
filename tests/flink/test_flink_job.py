"""The streaming job on a real Flink 1.19 cluster (2 TaskManagers, Beam's job server, the worker pool), real broker.

- Parity: events in Kafka -> the job at parallelism 2 -> the windows and alerts topics equal the reference
  computation of the same events (the batch replay equals it too: tests/transforms).
- Metrics: while it runs, a real Prometheus scraping Flink's reporters answers every "Flink: " panel of the
  Grafana dashboard (Beam's counter of events read, checkpoints, restarts, records in/out, backpressure).
Failures and savepoints: test_flink_recovery.py.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

from pipelines.io.flink_rest import FlinkRest
from pipelines.io.producer import produce
from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import SocialEvent
from pipelines.model.reference import reference
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.cli.jobs import end_offsets, fresh_topics, read_back, reciprocity_command, tail_commits
from tests.conftest import LocalFlink
from tests.model.helpers import canonical
from tests.observability.test_prometheus_live import DASHBOARD, api, dashboard_queries, running_prometheus

# About 3.8k events over 2 days, 8 preachers: every kind of window and a few alerts, in a minute on the cluster.
MEDIUM = SimulationConfig(seed=11, gurus=8, fans=400, days=2, posts_per_day=4, engagers_per_post=15)
CONFIG = ReciprocityConfig(min_inbound=5)
# 20k events over 2 days: a job long enough to be cancelled after its first tail commit.
LARGE = SimulationConfig.for_events(20_000, seed=3, days=2)


def job_command(cluster: LocalFlink, broker: str, topics: dict[str, str], group: str, out: Path) -> list[str]:
    return reciprocity_command(
        broker,
        topics,
        group,
        out,
        "--runner",
        "FlinkRunner",
        "--flink_master",
        cluster.rest,
        "--parallelism",
        "2",
        "--min_inbound",
        str(CONFIG.min_inbound),
        "--job_name",
        f"reciprocity-{group}",
    )


def assert_equals_reference(broker: str, topics: dict[str, str], events: list[SocialEvent]) -> None:
    expected_windows, expected_alerts = reference(events, CONFIG)
    # At-least-once sinks: a window or an alert may be written twice, with the same key.
    windows = {(w["account_id"], w["window_end"]): w for w in read_back(broker, topics["windows"])}
    expected = {(w["account_id"], w["window_end"]): w for w in expected_windows}
    assert sorted(expected.keys() - windows.keys()) == [], "windows missing"
    assert sorted(windows.keys() - expected.keys()) == [], "windows the reference does not have"
    assert canonical(list(windows.values())) == canonical(expected_windows)
    assert {a["alert_id"] for a in read_back(broker, topics["alerts"])} == {a["alert_id"] for a in expected_alerts}
    assert read_back(broker, topics["dead"]) == []


def flink_panels_without_data(prometheus: str) -> list[str]:
    """The dashboard's "Flink: " queries that Prometheus answers with nothing (or not finite) yet."""
    missing = []
    for title, expr in dashboard_queries(json.loads(DASHBOARD.read_text()), flink=True):
        response = api(prometheus, "/api/v1/query", query=expr)
        values = [float(v["value"][1]) for v in response.get("data", {}).get("result", [])]
        if response.get("status") != "success" or not values or not all(math.isfinite(v) for v in values):
            missing.append(f"{title}: {expr}")
    return missing


def test_the_job_on_two_taskmanagers_equals_the_reference(flink_cluster: LocalFlink, broker: str, tmp_path: Path):
    suffix, topics = fresh_topics(broker)
    events = list(generate(build_network(MEDIUM)))
    produce(events, broker, topics["events"], progress=False)
    env = {**os.environ, "FLINK_HOME": str(flink_cluster.home)}
    command = [*job_command(flink_cluster, broker, topics, f"job-{suffix}", tmp_path / "out"), "--until_end_offsets"]
    first_tm = int(flink_cluster.env["FLINK_TM_METRICS_PORT"])
    reporters = [f"127.0.0.1:{p}" for p in (int(flink_cluster.env["FLINK_JM_METRICS_PORT"]), first_tm, first_tm + 1)]
    # A real Prometheus scrapes Flink's reporters while the job runs: the dashboard's Flink panels must get data.
    log = tmp_path / "job.log"
    with running_prometheus(tmp_path, {"flink": reporters}) as prometheus, log.open("w") as output:
        job = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        missing = flink_panels_without_data(prometheus)
        while missing and job.poll() is None:
            time.sleep(1)
            missing = flink_panels_without_data(prometheus)
        job.wait(timeout=600)
    stderr = log.read_text()
    assert job.returncode == 0, stderr[-3000:]
    assert missing == [], "Flink panels without data while the job ran"
    # It found the cluster's job server and worker pool by itself, checkpointed, and ended the job when drained.
    assert "flink: the local cluster's Beam Flink job server" in stderr
    assert "flink: checkpointing every 10 s" in stderr
    assert "FINISHED (stopped with a drained savepoint" in stderr
    rest = FlinkRest(flink_cluster.rest)
    assert [job.state for job in rest.jobs() if job.name == f"reciprocity-job-{suffix}"] == ["FINISHED"]
    rest.close()
    assert_equals_reference(broker, topics, events)
    # The tail commits ran on the cluster too: drained, no window needs an event any more.
    commits = tail_commits(broker, topics["events"], f"job-{suffix}")
    assert {p: offset for p, (offset, _) in commits.items()} == end_offsets(broker, topics["events"])
    assert all(mark is not None for _, mark in commits.values())


def test_a_fresh_start_with_new_state_and_the_same_group_equals_the_reference(
    flink_cluster: LocalFlink, broker: str, tmp_path: Path
):
    """The job cancelled mid-stream without a savepoint (its state gone), then submitted anew with the same group:
    it resumes from the tail the first one committed, and every window and alert equals the reference's, every
    copy of a window included (the restart publishes no window built from part of its data)."""
    suffix, topics = fresh_topics(broker)
    events = list(generate(build_network(LARGE)))
    produce(events, broker, topics["events"], progress=False)
    group, env = f"fresh-{suffix}", {**os.environ, "FLINK_HOME": str(flink_cluster.home)}
    # Commits are made once a checkpoint completes: every 2 s here, so that some come before the job's end.
    options = ["--until_end_offsets", "--window", "6h", "--checkpointing_interval", "2000"]
    command = [*job_command(flink_cluster, broker, topics, group, tmp_path / "a"), *options]
    first = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    rest = FlinkRest(flink_cluster.rest)
    try:
        job_id = rest.wait_for_job(f"reciprocity-{group}")
        deadline = time.monotonic() + 300
        while rest.state(job_id) in ("CREATED", "INITIALIZING", "RUNNING") and time.monotonic() < deadline:
            if any(mark is not None for _, mark in tail_commits(broker, topics["events"], group).values()):
                break
            time.sleep(0.2)
        assert rest.state(job_id) == "RUNNING", "the job ended (or never committed a tail) before the cancel"
        rest.cancel(job_id)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    before = len(read_back(broker, topics["windows"]))
    again = subprocess.run(
        [*command, "--output", str(tmp_path / "b"), "--job_name", f"reciprocity-{group}-again"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    rest.close()
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming group {group}" in again.stderr
    config = ReciprocityConfig(min_inbound=CONFIG.min_inbound, window_ms=6 * 3_600_000)
    expected_windows, expected_alerts = reference(events, config)
    expected = {(w["account_id"], w["window_end"]): w for w in expected_windows}
    published = read_back(broker, topics["windows"])
    print(f"\nfresh start on Flink: {before} windows before the cancel, {len(published) - before} after")
    assert {(w["account_id"], w["window_end"]) for w in published} == expected.keys()
    assert [w for w in published if w != expected[(w["account_id"], w["window_end"])]] == []
    assert {a["alert_id"] for a in read_back(broker, topics["alerts"])} == {a["alert_id"] for a in expected_alerts}
