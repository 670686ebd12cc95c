"""Streaming benchmark on the local stack: a paced producer, the streaming job on Prism, the output topics.

    python -m pipelines.bench.streaming [--events 300000] [--rate 10000] [--kafka_bootstrap 127.0.0.1:9092]

Needs a running broker (`make kafka-up`) and Prism (deploy/local/prism.sh builds it). What it measures:

* Throughput: the events topic is fed at `--rate` events/s while the job (its own process, endless, as in
  production) consumes it. Every second the consumer group's lag (end offsets minus the offsets the job
  committed, which it does only once a bundle's output is durable) is sampled. "Sustained" means the lag
  does not grow: its slope over the producing period, after a warm-up, is reported next to the rate.
* Latency after window close: a window [s, e) can close only once every partition has shown an event at or
  after e + the source's out-of-orderness bound (5 s of event time) + allowed lateness. The producer notes
  the wall time at which it sent the first such event, per window end; the latency of an alert (and of an
  account window) is the Kafka timestamp of the output record (set by the job's producer when it writes
  it) minus that moment. Both clocks are this machine's.

Event times are the simulator's (a past week): the job's watermark follows them, so windows close as fast
as the stream moves through simulated time, which is what makes latency measurable in a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipelines.io import wire
from pipelines.io.topics import read_to_end
from pipelines.model import contributions
from pipelines.model.config import ReciprocityConfig
from pipelines.model.engine import evaluate_account
from pipelines.observability.exporter import pipeline_lag
from pipelines.simulator import SimulationConfig, build_network, generate

ROOT = Path(__file__).resolve().parents[2]
OUT_OF_ORDERNESS_MS = 5_000  # the Kafka source's default bound (pipelines/io/kafka/source.py)
# Windows of 24 periods, like the default 24h/1h, with a period of one second: the stream carries live
# event times, so windows close as fast as the wall clock, and a minute of stream closes sixty.
BENCH_CONFIG = ReciprocityConfig(window_ms=24_000, period_ms=1_000)


@dataclass
class StreamingResult:
    runner: str
    events: int
    offered_rate: float
    produced_rate: float = 0.0
    consumed_rate: float = 0.0  # committed offsets / s over the producing period, after warm-up
    read_rate: float | None = None  # the runner's own events-read count / s, same period (Flink only)
    lag_slope_per_s: float = 0.0  # growth of the consumer lag over the same period (<= 0: keeping up)
    max_lag: int = 0
    start_attempts: int = 1  # submissions it took to get a job that reads (Flink: see pipelines/bench/flink.py)
    load_average: float = 0.0  # the machine's 1-minute load average as the producer finished (2 cores shared)
    drained_s: float | None = None  # after the last send, until the lag was 0
    drain_rate: float | None = None  # the lag at the last send / drained_s: consumption without the producer's CPU
    alerts: int = 0
    alert_latency_p50_s: float | None = None
    alert_latency_p99_s: float | None = None
    windows: int = 0
    windows_expected: int = 0  # what the batch engine computes from the same events
    windows_missing: int = 0
    windows_unexpected: int = 0
    windows_differing: int = 0  # published with other figures than the batch's (at-least-once: the last copy)
    alerts_expected: int = 0
    alert_ids_missing: int = 0  # alert ids of the batch replay that did not come out
    dead_letters: int = 0  # late events (the stream has no malformed ones)
    missing_sample: list[tuple[str, int]] = field(default_factory=list)  # a few (account, window_end) not seen
    window_latency_p50_s: float | None = None
    window_latency_p99_s: float | None = None
    lag_samples: list[tuple[float, int]] = field(default_factory=list)
    # (seconds since the first send at which a window end closed, latency of its last account window)
    latency_by_close: list[tuple[float, float]] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of (t, value)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    den = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / den if den else 0.0


KEPT_UP_SLOPE = 0.02  # a lag growing by less than 2% of the offered rate counts as keeping up


def output_exact(result: StreamingResult) -> bool:
    """Every window of the batch replay, with its figures, and no other; every alert id."""
    counts = (result.windows_missing, result.windows_unexpected, result.windows_differing, result.alert_ids_missing)
    return not any(counts)


def sustained_rate(result: StreamingResult) -> tuple[float, bool]:
    """(events/s the job sustained, whether it kept up). Kept up: the lag did not grow and the output equals
    batch; then the rate is what was produced, else what was consumed."""
    kept_up = result.lag_slope_per_s <= KEPT_UP_SLOPE * result.offered_rate and output_exact(result)
    return (result.produced_rate if kept_up else result.consumed_rate), kept_up


def batch_reference(
    events: list[Any], config: ReciprocityConfig
) -> tuple[dict[tuple[str, int], dict[str, Any]], list[dict]]:
    """Every window by (account, window_end), and the alerts, that a batch replay of `events` publishes."""
    by_account: dict[str, list[Any]] = {}
    for event in events:
        for account, contribution in contributions.route(event, config):
            by_account.setdefault(account, []).append(contribution)
    windows: dict[tuple[str, int], dict[str, Any]] = {}
    alerts: list[dict] = []
    for account, items in by_account.items():
        w, a = evaluate_account(account, items, config)
        windows.update(((x["account_id"], x["window_end"]), x) for x in w)
        alerts += a
    return windows, alerts


def _admin(bootstrap: str) -> Any:
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap)


def _lag(consumer: Any, admin: Any, group: str, partitions: list[Any]) -> tuple[int, int]:
    """(messages in the topic, messages the job has committed): the lag is the exporter's own definition."""
    ends = sum(consumer.end_offsets(partitions).values())
    return ends, ends - pipeline_lag(consumer, admin, group, [partitions[0].topic]).get(partitions[0].topic, 0)


