"""Failures and savepoints of the streaming job on a real Flink 1.19 cluster (2 TaskManagers), real broker.

- A TaskManager killed with `kill -9` while the job reads (an endless run): a new TaskManager is started, the job
  restores from its last completed checkpoint and goes on, and once the input is drained the windows (keyed by
  account and window) and alerts (by alert_id) equal the reference computation of the same events exactly, with
  no dead letter (input events = processed + dead letters). The consumer group's offsets advance on Flink too
  (committed after completed checkpoints) and reach the end offsets.
- Stop with a savepoint and resume from it (`--savepoint_path`): the first run leaves windows pending in the
  savepoint, the resumed run publishes them, and the union equals the reference.

Events are produced in event-time order: the Kafka source's watermark allows 5 s of disorder, and a replay of
history out of order by hours would have late events in any run, failure or not.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pipelines.io.flink_rest import FlinkRest, FlinkRestError
from pipelines.io.producer import produce
from pipelines.model.events import SocialEvent
from pipelines.model.reference import reference
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.cli.jobs import fresh_topics, read_back
from tests.conftest import LocalFlink
from tests.flink.test_flink_job import CONFIG, MEDIUM, assert_equals_reference, job_command
from tests.io.test_kafka_io import committed
from tests.waiting import wait_for as wait

T = TypeVar("T")

# About 95k events over 8 days: the read takes longer than the job's first checkpoints, so the kill lands mid-read.
LARGE = SimulationConfig(seed=5, gurus=8, fans=1500, days=8, posts_per_day=8, engagers_per_post=60)
CHECKPOINT_MS = "2000"


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float, every_s: float = 1.0) -> T:
    """A wait on the cluster: a job being deployed or restarted answers 500 for a moment, which is "not yet"."""
    return wait(what, probe, timeout_s, every_s, passing=(FlinkRestError,))


def sorted_events(config: SimulationConfig) -> list[SocialEvent]:
    return sorted(generate(build_network(config)), key=lambda event: event.event_time)


def completed_checkpoints(rest: FlinkRest, job_id: str) -> int:
    return rest.checkpoint_counts(job_id)["completed"]


def offsets_read(broker: str, group: str, topic: str) -> tuple[int, int]:
    """(the group's committed offsets summed over partitions, the end offsets summed)."""
    offsets, ends = committed(broker, group, topic)
    return sum(offset or 0 for offset in offsets.values()), sum(ends.values())


def kill_taskmanager(cluster: LocalFlink, resource_id: str) -> None:
    """kill -9 of the TaskManager `local-taskmanager-<i>` (and its process group), waiting until it is gone."""
    pid = int((cluster.home / f"{resource_id.removeprefix('local-')}.pid").read_text())
    os.killpg(pid, signal.SIGKILL)
    wait_for(f"TaskManager {resource_id} (pid {pid}) gone", lambda: not Path(f"/proc/{pid}").exists(), 30, 0.2)


def test_a_taskmanager_killed_mid_read_loses_nothing(flink_cluster: LocalFlink, broker: str, tmp_path: Path):
    suffix, topics = fresh_topics(broker)
    group = f"job-{suffix}"
    events = sorted_events(LARGE)
    produce(events, broker, topics["events"], progress=False)
    env = {**os.environ, "FLINK_HOME": str(flink_cluster.home)}
    command = [
        *job_command(flink_cluster, broker, topics, group, tmp_path / "out"),
        "--checkpointing_interval",
        CHECKPOINT_MS,
        # The restore reads from the checkpointed positions whatever is committed; `position` commits make the
        # committed offsets show where the read is at each checkpoint, which places the kill mid-read (tail
        # commits lag by a window; a fresh start over them is test_flink_job.py's).
        "--commit_offsets",
        "position",
    ]
    rest = FlinkRest(flink_cluster.rest)
    with (tmp_path / "job.log").open("w") as log:
        job = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        job_id = rest.wait_for_job(f"reciprocity-{group}")
        wait_for("a first completed checkpoint", lambda: completed_checkpoints(rest, job_id) >= 1, 300, 0.3)
        victims = wait_for("a TaskManager running the read", lambda: rest.taskmanagers_running(job_id, "Source"), 60)
        read_at_kill, end = offsets_read(broker, group, topics["events"])
        kill_taskmanager(flink_cluster, victims[0])
        assert 0 < read_at_kill < end, "the kill must land mid-read, after a checkpoint committed some offsets"

        restarted = flink_cluster.script("up", timeout=300)  # starts the missing TaskManager only
        assert restarted.returncode == 0, restarted.stderr[-2000:]
        wait_for("the job restored from a checkpoint", lambda: rest.checkpoint_counts(job_id)["restored"] >= 1, 300)
        # An endless run: once caught up, the source's watermark follows the clock and every window closes.
        expected_windows, _ = reference(events, CONFIG)
        expected = {(w["account_id"], w["window_end"]) for w in expected_windows}
        wait_for(
            "every expected window published",
            lambda: expected <= {(w["account_id"], w["window_end"]) for w in read_back(broker, topics["windows"])},
            600,
            5.0,
        )
        wait_for("offsets committed to the end", lambda: offsets_read(broker, group, topics["events"])[0] == end, 120)
        assert rest.state(job_id) == "RUNNING"
    finally:
        for job_status in rest.jobs():
            if job_status.name == f"reciprocity-{group}" and job_status.state == "RUNNING":
                rest.cancel(job_status.job_id)
        job.terminate()
        job.wait(timeout=60)
        rest.close()
    # Windows written before and after the restore may repeat (at-least-once sinks): equal, by key and content.
    assert_equals_reference(broker, topics, events)


def test_stop_with_a_savepoint_and_resume(flink_cluster: LocalFlink, broker: str, tmp_path: Path):
    suffix, topics = fresh_topics(broker)
    group = f"job-{suffix}"
    events = sorted_events(MEDIUM)
    produce(events, broker, topics["events"], progress=False)
    env = {**os.environ, "FLINK_HOME": str(flink_cluster.home)}
    command = [*job_command(flink_cluster, broker, topics, group, tmp_path / "out"), "--until_end_offsets"]
    rest = FlinkRest(flink_cluster.rest)
    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen(
            [*command, "--checkpointing_interval", CHECKPOINT_MS], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        job_id = rest.wait_for_job(f"reciprocity-{group}")
        wait_for("a first completed checkpoint", lambda: completed_checkpoints(rest, job_id) >= 1, 300, 0.3)
        savepoint = rest.stop_with_savepoint(job_id, f"file://{tmp_path / 'savepoints'}")
        assert first.wait(timeout=120) == 0, (tmp_path / "first.log").read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    assert rest.state(job_id) == "FINISHED"
    assert Path(savepoint.removeprefix("file:")).is_dir()
    expected_windows, _ = reference(events, CONFIG)
    before = {(w["account_id"], w["window_end"]) for w in read_back(broker, topics["windows"])}
    assert len(before) < len(expected_windows), "not drained: windows stay pending in the savepoint"

    # The same job again, from the savepoint: it goes on where the first stopped and ends once drained.
    again = list(command)
    again[again.index("--job_name") + 1] = f"reciprocity-{group}-resumed"
    resumed = subprocess.run(
        [*again, "--savepoint_path", savepoint],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    rest.close()
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "FINISHED (stopped with a drained savepoint" in resumed.stderr
    assert_equals_reference(broker, topics, events)
