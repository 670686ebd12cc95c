"""Mistakes caught at start, through the real commands: one exact line on stderr, a non-zero exit, within 15 s.

Each case is a real process (`python -m pipelines.reciprocity` or `pipelines.load`), started side by side: the
cost of one is mostly importing Beam. The broker cases use the session's real broker (tests/conftest.py) and a
port where nothing listens.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import free_port

LIMIT_S = 15.0


def _cases(broker: str, tmp: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp / "empty-watchlist.txt"
    empty.write_text("# nobody yet\n\n")
    binary = tmp / "binary-watchlist.txt"
    binary.write_bytes(b"\xff\xfe\x00guru")
    events = tmp / "events.jsonl"
    events.write_text('{"event_id": "e1"}\n')
    out = str(tmp / "out")
    nowhere = f"127.0.0.1:{free_port()}"
    missing = f"no-such-topic-{uuid.uuid4().hex[:8]}"
    job = [sys.executable, "-m", "pipelines.reciprocity", "--output", out]
    load = [sys.executable, "-m", "pipelines.load", "--input", str(events)]
    return {
        "unreachable broker": (
            [*job, "--kafka_bootstrap", nowhere],
            f"error: Kafka at {nowhere} is unreachable (no answer within 6s): KafkaConnectionError: 111 ECONNREFUSED",
        ),
        "loader, unreachable broker": (
            [*load, "--kafka_bootstrap", nowhere],
            f"error: Kafka at {nowhere} is unreachable (no answer within 6s): KafkaConnectionError: 111 ECONNREFUSED",
        ),
        "missing topic": (
            [*job, "--kafka_bootstrap", broker, "--events_topic", missing],
            f"error: Kafka topic {missing!r} does not exist on {broker} (create it: deploy/local/kafka.sh topics)",
        ),
        "bad duration": (
            [*job, "--window", "24x"],
            "error: --window: invalid duration '24x' (use a positive number followed by s, m, h or d, "
            "e.g. 90s, 15m, 1h, 7d)",
        ),
        "unreadable watchlist": (
            [*job, "--watchlist", str(tmp / "absent.txt")],
            f"error: --watchlist: cannot read {str(tmp / 'absent.txt')!r}: No such file or directory",
        ),
        "watchlist is a directory": (
            [*job, "--watchlist", str(tmp)],
            f"error: --watchlist: cannot read {str(tmp)!r}: Is a directory",
        ),
        "empty watchlist": (
            [*job, "--watchlist", str(empty)],
            f"error: --watchlist: {str(empty)!r} lists no account (one account id a line)",
        ),
        "binary watchlist": (
            [*job, "--watchlist", str(binary)],
            f"error: --watchlist: {str(binary)!r} is not UTF-8 text",
        ),
        "two sources": (
            [*job, "--input", str(events), "--kafka_bootstrap", broker],
            "error: --input and --kafka_bootstrap are two sources: give one",
        ),
        "end offsets without Kafka": (
            [*job, "--until_end_offsets"],
            "error: --until_end_offsets needs --kafka_bootstrap",
        ),
        "TLS option without Kafka": (
            [*job, "--kafka_security_protocol", "SSL"],
            "error: --kafka_security_protocol needs --kafka_bootstrap",
        ),
        "unwritable output": (
            [sys.executable, "-m", "pipelines.reciprocity", "--output", "/proc/version/out"],
            "error: --output: cannot write to '/proc/version/out': Not a directory",
        ),
    }


def _run(argv: list[str]) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stderr, time.monotonic() - started


def test_every_start_mistake_is_one_exact_line_and_a_quick_nonzero_exit(broker, tmp_path):
    cases = _cases(broker, tmp_path)
    # Three at a time: each process's own time is measured, and two shared cores are not flooded.
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(cases, pool.map(_run, [argv for argv, _ in cases.values()]), strict=True))
    failures = []
    for name, (code, stderr, elapsed) in results.items():
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        expected = cases[name][1]
        if code != 2 or errors != [expected]:
            failures.append(f"{name}: exit {code}, {errors or stderr[-500:]!r}, expected {expected!r}")
        if "Traceback" in stderr:
            failures.append(f"{name}: a traceback")
        if elapsed > LIMIT_S:
            failures.append(f"{name}: took {elapsed:.1f}s")
    assert not failures, "\n".join(failures)