def _read_all(bootstrap: str, topic: str) -> list[tuple[int, dict[str, Any]]]:
    """(Kafka timestamp ms, record) of every message in `topic`."""
    return [(message.timestamp, wire.decode(message.value)[1]) for message in read_to_end(bootstrap, topic)]


class RunningJob(Protocol):
    """A streaming job the bench started: asked for its own count of events read, then stopped."""

    attempts: int  # submissions it took to get a job that reads

    def events_read(self) -> int | None:
        """The runner's own count of events the source has read so far, or None when it has none."""

    def stop(self) -> None:
        """End the job and whatever process submitted it."""


# Starts the job given its common arguments (topics, group, window) and a scratch folder; returns once it runs.
JobStarter = Callable[[list[str], Path], RunningJob]


def job_arguments(
    bootstrap: str, topics: dict[str, str], group: str, config: ReciprocityConfig, output: Path
) -> list[str]:
    """What every runner's job gets: the bench's topics, consumer group and window shape."""
    return [
        f"--kafka_bootstrap={bootstrap}",
        f"--events_topic={topics['events']}",
        f"--windows_topic={topics['windows']}",
        f"--alerts_topic={topics['alerts']}",
        f"--dead_letter_topic={topics['dead']}",
        f"--group_id={group}",
        f"--window={config.window_ms // 1000}s",
        f"--period={config.period_ms // 1000}s",
        f"--output={output}",
        # Consumption is read from the committed offsets: commit the read position. The default (tail) holds
        # commits back by a window for exact restarts, which would make the lag a window's worth of events.
        "--commit_offsets=position",
    ]


def spawn_job(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The job's process (a session of its own, so that `kill_job` ends its children too), stderr to `log`."""
    with log.open("w") as stderr:
        return subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True
        )


def kill_job(job: subprocess.Popen[bytes]) -> None:
    if job.poll() is not None:
        return
    os.killpg(job.pid, signal.SIGTERM)
    try:
        job.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()


@dataclass
class PrismJob:
    """The job as its own endless process on Prism (Prism has no count of its own the bench reads)."""

    process: subprocess.Popen[bytes]
    attempts: int = 1

    def events_read(self) -> int | None:
        return None

    def stop(self) -> None:
        kill_job(self.process)


def prism_starter(prism: str, extra_args: tuple[str, ...] = ()) -> JobStarter:
    def start(arguments: list[str], scratch: Path) -> RunningJob:
        command = [sys.executable, "-m", "pipelines.reciprocity", *arguments, "--runner=PrismRunner"]
        job = spawn_job([*command, *extra_args, f"--prism_location={prism}"], scratch / "job.log")
        time.sleep(2)  # let the job's process start before the clock does
        return PrismJob(job)

    return start


