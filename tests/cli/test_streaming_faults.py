"""The streaming job on Prism under process faults, against the session's real broker.

* kill -9 mid-stream, then the same command again (same consumer group): the outputs, deduplicated by window key
  and alert_id, equal a fault-free run's. Prism keeps Beam state in its own memory, so the job commits the *tail*
  (`--commit_offsets tail`, pipelines/io/kafka/commit.py): per partition, the offset from which every event an
  unpublished window needs is read again, with the mark below which every window was published. The restart
  re-reads that tail, publishes nothing below the mark and takes the alert states from the published alerts.
  With `--commit_offsets position` the same kill loses most open windows (the README's Reliability section).
* a second instance joining the same group mid-stream, then leaving: the group stores offsets only, it does
  not share partitions (the source assigns every partition to itself), so the first instance still reads and
  publishes everything: no event is lost.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest
from kafka import KafkaConsumer

from pipelines.io.producer import produce
from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import iso_utc
from pipelines.model.reference import reference
from pipelines.model.windows import parse_duration
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.cli.jobs import fresh_topics, read_back, run_streaming_job, streaming_job_command, tail_commits

CONFIG = SimulationConfig.for_events(20_000, seed=3, days=2)


def _windows_published(broker: str, topic: str, at_least: int, process: subprocess.Popen, timeout_s: float) -> int:
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest")
    seen, deadline = 0, time.monotonic() + timeout_s
    while seen < at_least and process.poll() is None and time.monotonic() < deadline:
        seen += sum(len(batch) for batch in consumer.poll(timeout_ms=200).values())
    consumer.close()
    return seen


def _committed_mark(broker: str, topic: str, group: str) -> int | None:
    """The mark of the group's tail commits (the largest over the partitions), None before the first."""
    marks = [mark for _, mark in tail_commits(broker, topic, group).values() if mark is not None]
    return max(marks, default=None)


def _kill_after_a_mark(broker: str, topic: str, group: str, at_least_ms: int, process: subprocess.Popen) -> int:
    """Kills the job (and its Prism) with SIGKILL once it has committed a tail past `at_least_ms`: mid-stream,
    with windows open. Returns the mark the restart resumes from."""
    deadline = time.monotonic() + 300
    try:
        while process.poll() is None and time.monotonic() < deadline:
            mark = _committed_mark(broker, topic, group)
            if mark is not None and mark >= at_least_ms:
                break
            time.sleep(0.1)
        assert process.poll() is None, "the job ended (or never committed a tail) before the kill"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    mark = _committed_mark(broker, topic, group)
    assert mark is not None and mark >= at_least_ms
    return mark


def _by_key(records: list[dict], key: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for record in records:
        out.setdefault(tuple(record[k] for k in key), []).append(record)
    return out


@pytest.mark.parametrize(
    ("window", "kill_after_h"),
    [("24h", 0), ("6h", 24)],  # the default window, killed at the first tail commit; a short one, half-way
)
def test_kill_9_mid_stream_then_restart_equals_a_fault_free_run(broker, tmp_path, window, kill_after_h):
    events = sorted(generate(build_network(CONFIG)), key=lambda e: e.event_time)
    config = ReciprocityConfig(min_inbound=5, window_ms=parse_duration(window))
    _, topics = fresh_topics(broker)
    produce(events, broker, topics["events"], progress=False)
    argv = streaming_job_command(broker, topics, "killed", tmp_path / "out", "--window", window)
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    at_least = events[0].event_time + kill_after_h * 3_600_000
    mark = _kill_after_a_mark(broker, topics["events"], "killed", at_least, first)
    before_kill = len(read_back(broker, topics["windows"]))
    started = time.monotonic()
    again = run_streaming_job(broker, topics, "killed", tmp_path / "out", "--window", window)
    restart_s = time.monotonic() - started
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"windows ending before {iso_utc(mark)} were published" in again.stderr  # it resumed from the tail
    reread = int(re.search(r"events read +(\d+)", again.stdout).group(1))
    # The tail: the events an unpublished window holds, give or take a poll (500 a partition) and a period.
    needed = sum(1 for e in events if e.event_time >= mark - config.window_ms - config.period_ms)
    windows, alerts = reference(events, config)
    records = read_back(broker, topics["windows"])
    published = _by_key(records, ("account_id", "window_end"))
    expected = _by_key(windows, ("account_id", "window_end"))
    published_alerts = read_back(broker, topics["alerts"])
    print(
        f"\nwindow {window}: {len(events)} events in; killed at the mark {iso_utc(mark)} with {before_kill} windows "
        f"published; the restart re-read {reread} events ({needed} needed) in {restart_s:.1f} s and published "
        f"{len(records) - before_kill} windows; {len(expected)} windows expected, {len(published)} published, "
        f"{len(set(expected) - set(published))} lost; {len(alerts)} alerts expected, {len(published_alerts)} published"
    )
    assert reread <= needed + 2 * 500
    assert set(published) == set(expected)
    assert all(all(r == expected[k][0] for r in rs) for k, rs in published.items())  # no partial window
    assert {a["alert_id"] for a in published_alerts} == {a["alert_id"] for a in alerts}


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
