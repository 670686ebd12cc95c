"""The Grafana dashboard against a real Prometheus: while a simulated stream flows through Kafka into the
exporter, and a real Bluesky ingester (`python -m pipelines.ingest bluesky --metrics_port`) reads a paced local
Jetstream replay that cuts its connection now and then and carries malformed frames, a Prometheus on loopback
scrapes both, every dashboard query returns data through the HTTP API and the project's alert rules load and
evaluate.

Why live: the unit tests check the exposition format, not that the dashboard's PromQL (names, labels,
`rate()` over counters, histogram `_sum`/`_count`) matches what the exporter serves.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaProducer

from pipelines.bench.ingest import JetstreamReplay, synthetic_frames
from pipelines.io import wire
from pipelines.io.files import dead_letter
from pipelines.model.config import ReciprocityConfig
from pipelines.observability.exporter import ExporterOptions, serve
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.conftest import free_port
from tests.model.helpers import engine_batch
from tests.observability.test_exporter_live import exporter_on_fresh_topics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "reciprocity.json"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
EXPORTER_JOB = "reciprocity-exporter"
INGEST_JOB = "reciprocity-ingest"
SCRAPE_S = 1
# Grafana's $__rate_interval is max($__interval + scrape interval, 4 x scrape interval): with a 1 s scrape, 15 s
# is what a ~14 s step gives, and it keeps several samples per window when a busy machine delays scrapes.
GRAFANA_VARIABLES = {
    "__rate_interval": "15s",
    "__interval": "5s",
    "__interval_ms": "5000",
    "__range": "1m",
    "__range_s": "60",
    "__range_ms": "60000",
}
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
STREAM_S = 20.0  # the two simulated days are replayed over this much wall time
TICK_S = 0.25
DEADLINE_S = 60.0
# Dead letters of two reason classes flow steadily besides the events (the pipeline would produce them).
DEAD_REASONS = ("not valid JSON: Expecting value", "late event: event_time falls in evaluated windows")
# The ingester's live source: Jetstream frames 0.1 s of event time apart (so the 3 s reconnection overlap is 30
# frames, replayed and dropped as duplicates), sent every 10 ms, the connection cut every 300 frames (about 3 s,
# then the ingester's backoff), a malformed frame every 40: every ingester series moves within any 15 s window.
# Synthetic frames carry deletes and identity events, which are skipped. 12,000 frames outlast the deadline.
INGEST_FRAMES = 12_000
INGEST_INTERVAL_S = 0.01
INGEST_CUT_EVERY = 300
INGEST_MALFORMED_EVERY = 40


def dashboard_queries(node: dict[str, Any], flink: bool = False) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every target, through rows and nested panels of any depth: the "Flink: " panels
    (a job on a Flink cluster, checked by tests/flink) with `flink`, the others without."""
    for panel in [*node.get("panels", []), *node.get("rows", [])]:
        title = panel.get("title") or f"panel {panel.get('id')}"
        for target in panel.get("targets", []):
            if target.get("expr") and title.startswith("Flink: ") == flink:
                yield title, target["expr"]
        yield from dashboard_queries(panel, flink)


def substitute(expr: str) -> str:
    """Grafana's built-in variables as it would expand them for a 1 s scrape; an unknown one is a test error."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in GRAFANA_VARIABLES:
            raise AssertionError(f"the dashboard uses ${name}, which this test cannot expand: {expr}")
        return GRAFANA_VARIABLES[name]

    return VARIABLE.sub(value, expr)


def api(base: str, path: str, **params: str) -> dict[str, Any]:
    """GET on Prometheus' HTTP API; a 4xx carries the PromQL error as JSON, so it is returned, not raised."""
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


def no_data(response: dict[str, Any]) -> str | None:
    """Why a query's answer shows nothing on a panel, or None when it has a finite, positive sample.

    Positive because the simulated stream moves every series the dashboard draws: a panel stuck at 0 (or NaN,
    a ratio of rates with no increase) is as broken as an empty one."""
    if response.get("status") != "success":
        return f"{response.get('errorType')}: {response.get('error')}"
    data = response["data"]
    if data["resultType"] == "scalar":
        values = [float(data["result"][1])]
    elif data["resultType"] == "vector":
        values = [float(sample["value"][1]) for sample in data["result"]]
    else:
        return f"unexpected result type {data['resultType']}"
    if not values:
        return "empty result"
    if not any(math.isfinite(v) and v > 0 for v in values):
        return f"no finite positive sample: {values}"
    return None


