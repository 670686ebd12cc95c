"""The streaming job on Prism under process faults, against the session's real broker.

* kill -9 mid-stream, then the same command again (same consumer group): the requirement is that the outputs,
  deduplicated by window key and alert_id, equal a fault-free run's. Known to fail on Prism (strict xfail):
  Prism keeps Beam state in its own memory, and the source commits offsets when a read bundle's output is
  handed to the runner (bundle finalization), long before the windows that depend on it are published. Killed
  mid-stream, the job has committed offsets up to the end while most windows are unpublished; the restart
  reads nothing and those windows are lost. Flink commits only after a completed checkpoint, which holds the
  state, so it is not affected; the README's Reliability section gives the figures and the options.
* a second instance joining the same group mid-stream, then leaving: the group stores offsets only, it does
  not share partitions (the source assigns every partition to itself), so the first instance still reads and
  publishes everything: no event is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from kafka import KafkaConsumer

from pipelines.io.producer import produce
from pipelines.model.config import ReciprocityConfig
from pipelines.model.reference import reference
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.cli.jobs import fresh_topics, read_back, run_streaming_job, streaming_job_command

CONFIG = SimulationConfig.for_events(20_000, seed=3, days=2)


def _windows_published(broker: str, topic: str, at_least: int, process: subprocess.Popen, timeout_s: float) -> int:
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest")
    seen, deadline = 0, time.monotonic() + timeout_s
    while seen < at_least and process.poll() is None and time.monotonic() < deadline:
        seen += sum(len(batch) for batch in consumer.poll(timeout_ms=200).values())
    consumer.close()
    return seen


def _by_key(records: list[dict], key: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for record in records:
        out.setdefault(tuple(record[k] for k in key), []).append(record)
    return out


@pytest.mark.xfail(strict=True, reason="Prism: offsets are committed before the state they feed is durable")
def test_kill_9_mid_stream_then_restart_equals_a_fault_free_run(broker, tmp_path):
    events = sorted(generate(build_network(CONFIG)), key=lambda e: e.event_time)
    _, topics = fresh_topics(broker)
    produce(events, broker, topics["events"], progress=False)
    argv = streaming_job_command(broker, topics, "killed", tmp_path / "out")
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert _windows_published(broker, topics["windows"], 1000, first, timeout_s=300) >= 1000
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the job and its Prism
        first.wait()
    started = time.monotonic()
    again = run_streaming_job(broker, topics, "killed", tmp_path / "out")
    print(f"\nrestart ran {time.monotonic() - started:.1f} s")
    assert again.returncode == 0, again.stderr[-3000:]
    windows, alerts = reference(events, ReciprocityConfig(min_inbound=5))
    published = _by_key(read_back(broker, topics["windows"]), ("account_id", "window_end"))
    expected = _by_key(windows, ("account_id", "window_end"))
    print(f"{len(expected)} windows expected, {len(published)} published, {len(set(expected) - set(published))} lost")
    assert set(published) == set(expected)
    assert all(all(r == expected[k][0] for r in rs) for k, rs in published.items())
    assert {a["alert_id"] for a in read_back(broker, topics["alerts"])} == {a["alert_id"] for a in alerts}


def test_a_second_instance_joining_then_leaving_loses_no_event(broker, tmp_path):
    events = sorted(generate(build_network(CONFIG)), key=lambda e: e.event_time)
    _, topics = fresh_topics(broker)
    produce(events, broker, topics["events"], progress=False)
    group = "two-instances"
    argv = streaming_job_command(broker, topics, group, tmp_path / "a")
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    second_argv = streaming_job_command(broker, topics, group, tmp_path / "b")
    second = subprocess.Popen(second_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _windows_published(broker, topics["windows"], 200, first, timeout_s=300)
        os.killpg(second.pid, signal.SIGKILL)  # the second instance leaves (abruptly)
        second.wait()
        stdout, stderr = first.communicate(timeout=900)
    finally:
        for process in (first, second):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert first.returncode == 0, stderr[-3000:]
    assert f"events read        {len(events)}" in stdout  # the first instance read every event
    windows, alerts = reference(events, ReciprocityConfig(min_inbound=5))
    published = _by_key(read_back(broker, topics["windows"]), ("account_id", "window_end"))
    expected = _by_key(windows, ("account_id", "window_end"))
    assert set(expected) <= set(published)
    missing = [k for k, (record,) in expected.items() if record not in published[k]]
    assert not missing  # every window of the fault-free run is published, with its exact figures
    assert {a["alert_id"] for a in alerts} <= {a["alert_id"] for a in read_back(broker, topics["alerts"])}
    conflicting = sum(1 for k, rs in published.items() if any(r != rs[0] for r in rs))
    print(f"\n{len(expected)} windows; {conflicting} keys also published with other figures by the second instance")
