"""`make bench`: every performance figure measured in one run, printed as a table and saved as JSON.

    python -m pipelines.bench            # 1M simulated events (the targets are stated for this size)
    python -m pipelines.bench --quick    # 100k events, a couple of minutes

Every row reads the same generated events (Avro, 4 shards, cached under .cache/bench/) and runs as its own
process, so wall time includes start-up and peak RSS is the whole process tree's (workers included),
sampled every 100 ms. Figures are ratios between rows of this one run wherever possible: the machines are
noisy, ratios much less so.

The streaming rows (pipelines/bench/streaming.py) feed the local Kafka broker (started here when it is not
running) at a fixed rate while the streaming job runs on Prism, and check its output against a batch
replay of the same events. They use the same simulator and seed over 2 days rather than 7, so that windows
close often enough to measure latency within a minute. The same broker then takes the Bluesky ingester's row
(pipelines/bench/ingest.py: Jetstream frames per second on one core, and its RSS). `--no-streaming` skips them.

The Flink rows (pipelines/bench/flink.py) run the same streaming measurement on local Flink 1.19 clusters that
they start and stop themselves (1 TaskManager at the offered rate; then 1 and 2 TaskManagers at `--flink_scale_rate`,
above what one sustains). `--no-flink` skips them (they take about ten minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.bench.flink import SCALE_RATE, ScaleOut, describe_scale_out
from pipelines.bench.flink import as_json as flink_json
from pipelines.bench.flink import run_rows as flink_rows
from pipelines.bench.ingest import run_row as ingest_row
from pipelines.bench.streaming import BENCH_CONFIG, StreamingResult, output_exact, prism_path, sustained_rate
from pipelines.bench.streaming import run as streaming_run
from pipelines.io.avro import write_events
from pipelines.simulator import SimulationConfig, build_network, generate

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "bench"
SHARDS = 4
TARGETS = {
    "replay_events_per_s": 50_000,
    "ratio_5min_over_24h": 0.7,
    "speedup_over_naive": 10.0,
    "times_floor": 5.0,
    "peak_rss_gib": 2.0,
    "stream_events_per_s": 10_000,
    "stream_alert_latency_p99_s": 10.0,
    "flink_events_per_s": 10_000,
    "flink_alert_latency_p99_s": 10.0,
    "report_seconds": 60.0,
    "report_peak_rss_gib": 2.0,
    "ingest_frames_per_s": 5_000,
    "preach_us_per_text": 20.0,
}
LOWER_IS_BETTER = (
    "times_floor",
    "peak_rss_gib",
    "stream_alert_latency_p99_s",
    "flink_alert_latency_p99_s",
    "report_seconds",
    "report_peak_rss_gib",
    "preach_us_per_text",
)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def _tree_rss_bytes(pid: int) -> int:
    total = 0
    for member in _descendants(pid):
        try:
            with open(f"/proc/{member}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def measure(command: list[str], label: str, repeat: int = 1, output: Path | None = None) -> dict[str, Any]:
    """Runs one row `repeat` times and keeps the fastest run (noise only ever adds time).

    `output` (the row's output folder) is emptied before each run: a P=5min replay writes a gigabyte, and
    a run that starts with the previous run's gigabyte still cached needs a second one of fresh memory.
    Returns wall seconds, every run's seconds, peak RSS of the process tree and the command's last JSON line.
    """
    runs = []
    for _ in range(repeat):
        if output is not None:
            shutil.rmtree(output, ignore_errors=True)
        runs.append(_measure_once(command, label))
    fastest = min(runs, key=lambda run: run["seconds"])
    fastest["runs_seconds"] = [run["seconds"] for run in runs]
    return fastest


def _measure_once(command: list[str], label: str) -> dict[str, Any]:
    print(f"  {label}: {' '.join(command[2:])}", file=sys.stderr, flush=True)
    os.sync()  # the previous row's file writes are flushed now, not during this row
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_bytes(process.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{label} failed ({process.returncode}):\n{stderr[-3000:]}")
    reported = {}
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            reported = json.loads(line)
            break
    return {"label": label, "seconds": seconds, "peak_rss_bytes": peak, "reported": reported, "stdout": stdout}


def ensure_input(events: int, seed: int, limit: int | None = None) -> tuple[Path, int]:
    """The simulated stream (first `limit` events of it if given) in SHARDS Avro files, generated once."""
    if limit is not None and limit >= events:
        limit = None
    network = build_network(SimulationConfig.for_events(events, seed=seed))
    name = f"events-{events}-seed{seed}" + (f"-first{limit}" if limit else "")
    folder = CACHE / name
    stamp = folder / "COUNT"
    if stamp.exists():
        return folder, int(stamp.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    print(f"  generating {name} ...", file=sys.stderr, flush=True)
    stream = list(generate(network))[:limit] if limit else list(generate(network))
    for shard in range(SHARDS):
        write_events(folder / f"part-{shard}.avro", stream[shard::SHARDS])
    stamp.write_text(str(len(stream)))
    return folder, len(stream)


def ours(folder: Path, window: str, period: str, workers: int, out: Path) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pipelines.reciprocity",
        "--input",
        str(folder),
        "--output",
        str(out),
        "--window",
        window,
        "--period",
        period,
    ]
    if workers > 1:
        command += ["--direct_num_workers", str(workers), "--direct_running_mode", "multi_processing"]
    return command


@contextlib.contextmanager
def local_broker() -> Iterator[str]:
    """The local broker's bootstrap address; started here (and stopped after) when it is not running."""
    script = ROOT / "deploy" / "local" / "kafka.sh"
    running = subprocess.run(["bash", str(script), "status"], capture_output=True, check=False).returncode == 0
    if not running:
        subprocess.run(["bash", str(script), "up"], check=True, capture_output=True)
    try:
        yield "127.0.0.1:9092"
    finally:
        if not running:
            subprocess.run(["bash", str(script), "down"], check=False, capture_output=True)


def run_streaming(bootstrap: str, events: int, rate: float, seed: int) -> StreamingResult | None:
    """The Prism streaming row against the local broker."""
    print(f"  streaming: {events:,} events at {rate:,.0f}/s through Kafka and Prism ...", file=sys.stderr)
    return streaming_run(bootstrap, events, rate, prism_path(), BENCH_CONFIG, seed=seed, days=2)


def print_streaming(result: StreamingResult, title: str) -> None:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}s"

    read = "" if result.read_rate is None else f" (Beam's events-read counter: {result.read_rate:,.0f}/s)"
    print()
    print(f"{title}, {result.events:,} events offered at {result.offered_rate:,.0f}/s (Kafka, 4 partitions)")
    print(
        f"  produced {result.produced_rate:,.0f}/s, consumed {result.consumed_rate:,.0f}/s{read}, "
        f"lag slope {result.lag_slope_per_s:+,.0f} events/s (max lag {result.max_lag:,}), "
        f"drained {seconds(result.drained_s)} after the last send"
        + ("" if result.drain_rate is None else f" ({result.drain_rate:,.0f}/s)")
        + f", load average {result.load_average:.1f}"
    )
    print(
        f"  alerts {result.alerts} (batch: {result.alerts_expected}, ids missing {result.alert_ids_missing}), "
        f"latency after window close p50 {seconds(result.alert_latency_p50_s)} "
        f"p99 {seconds(result.alert_latency_p99_s)}"
    )
    print(
        f"  windows {result.windows:,} (batch: {result.windows_expected:,}, missing {result.windows_missing}, "
        f"unexpected {result.windows_unexpected}, differing {result.windows_differing}), latency p50 "
        f"{seconds(result.window_latency_p50_s)} p99 {seconds(result.window_latency_p99_s)}"
    )


