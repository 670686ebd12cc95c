"""The classifier's cost row: a warm text costs a small fraction of a cold one (stems are cached per token)."""

import json
import subprocess
import sys

from pipelines.bench.preach import cost_per_text
from pipelines.model.preach_corpus import load


def test_warm_texts_cost_far_less_than_cold_ones():
    texts = [example.text for example in load()][:120]
    cold, warm = cost_per_text(texts, rounds=3)
    assert 0 < warm < cold / 5


def test_the_row_prints_its_figures_as_one_json_line():
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.bench.preach", "--rounds", "1"], capture_output=True, text=True, check=True
    )
    reported = json.loads(completed.stdout.strip().splitlines()[-1])
    assert reported["texts"] == len(load()) and reported["us_per_text"] > 0 and reported["cold_us_per_text"] > 0