def prometheus_config(path: Path, targets: dict[str, str | list[str]]) -> None:
    """The project's config with a 1 s scrape, only the jobs named in `targets` (job name -> the target it
    scrapes here), rule files by absolute path."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    interval = f"{SCRAPE_S}s"
    config["global"] = {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval}
    config["rule_files"] = [str((PROMETHEUS_CONFIG.parent / name).resolve()) for name in config["rule_files"]]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] in targets]
    missing = set(targets) - {job["job_name"] for job in jobs}
    assert not missing, f"{PROMETHEUS_CONFIG} has no {', '.join(sorted(missing))} job"
    for job in jobs:
        wanted = targets[job["job_name"]]
        job["static_configs"] = [{"targets": [wanted] if isinstance(wanted, str) else wanted}]
    config["scrape_configs"] = jobs
    path.write_text(yaml.safe_dump(config))


@contextmanager
def running_prometheus(workdir: Path, targets: dict[str, str | list[str]]) -> Iterator[str]:
    """A Prometheus on a free loopback port scraping `targets` (job name -> target); yields its base URL,
    always stops it."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not on PATH: run deploy/local/install-tools.sh (Debian's prometheus package)")
    config = workdir / "prometheus.yml"
    prometheus_config(config, targets)
    base = f"http://127.0.0.1:{free_port()}"
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={base.removeprefix('http://')}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prometheus not ready after 30 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def timeline(options: ExporterOptions) -> list[tuple[int, int, str, bytes]]:
    """(event time ms, order, topic, payload): events, then the windows and alerts they close, in event time."""
    events = list(generate(build_network(SimulationConfig(seed=5, gurus=12, fans=600, days=2))))
    windows, alerts = engine_batch(events, ReciprocityConfig(min_inbound=10))
    records = [
        *((e.event_time, 0, options.events_topic, wire.encode(e.to_record(), "SocialEvent")) for e in events),
        *((w["window_end"], 1, options.windows_topic, wire.encode(w, "AccountWindow")) for w in windows),
        *((a["window_end"], 2, options.alerts_topic, wire.encode(a, "EngagementAlert")) for a in alerts),
    ]
    return sorted(records, key=lambda r: r[:2])


def stream(
    broker: str, options: ExporterOptions, records: list[tuple[int, int, str, bytes]], stop: threading.Event
) -> None:
    """Replays `records` at a steady pace over STREAM_S (event time mapped linearly onto wall time), with a
    dead letter every tick, so every counter increases between scrapes."""
    producer = KafkaProducer(bootstrap_servers=broker, linger_ms=20)
    first, last = records[0][0], records[-1][0]
    start = time.monotonic()
    sent = ticks = 0
    try:
        while sent < len(records) and not stop.is_set():
            due = first + (last - first) * min(1.0, (time.monotonic() - start) / STREAM_S)
            while sent < len(records) and records[sent][0] <= due:
                producer.send(records[sent][2], records[sent][3])
                sent += 1
            reason = DEAD_REASONS[ticks % len(DEAD_REASONS)]
            letter = dead_letter(reason, f"{options.events_topic}/0/{ticks}", b"{")
            producer.send(options.dead_letter_topic, wire.encode(letter, "DeadLetter"))
            producer.flush()
            ticks += 1
            stop.wait(TICK_S)
    finally:
        producer.close()