def steady_rates(
    samples: list[tuple[float, int, int]], started: float, sent_at: float, warmup_s: float
) -> tuple[float, float]:
    """(lag slope, consumed events/s) from (time, end offsets, consumed count) samples: both fitted by least
    squares over the producing period after the warm-up, so that a count that moves in steps (committed
    offsets move only at Flink's checkpoints) still gives its mean rate."""
    warmup_s = min(warmup_s, (sent_at - started) / 3)  # a short run keeps two thirds for the steady state
    steady = [(t - started, ends, done) for t, ends, done in samples if started + warmup_s <= t <= sent_at]
    return slope([(t, ends - done) for t, ends, done in steady]), slope([(t, done) for t, _, done in steady])


def drain_rate(samples: list[tuple[float, int, int]], sent_at: float, drained_s: float | None) -> float | None:
    """Events/s consumed from the last send until the lag was 0 (the producer, on the same cores, is done)."""
    before = [ends - done for t, ends, done in samples if t <= sent_at]
    if drained_s is None or drained_s <= 0 or not before:
        return None
    return before[-1] / drained_s


def run(
    bootstrap: str,
    events: int,
    rate: float,
    prism: str,
    config: ReciprocityConfig,
    extra_args: tuple[str, ...] = (),
    **options: Any,
) -> StreamingResult:
    """The streaming row on Prism (`options`: measure_stream's warmup_s, drain_timeout_s, seed, days)."""
    return measure_stream("PrismRunner", prism_starter(prism, extra_args), bootstrap, events, rate, config, **options)


