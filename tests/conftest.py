"""Fixtures shared across test folders: the real local Kafka broker."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP = "127.0.0.1:9092"


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """The local broker (deploy/local/kafka.sh); started, and stopped afterwards, only if it was not running."""
    script = ROOT / "deploy" / "local" / "kafka.sh"
    running = subprocess.run(["bash", str(script), "status"], capture_output=True, check=False).returncode == 0
    if not running:
        subprocess.run(["bash", str(script), "up"], check=True, timeout=300)
    yield BOOTSTRAP
    # Clients left by the runners' worker threads would log their reconnect attempts after pytest's summary.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if not running:
        subprocess.run(["bash", str(script), "down"], check=True, timeout=120)