def jetstream_frames() -> list[str]:
    """The ingester's source: synthetic Jetstream frames with a malformed one (cut short: not valid JSON) every
    INGEST_MALFORMED_EVERY frames."""
    frames = []
    for n, frame in enumerate(synthetic_frames(INGEST_FRAMES, seed=11, step_us=100_000)):
        frames.append(frame[: len(frame) // 2] if n % INGEST_MALFORMED_EVERY == INGEST_MALFORMED_EVERY - 1 else frame)
    return frames


@contextmanager
def running_ingester(workdir: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`python -m pipelines.ingest bluesky` reading a paced local Jetstream replay (JSON Lines sink in `workdir`)
    with /metrics on a free port; yields (port, process). Stopped with SIGTERM, as an operator stops it."""
    replay = JetstreamReplay(
        jetstream_frames(), drop_after=[INGEST_CUT_EVERY] * (INGEST_FRAMES // 100), interval_s=INGEST_INTERVAL_S
    )
    port = free_port()
    command = [sys.executable, "-m", "pipelines.ingest", "bluesky", "--endpoint", replay.url, "--cursor", "0"]
    command += ["--output", str(workdir / "ingested.jsonl"), "--metrics_port", str(port)]
    try:
        with (workdir / "ingest.log").open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield port, process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        replay.close()


def rule_problems(base: str) -> list[str]:
    """What keeps the project's rule groups from being loaded, healthy, and the one-way alert from firing."""
    expected = {
        group["name"]: {rule.get("alert") or rule.get("record") for rule in group["rules"]}
        for name in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["rule_files"]
        for group in yaml.safe_load((PROMETHEUS_CONFIG.parent / name).read_text())["groups"]
    }
    loaded = {group["name"]: group["rules"] for group in api(base, "/api/v1/rules")["data"]["groups"]}
    problems = []
    for group, names in expected.items():
        rules = {rule["name"]: rule for rule in loaded.get(group, [])}
        problems += [f"rule group {group}: {name} not loaded" for name in sorted(names - rules.keys())]
        problems += [
            f"rule {name}: health {rule['health']} {rule.get('lastError', '')}".rstrip()
            for name, rule in sorted(rules.items())
            if rule["health"] != "ok"
        ]
    # The rule without `for` that mirrors the pipeline's own alerts: proves the rules' series names are served.
    firing = {a["labels"]["alertname"] for a in api(base, "/api/v1/alerts")["data"]["alerts"] if a["state"] == "firing"}
    if "EngagementPreacherWentOneWay" not in firing:
        problems.append(f"EngagementPreacherWentOneWay not firing (firing: {sorted(firing)})")
    return problems


def test_every_dashboard_query_returns_data_from_a_real_prometheus(broker: str, tmp_path: Path) -> None:
    queries = list(dashboard_queries(json.loads(DASHBOARD.read_text())))
    assert queries, f"no panel query found in {DASHBOARD}"
    expanded = {(title, expr): substitute(expr) for title, expr in queries}

    options = exporter_on_fresh_topics(broker)
    records = timeline(options)

    stop_exporter, stop_stream = threading.Event(), threading.Event()
    exporter = threading.Thread(target=serve, args=(options, stop_exporter), daemon=True)
    exporter.start()
    stream_errors: list[BaseException] = []

    def produce() -> None:
        try:
            stream(broker, options, records, stop_stream)
        except BaseException as error:  # reported by the assertion below, not lost in the thread
            stream_errors.append(error)

    producer = threading.Thread(target=produce, daemon=True)
    ingest_log = tmp_path / "ingest.log"
    try:
        with (
            running_ingester(tmp_path) as (ingest_port, ingester),
            running_prometheus(
                tmp_path, {EXPORTER_JOB: f"127.0.0.1:{options.port}", INGEST_JOB: f"127.0.0.1:{ingest_port}"}
            ) as base,
        ):
            deadline = time.monotonic() + 20
            while True:
                targets = api(base, "/api/v1/targets")["data"]["activeTargets"]
                if len(targets) == 2 and all(t["health"] == "up" for t in targets):
                    break
                assert ingester.poll() is None, f"the ingester exited:\n{ingest_log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"prometheus cannot scrape the exporter and the ingester: {targets}"
                time.sleep(0.5)

            producer.start()
            pending = dict(expanded)
            problems: dict[tuple[str, str], str] = {}
            rules: list[str] = []
            deadline = time.monotonic() + DEADLINE_S
            while True:
                for key, expr in list(pending.items()):
                    problem = no_data(api(base, "/api/v1/query", query=expr))
                    if problem is None:
                        del pending[key]
                        problems.pop(key, None)
                    else:
                        problems[key] = problem
                rules = rule_problems(base)
                ingester_gone = ingester.poll() is not None
                if (not pending and not rules) or time.monotonic() > deadline or stream_errors or ingester_gone:
                    break
                time.sleep(1)
            assert not ingester_gone, f"the ingester exited early:\n{ingest_log.read_text()[-3000:]}"
    finally:
        stop_stream.set()
        if producer.is_alive():
            producer.join(timeout=15)
        stop_exporter.set()
        exporter.join(timeout=15)

    assert not stream_errors, f"the simulated stream failed: {stream_errors[0]!r}"
    assert ingester.returncode == 0, f"the ingester did not stop cleanly:\n{ingest_log.read_text()[-3000:]}"
    report = [f"panel {title!r}: {expr}\n    -> {problems[(title, expr)]}" for title, expr in pending]
    assert not report, f"{len(report)} dashboard queries returned no data within {DEADLINE_S:.0f} s:\n" + "\n".join(
        report
    )
    assert not rules, "alert rules:\n" + "\n".join(rules)
