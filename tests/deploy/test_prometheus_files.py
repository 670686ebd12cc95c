"""deploy/prometheus: the scrape config and alerting rules are valid and their unit tests pass (promtool)."""

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.mark.parametrize(
    "command",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "rules.yml"],
        ["test", "rules", "rules_test.yml"],
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool(command):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `bash deploy/local/install-tools.sh` installs it"
    done = subprocess.run([promtool, *command], cwd=PROMETHEUS, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
