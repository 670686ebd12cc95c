"""Flink rows of `make bench`: the streaming job on a local Flink 1.19 cluster, at a fixed offered rate, and how it
scales out from 1 to 2 TaskManagers.

    python -m pipelines.bench.flink [--rate 10000] [--events 300000] [--scale_rate 14000]
                                    [--taskmanagers 1 2] [--kafka_bootstrap 127.0.0.1:9092]

Each run starts a cluster of its own with deploy/local/flink.sh (own FLINK_HOME under .cache/bench/, free ports, so
a `make flink-up` cluster is left alone; the Flink jars are shared with it through FLINK_DIST), submits
`python -m pipelines.reciprocity --runner FlinkRunner --parallelism <slots>` and stops the cluster afterwards. The
producer, the lag sampler, the latency and the comparison with a batch replay are pipelines/bench/streaming.py's,
as for the Prism row. Rows:

* 10k events/s offered, 1 TaskManager (2 slots, parallelism 2): produced and consumed rates, lag slope, output
  == batch (every window's figures, every alert id), alert latency after window close p50/p99.
* Scale-out: the same job at `--scale_rate`, a rate above what one TaskManager sustains, on 1 and then 2
  TaskManagers (parallelism = slots: 2, then 4); the ratio of the rates sustained (a run that keeps up counts
  its produced rate, one that does not its consumed rate).

Consumption on Flink. The Kafka source commits its offsets in bundle finalization, which portable Flink runs
only after a completed checkpoint, so the committed offsets (the exporter's lag, as for Prism) move in steps.
The bench therefore checkpoints every 2 s (`--checkpointing_interval 2000`, against the product's default of
10 s) and fits the lag slope and the consumed rate by least squares over the whole producing period after the
warm-up, where a few steps average out. Beside it, the rate of Beam's own counter of events read
(`reciprocity_kafka_events_read`, summed over the source's subtasks from Flink's REST API) is reported as
`read_rate`: it moves with every bundle, not with checkpoints.

Start-up: the producer's clock starts once every subtask is RUNNING and the source has handed on the topic's
partitions (Flink's numRecordsOut of the partition-discovery operator). On this cluster many first submissions
never got that far (5 of 9 fresh clusters before the job finished its bundles before each checkpoint barrier, 0
of 3 after): the Impulse reaches the discovery operator, which emits nothing, while checkpoints go on completing
and the SDK worker sits idle; the TaskManager log shows one bundle descriptor asked for, where a job that runs
asks for one per stage within seconds. Not understood further. Such a job is cancelled after 30 s and submitted
again (up to 5 times); the row reports `start_attempts`.

Honest limits: this machine has 2 cores shared with everything else (the producer, the broker, the JobManager,
the job server and the other engineers' work), so 2 TaskManagers get no more CPU than 1: the scale-out row
measures what a second TaskManager (and its Python SDK worker) buys on the same 2 cores, not on a second host.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.bench.streaming import (
    BENCH_CONFIG,
    JobStarter,
    RunningJob,
    StreamingResult,
    kill_job,
    measure_stream,
    spawn_job,
    sustained_rate,
)
from pipelines.io.flink_rest import ENDED, FlinkRest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "local" / "flink.sh"
HOME = ROOT / ".cache" / "bench" / "flink"
SLOTS = 2  # per TaskManager: flink.sh's default
CHECKPOINT_MS = 2_000
EVENTS_READ = "reciprocity_kafka_events_read"  # the Kafka source's Beam counter (pipelines/io/kafka/source.py)
SCALE_RATE = 8_000.0  # above the 3.5-5.6k/s one TaskManager consumed here (README, "Performance")
RUNNING_TIMEOUT_S = 300.0
# The operator that lists the topic's partitions (Impulse -> DiscoverPartitionsFn) and hands them to the reader.
DISCOVERY_OPERATOR = "Partitions"
DISCOVERY_TIMEOUT_S = 30.0  # when it works, it takes a few seconds after RUNNING
START_ATTEMPTS = 5
UP_ATTEMPTS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_run(count: int) -> int:
    """A port p with p+1 .. p+count-1 free too (flink.sh numbers the TaskManagers' metrics ports from the first)."""
    for _ in range(50):
        port = free_port()
        with contextlib.ExitStack() as probes:
            try:
                for offset in range(1, count):
                    probe = probes.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no {count} consecutive free ports")


def cluster_env(home: Path, taskmanagers: int) -> dict[str, str]:
    """deploy/local/flink.sh settings for a cluster in `home` on free loopback ports."""
    return {
        **os.environ,
        "FLINK_HOME": str(home),
        "FLINK_DIST": os.environ.get("FLINK_DIST", str(ROOT / ".cache" / "flink" / "dist")),
        "FLINK_TASKMANAGERS": str(taskmanagers),
        "FLINK_TM_SLOTS": str(SLOTS),
        "FLINK_REST_PORT": str(free_port()),
        "FLINK_RPC_PORT": str(free_port()),
        "FLINK_JM_METRICS_PORT": str(free_port()),
        "FLINK_TM_METRICS_PORT": str(free_port_run(taskmanagers)),
        "BEAM_WORKER_POOL_PORT": str(free_port()),
        "BEAM_JOB_PORT": str(free_port()),
        "BEAM_ARTIFACT_PORT": str(free_port()),
        "BEAM_EXPANSION_PORT": str(free_port()),
        "FLINK_PYTHON": sys.executable,
    }


@dataclass(frozen=True)
class Cluster:
    rest: str  # host:port of the JobManager's REST API
    env: dict[str, str]
    taskmanagers: int


def _script(command: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def local_cluster(taskmanagers: int, home: Path = HOME) -> Iterator[Cluster]:
    """A cluster of `taskmanagers` TaskManagers started by flink.sh for this block only, stopped after it."""
    env = cluster_env(home, taskmanagers)
    _script("down", env, 120)  # a previous bench's, killed before it could stop it
    for attempt in range(1, UP_ATTEMPTS + 1):
        started = _script("up", env, 900)
        if started.returncode == 0:
            break
        # On a loaded machine the JobManager's REST API can take longer than flink.sh waits (120 s).
        print(f"  flink: flink.sh up failed (attempt {attempt} of {UP_ATTEMPTS})", file=sys.stderr, flush=True)
        _script("down", env, 120)
    else:
        raise RuntimeError(f"flink.sh up failed: {started.stderr.strip()[-2000:]}")
    try:
        yield Cluster(f"127.0.0.1:{env['FLINK_REST_PORT']}", env, taskmanagers)
    finally:
        _script("down", env, 120)


def cancel(rest: FlinkRest, job_id: str) -> None:
    """Cancel the job unless it has ended, and wait until it has."""
    if rest.state(job_id) not in ENDED:
        rest.cancel(job_id)
    rest.wait_ended(job_id, 60.0, "of its cancel request")


@dataclass
class FlinkJob:
    """The job on the cluster, and the process that submitted it (it waits for the job's end)."""

    process: subprocess.Popen[bytes]
    rest: FlinkRest
    job_id: str
    attempts: int = 1  # submissions it took (see DISCOVERY_TIMEOUT_S)

    def events_read(self) -> int | None:
        return self.rest.counter_total(self.job_id, EVENTS_READ)

    def stop(self) -> None:
        try:
            cancel(self.rest, self.job_id)
        finally:
            kill_job(self.process)
            self.rest.close()


def flink_starter(cluster: Cluster, parallelism: int, checkpoint_ms: int = CHECKPOINT_MS) -> JobStarter:
    def start(arguments: list[str], scratch: Path) -> RunningJob:
        for attempt in range(1, START_ATTEMPTS + 1):
            job = _submit(cluster, parallelism, checkpoint_ms, arguments, scratch)
            if job is not None:
                job.attempts = attempt
                return job
            print(
                f"  flink: the job's partition discovery emitted nothing within {DISCOVERY_TIMEOUT_S:.0f} s of "
                f"running (attempt {attempt} of {START_ATTEMPTS}); cancelled, submitting again",
                file=sys.stderr,
                flush=True,
            )
        raise RuntimeError(f"the Flink job did not start reading in {START_ATTEMPTS} attempts (logs in {scratch})")

    return start


def _submit(
    cluster: Cluster, parallelism: int, checkpoint_ms: int, arguments: list[str], scratch: Path
) -> FlinkJob | None:
    """The job, submitted and running with its partitions discovered; None (cancelled) when discovery hung."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable,
        "-m",
        "pipelines.reciprocity",
        *arguments,
        "--runner=FlinkRunner",
        f"--flink_master={cluster.rest}",
        f"--parallelism={parallelism}",
        f"--checkpointing_interval={checkpoint_ms}",
        f"--job_name={name}",
    ]
    log = scratch / f"job-{name}.log"
    process = spawn_job(command, log, env=cluster.env)
    rest = FlinkRest(cluster.rest)
    try:
        job_id = rest.wait_for_job(name, timeout_s=RUNNING_TIMEOUT_S)
        # The clock starts once every subtask runs and the source knows its partitions: submission, task
        # deployment and the SDK worker's start take tens of seconds.
        deadline = time.monotonic() + RUNNING_TIMEOUT_S
        while not rest.running(job_id):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Flink job {name} did not start running:\n{log.read_text(errors='replace')}")
            time.sleep(1.0)
        deadline = time.monotonic() + DISCOVERY_TIMEOUT_S
        while rest.records_out(job_id, DISCOVERY_OPERATOR) == 0:
            if time.monotonic() > deadline:
                cancel(rest, job_id)
                kill_job(process)
                rest.close()
                return None
            time.sleep(1.0)
    except BaseException:
        kill_job(process)
        rest.close()
        raise
    return FlinkJob(process, rest, job_id)


def run_row(
    bootstrap: str, taskmanagers: int, events: int, rate: float, seed: int = 42, warmup_s: float = 10.0
) -> StreamingResult:
    """One row: a fresh cluster of `taskmanagers`, the job at parallelism = its slots, `events` at `rate`/s."""
    print(
        f"  flink: {events:,} events at {rate:,.0f}/s, {taskmanagers} TaskManager(s), parallelism "
        f"{taskmanagers * SLOTS} ...",
        file=sys.stderr,
        flush=True,
    )
    with local_cluster(taskmanagers) as cluster:
        result = measure_stream(
            f"FlinkRunner, {taskmanagers} TaskManager(s) x {SLOTS} slots",
            flink_starter(cluster, taskmanagers * SLOTS),
            bootstrap,
            events,
            rate,
            BENCH_CONFIG,
            warmup_s=warmup_s,
            seed=seed,
            days=2,
        )
    # The row as soon as it is measured: a later row's failure must not lose it.
    summary = {k: v for k, v in asdict(result).items() if k not in ("lag_samples", "latency_by_close")}
    print(f"  flink row: {json.dumps(summary)}", file=sys.stderr, flush=True)
    return result


@dataclass(frozen=True)
class ScaleOut:
    """1 vs 2 TaskManagers at one offered rate."""

    offered_rate: float
    one_rate: float  # events/s sustained by 1 TaskManager (consumed rate when it fell behind)
    two_rate: float
    one_saturated: bool  # 1 TaskManager did not keep up: the comparison is meaningful only then
    two_kept_up: bool
    ratio: float  # two_rate / one_rate


def scale_out(one: StreamingResult, two: StreamingResult) -> ScaleOut:
    one_rate, one_kept = sustained_rate(one)
    two_rate, two_kept = sustained_rate(two)
    return ScaleOut(
        offered_rate=one.offered_rate,
        one_rate=one_rate,
        two_rate=two_rate,
        one_saturated=not one_kept,
        two_kept_up=two_kept,
        ratio=two_rate / one_rate if one_rate > 0 else float("inf"),
    )


def describe_scale_out(scale: ScaleOut) -> str:
    verdict = (
        "1 TaskManager kept up at this rate, so it says nothing about scale-out: offer more (--scale_rate)"
        if not scale.one_saturated
        else f"2 TaskManagers sustain {scale.ratio:.2f}x the rate of 1"
        + ("" if scale.two_kept_up else " (and fell behind too)")
    )
    return (
        f"{scale.offered_rate:,.0f}/s offered: 1 TaskManager {scale.one_rate:,.0f}/s, "
        f"2 TaskManagers {scale.two_rate:,.0f}/s; {verdict}"
    )


def run_rows(
    bootstrap: str,
    events: int,
    rate: float,
    scale_rate: float | None,
    scale_seconds: float = 40.0,
    seed: int = 42,
) -> dict[str, Any]:
    """The rate row on 1 TaskManager and, unless `scale_rate` is None, the 1 vs 2 TaskManager comparison at it
    (`scale_seconds` of producing each)."""
    rows: dict[str, Any] = {"rate": run_row(bootstrap, 1, events, rate, seed)}
    if scale_rate is not None:
        n = int(scale_rate * scale_seconds)
        one, two = run_row(bootstrap, 1, n, scale_rate, seed), run_row(bootstrap, 2, n, scale_rate, seed)
        rows.update(scale_one=one, scale_two=two, scale_out=scale_out(one, two))
    return rows


def as_json(rows: dict[str, Any]) -> dict[str, Any]:
    return {key: asdict(value) for key, value in rows.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench.flink", description=__doc__.splitlines()[0])
    parser.add_argument("--kafka_bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=300_000, help="events of the rate row (300000)")
    parser.add_argument("--rate", type=float, default=10_000.0, help="events a second offered (10000)")
    parser.add_argument(
        "--scale_rate", type=float, default=SCALE_RATE, help=f"offered rate of the scale-out rows ({SCALE_RATE:.0f})"
    )
    parser.add_argument("--scale_seconds", type=float, default=40.0, help="producing time of each scale row (40)")
    parser.add_argument(
        "--taskmanagers",
        type=int,
        nargs="+",
        help="run only these single rows at --rate (e.g. 1 2), instead of the rate row and the scale-out pair",
    )
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    if args.taskmanagers:
        rows: dict[str, Any] = {
            f"taskmanagers_{n}": run_row(args.kafka_bootstrap, n, args.events, args.rate) for n in args.taskmanagers
        }
    else:
        rows = run_rows(args.kafka_bootstrap, args.events, args.rate, args.scale_rate, args.scale_seconds)
    report = as_json(rows)
    for value in report.values():
        value.pop("lag_samples", None)
        value.pop("latency_by_close", None)
    print(json.dumps(report, indent=2))
    if "scale_out" in rows:
        print(describe_scale_out(rows["scale_out"]), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(rows), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
