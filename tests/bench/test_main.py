"""The bench's row runner: repeated rows keep their fastest run, with every run reported."""

import sys

import pytest

from pipelines.bench.__main__ import main, measure

SCRIPT = """
import json, pathlib, time
marker = pathlib.Path(r"{marker}")
run = int(marker.read_text()) if marker.exists() else 0
marker.write_text(str(run + 1))
time.sleep(0.6 if run == 0 else 0.05)
print(json.dumps({{"run": run}}))
"""


def test_a_repeated_row_keeps_its_fastest_run(tmp_path):
    command = [sys.executable, "-c", SCRIPT.format(marker=tmp_path / "runs")]
    row = measure(command, "slow first run", repeat=2)
    first, second = row["runs_seconds"]
    assert first > second
    assert row["seconds"] == second
    assert row["reported"] == {"run": 1}


def test_repeat_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main(["--repeat", "0"])
    assert "--repeat must be at least 1, got 0" in capsys.readouterr().err


def test_each_run_starts_from_an_empty_output_folder(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "stale.jsonl").write_text("from an earlier run\n")
    script = (
        "import json, pathlib; out = pathlib.Path(r'{out}'); "
        "found = sorted(p.name for p in out.iterdir()) if out.exists() else []; "
        "out.mkdir(exist_ok=True); (out / 'windows.jsonl').write_text('x'); print(json.dumps({{'found': found}}))"
    )
    row = measure([sys.executable, "-c", script.format(out=output)], "fresh output", repeat=2, output=output)
    assert row["reported"] == {"found": []}  # neither the stale file nor the first run's output was there
    assert (output / "windows.jsonl").exists()  # the last run's output stays for inspection