def print_flink(rows: dict[str, Any]) -> None:
    print_streaming(rows["rate"], "streaming on Flink, 1 TaskManager x 2 slots, parallelism 2")
    if "scale_out" in rows:
        print_streaming(rows["scale_one"], "Flink scale-out, 1 TaskManager, parallelism 2")
        print_streaming(rows["scale_two"], "Flink scale-out, 2 TaskManagers, parallelism 4")
        scale: ScaleOut = rows["scale_out"]
        print(f"Flink 1 vs 2 TaskManagers (2 cores shared by everything): {describe_scale_out(scale)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench")
    parser.add_argument("--quick", action="store_true", help="100k events instead of 1M")
    parser.add_argument("--events", type=int, help="events to generate (default 1M, or 100k with --quick)")
    parser.add_argument(
        "--naive_events",
        type=int,
        help="the naive baseline replays the first N events only, since it copies each event into W/P windows "
        "(default 50k, 10k with --quick)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs of each P=5min and P=24h row, the fastest kept: their ratio is a target and the two rows "
        "differ by a gigabyte of output, the noisiest thing a replay does (default 2, 1 with --quick)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--no-streaming", dest="streaming", action="store_false", help="skip the Kafka rows")
    parser.add_argument("--stream_events", type=int, help="streaming rows: events (default 300k, 100k quick)")
    parser.add_argument("--stream_rate", type=float, default=10_000.0, help="streaming rows: offered events/s")
    parser.add_argument("--no-flink", dest="flink", action="store_false", help="skip the Flink cluster rows")
    parser.add_argument(
        "--flink_scale_rate",
        type=float,
        default=SCALE_RATE,
        help=f"Flink rows: offered events/s of the 1 vs 2 TaskManager pair ({SCALE_RATE:.0f})",
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2  # --quick stays under two minutes
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    total = args.events or (100_000 if args.quick else 1_000_000)
    naive_events = min(args.naive_events or (10_000 if args.quick else 50_000), total)

    folder, events = ensure_input(total, args.seed)
    subset, subset_events = ensure_input(total, args.seed, limit=naive_events)
    scratch = CACHE / "out"
    rows: dict[str, dict[str, Any]] = {}
    for period in ("1h", "5m", "24h"):
        rows[f"ours_24h_{period}"] = measure(
            ours(folder, "24h", period, args.workers, scratch / period),
            f"ours W=24h P={period}, {args.workers} workers",
            repeat=1 if period == "1h" else args.repeat,
            output=scratch / period,
        )
    # The report of the P=5min run's output: its windows file is the largest one (~1 GB at 1M events).
    windows_file = scratch / "5m" / "account_windows.jsonl"
    rows["report_5m"] = measure(
        [sys.executable, "-m", "pipelines.report", "--output", str(scratch / "5m")],
        f"report of the P=5min run ({windows_file.stat().st_size / 2**30:.2f} GiB of windows)",
    )
    rows["ours_24h_1h_1worker"] = measure(
        ours(folder, "24h", "1h", 1, scratch / "1w"), "ours W=24h P=1h, 1 worker", output=scratch / "1w"
    )
    rows["floor"] = measure(
        [sys.executable, "-m", "pipelines.bench.floor", "--input", str(folder)], "plain single-pass Python"
    )
    rows["ours_subset"] = measure(
        ours(subset, "24h", "1h", args.workers, scratch / "subset"),
        f"ours on the first {subset_events} events",
        output=scratch / "subset",
    )
    naive_command = [sys.executable, "-m", "pipelines.bench.naive", "--input", str(subset)]
    if args.workers > 1:
        naive_command += ["--direct_num_workers", str(args.workers), "--direct_running_mode", "multi_processing"]
    rows["naive_subset"] = measure(naive_command, f"naive SlidingWindows on the first {subset_events} events")
    rows["preach"] = measure(
        [sys.executable, "-m", "pipelines.bench.preach"], "preaching classifier, every corpus text x 20 rounds"
    )

    streaming, ingest, flink = None, None, None
    stream_events = args.stream_events or (100_000 if args.quick else 300_000)
    if args.streaming or args.flink:
        with local_broker() as bootstrap:
            if args.streaming:
                streaming = run_streaming(bootstrap, stream_events, args.stream_rate, args.seed)
                ingest = ingest_row(bootstrap, 50_000 if args.quick else 200_000)
            if args.flink:
                flink = flink_rows(bootstrap, stream_events, args.stream_rate, args.flink_scale_rate, seed=args.seed)

    def rate(row: str, n: int = events) -> float:
        return n / rows[row]["seconds"]

    figures = {
        "events": events,
        "replay_events_per_s": rate("ours_24h_1h"),
        "replay_events_per_s_1worker": rate("ours_24h_1h_1worker"),
        "ratio_5min_over_24h": rate("ours_24h_5m") / rate("ours_24h_24h"),
        "speedup_over_naive": rows["naive_subset"]["seconds"] / rows["ours_subset"]["seconds"],
        "times_floor": rows["ours_24h_1h"]["seconds"] / rows["floor"]["seconds"],
        "peak_rss_gib": rows["ours_24h_1h"]["peak_rss_bytes"] / 2**30,
        "report_seconds": rows["report_5m"]["seconds"],
        "report_peak_rss_gib": rows["report_5m"]["peak_rss_bytes"] / 2**30,
        "preach_us_per_text": rows["preach"]["reported"]["us_per_text"],
    }
    if streaming is not None:
        # Sustained: the offered rate was produced, the lag did not grow, and the output equals batch.
        figures["stream_events_per_s"] = sustained_rate(streaming)[0]
        figures["stream_alert_latency_p99_s"] = streaming.alert_latency_p99_s or float("inf")
    if flink is not None:
        figures["flink_events_per_s"] = sustained_rate(flink["rate"])[0]
        figures["flink_alert_latency_p99_s"] = flink["rate"].alert_latency_p99_s or float("inf")
        if "scale_out" in flink:
            figures["flink_scale_out_ratio"] = flink["scale_out"].ratio
    if ingest is not None:
        figures["ingest_frames_per_s"] = ingest["frames_per_s"]
    met = {
        "replay_events_per_s": figures["replay_events_per_s"] >= TARGETS["replay_events_per_s"],
        "ratio_5min_over_24h": figures["ratio_5min_over_24h"] >= TARGETS["ratio_5min_over_24h"],
        "speedup_over_naive": figures["speedup_over_naive"] >= TARGETS["speedup_over_naive"],
        "times_floor": figures["times_floor"] <= TARGETS["times_floor"],
        "peak_rss_gib": figures["peak_rss_gib"] <= TARGETS["peak_rss_gib"],
        "report_seconds": figures["report_seconds"] <= TARGETS["report_seconds"],
        "report_peak_rss_gib": figures["report_peak_rss_gib"] <= TARGETS["report_peak_rss_gib"],
        "preach_us_per_text": figures["preach_us_per_text"] <= TARGETS["preach_us_per_text"],
    }
    for prefix in ("stream", "flink"):
        if f"{prefix}_events_per_s" in figures:
            rate_key, latency_key = f"{prefix}_events_per_s", f"{prefix}_alert_latency_p99_s"
            met[rate_key] = figures[rate_key] >= 0.99 * TARGETS[rate_key]
            met[latency_key] = figures[latency_key] <= TARGETS[latency_key]
    if flink is not None:
        met["flink_output_exact"] = output_exact(flink["rate"])
    print()
    print(f"{'row':<48} {'seconds':>8} {'events/s':>10} {'peak RSS':>9}")
    for key, row in rows.items():
        if key == "preach":
            reported = row["reported"]
            cost = f"{reported['us_per_text']:.1f} us/text (cold {reported['cold_us_per_text']:,.0f})"
            print(f"{row['label']:<48} {cost}")
            continue
        n = subset_events if "subset" in key else events
        runs = row["runs_seconds"]
        print(
            f"{row['label']:<48} {row['seconds']:>8.1f} {n / row['seconds']:>10,.0f} "
            f"{row['peak_rss_bytes'] / 2**20:>7,.0f}Mi"
            + (f"  fastest of {', '.join(f'{r:.1f}' for r in runs)}" if len(runs) > 1 else "")
        )
    if streaming is not None:
        print_streaming(streaming, "streaming on Prism")
    if flink is not None:
        print_flink(flink)
    if ingest is not None:
        met["ingest_frames_per_s"] = figures["ingest_frames_per_s"] >= TARGETS["ingest_frames_per_s"]
        print(
            f"Bluesky ingester into Kafka, one core: {ingest['frames_per_s']:,} frames/s "
            f"({ingest['frames']:,} frames), peak RSS {ingest['peak_rss_mib']} MiB"
        )
    print()
    print(f"{'figure':<30} {'measured':>10} {'target':>10}  met")
    for key, target in TARGETS.items():
        if key not in figures:
            continue
        sign = "<=" if key in LOWER_IS_BETTER else ">="
        print(f"{key:<30} {figures[key]:>10,.2f} {sign + format(target, ',.2f'):>10}  {'yes' if met[key] else 'NO'}")
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "when": stamp,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "figures": figures,
        "targets": TARGETS,
        "met": met,
        "rows": {k: {kk: vv for kk, vv in v.items() if kk != "stdout"} for k, v in rows.items()},
        "streaming": {
            "prism": asdict(streaming) if streaming is not None else None,
            "flink": flink_json(flink) if flink is not None else None,
        },
        "ingest": ingest,
    }
    path = results / f"bench-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
