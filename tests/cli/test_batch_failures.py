"""Batch mode when the disk fills up: one clear error, a non-zero exit, and no file that looks complete.

The full disk is a real one as far as the job can tell: the process runs with RLIMIT_FSIZE (`ulimit -f`), so its
writes past the limit fail with EFBIG, as they would with ENOSPC, and no mount or privilege is needed.
"""

from __future__ import annotations

import errno
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.io import jsonlines

LIMIT_BYTES = 200 * 1024


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))


def test_a_full_disk_is_one_line_exit_1_and_no_output_file(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "alerts.jsonl").write_text('{"from": "an earlier run"}\n')  # must not pass for this run's
    argv = [sys.executable, "-m", "pipelines.reciprocity", "--output", str(output), "--sim_events", "20000"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, preexec_fn=_limited)
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: the job failed: OSError: [Errno 27] File too large")
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert sorted(p.name for p in output.iterdir()) == ["ground_truth.jsonl"]  # the simulator's, written first


def test_concatenation_that_fails_leaves_no_file_under_the_final_name(tmp_path, monkeypatch):
    parts = []
    for i in range(3):
        part = tmp_path / f"windows.jsonl.part-0000{i}"
        part.write_text(f"line {i}\n")
        parts.append(str(part))

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jsonlines, "_move_tail", full)
    target = tmp_path / "windows.jsonl"
    with pytest.raises(OSError, match="No space left"):
        jsonlines.concatenate(parts, str(target))
    assert not target.exists()
    assert Path(str(target) + jsonlines.INCOMPLETE).exists()  # what the command removes after a failed run