def measure_stream(
    runner: str,
    start_job: JobStarter,
    bootstrap: str,
    events: int,
    rate: float,
    config: ReciprocityConfig,
    warmup_s: float = 10.0,
    drain_timeout_s: float = 120.0,
    seed: int = 42,
    days: int = 7,
    partitions_count: int = 4,
) -> StreamingResult:
    """Fresh topics, the job started by `start_job`, the paced producer, the lag sampler, the output check."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    stream = sorted(
        generate(build_network(SimulationConfig.for_events(events, seed=seed, days=days))), key=lambda e: e.event_time
    )
    run_id = uuid.uuid4().hex[:8]
    topics = {name: f"bench-{name}-{run_id}" for name in ("events", "windows", "alerts", "dead")}
    admin = _admin(bootstrap)
    admin.create_topics(
        [NewTopic(topics["events"], partitions_count, 1)]
        + [NewTopic(topics[n], 1, 1) for n in ("windows", "alerts", "dead")]
    )
    group = f"bench-{run_id}"
    result = StreamingResult(runner=runner, events=len(stream), offered_rate=rate)
    output = Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    job = start_job(job_arguments(bootstrap, topics, group, config, output), output)
    result.start_attempts = job.attempts
    # Live event times: the watermark may pass a window's end once the wall clock is past it by the bound.
    margin = OUT_OF_ORDERNESS_MS + config.allowed_lateness_ms
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    partitions = [TopicPartition(topics["events"], p) for p in range(partitions_count)]
    samples: list[tuple[float, int, int]] = []  # (t, end offsets, committed)
    reads: list[tuple[float, int]] = []  # (t, the runner's own count of events read)
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.is_set():
            try:
                ends, done = _lag(consumer, admin, group, partitions)
                samples.append((time.monotonic(), ends, done))
                if (read := job.events_read()) is not None:
                    reads.append((time.monotonic(), read))
            except Exception as error:  # a slow answer must not end the benchmark
                print(f"lag sample failed: {error}", file=sys.stderr)
            stop_sampling.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, batch_size=512 * 1024)
        sampler.start()
        started = time.monotonic()
        started_wall = time.time()
        for i, event in enumerate(stream):
            if i % 200 == 0:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            event.event_time = int(time.time() * 1000)  # live, in the simulator's order
            value = wire.encode(event.to_record(), "SocialEvent")
            producer.send(topics["events"], key=event.actor_id.encode(), value=value)
        producer.flush()
        producer.close()
        sent_at = time.monotonic()
        result.load_average = os.getloadavg()[0]
        result.produced_rate = len(stream) / (sent_at - started)
        deadline = sent_at + drain_timeout_s
        while time.monotonic() < deadline:
            if samples and samples[-1][0] > sent_at and samples[-1][1] == samples[-1][2]:
                result.drained_s = samples[-1][0] - sent_at
                break
            time.sleep(0.5)
        # The last windows close as the wall clock passes them (up to W + the bound after the last event):
        # wait for as many as the batch replay of the events as sent publishes, then a little for extras.
        expected_windows, expected_alerts = batch_reference(stream, config)
        windows_tp = TopicPartition(topics["windows"], 0)
        give_up = time.monotonic() + (config.window_ms + margin) / 1000 + drain_timeout_s
        while time.monotonic() < give_up:
            if consumer.end_offsets([windows_tp])[windows_tp] >= len(expected_windows):
                time.sleep(2)
                break
            time.sleep(0.5)
    finally:
        stop_sampling.set()
        job.stop()

    result.lag_samples = [(round(t - started, 1), ends - done) for t, ends, done in samples]
    result.max_lag = max((lag for _, lag in result.lag_samples), default=0)
    result.lag_slope_per_s, result.consumed_rate = steady_rates(samples, started, sent_at, warmup_s)
    result.drain_rate = drain_rate(samples, sent_at, result.drained_s)
    if reads:
        _, result.read_rate = steady_rates([(t, 0, n) for t, n in reads], started, sent_at, warmup_s)

    def latency(timestamp_ms: int, window_end: int) -> float:
        """From the moment the watermark may pass the window's end to the output's Kafka timestamp."""
        return (timestamp_ms - window_end - margin) / 1000

    alerts = _read_all(bootstrap, topics["alerts"])
    windows = _read_all(bootstrap, topics["windows"])
    result.alerts, result.windows = len(alerts), len(windows)
    result.dead_letters = len(_read_all(bootstrap, topics["dead"]))
    got = {(w["account_id"], w["window_end"]): w for _, w in windows}
    result.windows_expected, result.alerts_expected = len(expected_windows), len(expected_alerts)
    result.windows_missing = len(expected_windows.keys() - got.keys())
    result.windows_unexpected = len(got.keys() - expected_windows.keys())
    result.windows_differing = sum(got[k] != w for k, w in expected_windows.items() if k in got)
    result.alert_ids_missing = len({a["alert_id"] for a in expected_alerts} - {a["alert_id"] for _, a in alerts})
    result.missing_sample = sorted(expected_windows.keys() - got.keys())[:10]
    last_by_end: dict[int, float] = {}
    for ts, w in windows:
        x = latency(ts, w["window_end"])
        last_by_end[w["window_end"]] = max(x, last_by_end.get(w["window_end"], x))
    result.latency_by_close = [
        (round((end + margin) / 1000 - started_wall, 1), round(x, 2)) for end, x in sorted(last_by_end.items())
    ]
    alert_latencies = [latency(ts, a["window_end"]) for ts, a in alerts]
    window_latencies = [latency(ts, w["window_end"]) for ts, w in windows]
    result.alert_latency_p50_s = percentile(alert_latencies, 0.50)
    result.alert_latency_p99_s = percentile(alert_latencies, 0.99)
    result.window_latency_p50_s = percentile(window_latencies, 0.50)
    result.window_latency_p99_s = percentile(window_latencies, 0.99)
    admin.delete_topics(list(topics.values()))
    admin.close()
    consumer.close()
    return result


def prism_path() -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "local" / "prism.sh")], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench.streaming", description=__doc__.splitlines()[0])
    parser.add_argument("--kafka_bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rate", type=float, default=10_000.0, help="events a second offered (10000)")
    parser.add_argument("--days", type=int, default=2, help="simulated days (sets the network size) (2)")
    parser.add_argument("--json", help="also write the result here")
    parser.add_argument("job_args", nargs="*", help="more options for the job (after --)")
    args = parser.parse_args(argv)
    result = run(
        args.kafka_bootstrap,
        args.events,
        args.rate,
        prism_path(),
        BENCH_CONFIG,
        days=args.days,
        extra_args=tuple(args.job_args),
    )
    summary = {k: v for k, v in asdict(result).items() if k != "lag_samples"}
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
