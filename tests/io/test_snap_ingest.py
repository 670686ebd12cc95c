"""`python -m pipelines.ingest snap`: an edge list (plain or gzip) to JSON Lines the job reads."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.model.events import event_from_record

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sx-mathoverflow" / "sx-mathoverflow-c2a.txt.gz"


def ingest(*argv):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.ingest", "snap", *argv], capture_output=True, text=True, timeout=120
    )


def test_gzip_edge_list_to_events_with_dead_letters_beside(tmp_path):
    source = tmp_path / "edges.txt.gz"
    with gzip.open(source, "wt") as handle:
        handle.write("% src dst t\n1 2 100\n2 1 160\nbroken line\n3 1 200\n")
    out = tmp_path / "events.jsonl"
    done = ingest("--input", str(source), "--as", "MENTION", "--id_prefix", "u", "--output", str(out))
    assert done.returncode == 0, done.stderr
    events = [event_from_record(json.loads(line)) for line in out.read_text().splitlines()]
    assert [(e.event_id, e.actor_id, e.target_account_id, e.event_time) for e in events] == [
        ("edges:2", "u1", "u2", 100_000),
        ("edges:3", "u2", "u1", 160_000),
        ("edges:5", "u3", "u1", 200_000),
    ]
    assert {e.event_type for e in events} == {"MENTION"}
    (dead,) = [json.loads(line) for line in (tmp_path / "events.dead_letter.jsonl").read_text().splitlines()]
    assert (dead["raw"], dead["source"]) == ("broken line", f"{source}:4")
    assert "snap: 5 frames, 3 events delivered, 1 skipped, 1 dead letters" in done.stderr


def test_the_real_mathoverflow_file_replays_directly(tmp_path):
    if not DATA.exists():
        pytest.skip(f"SNAP sx-mathoverflow not found at {DATA}")
    out = tmp_path / "mo.jsonl"
    done = ingest(
        "--input", str(DATA), "--as", "REPLY", "--id_prefix", "mo", "--output", str(out), "--max_events", "5000"
    )
    assert done.returncode == 0, done.stderr
    with gzip.open(DATA, "rt") as handle:
        first = [line.split() for _, line in zip(range(5000), handle, strict=False)]
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["actor_id"], e["target_account_id"]) for e in events] == [(f"mo{s}", f"mo{d}") for s, d, _ in first]


def test_bad_options(tmp_path):
    done = ingest("--input", str(tmp_path / "none.txt"), "--as", "REPLY", "--output", str(tmp_path / "o.jsonl"))
    assert (done.returncode, done.stderr) == (2, f"error: --input: no such file '{tmp_path / 'none.txt'}'\n")


def test_an_output_that_cannot_be_written_is_one_line(tmp_path):
    source = tmp_path / "edges.txt"
    source.write_text("1 2 3\n")
    (tmp_path / "file").write_text("")
    done = ingest("--input", str(source), "--as", "REPLY", "--output", str(tmp_path / "file" / "o.jsonl"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: --output: cannot write '{tmp_path / 'file' / 'o.jsonl'}': ")
