"""Fixtures shared across test folders: a real local Kafka broker."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = ROOT / "deploy" / "local" / "kafka.sh"


@dataclass(frozen=True)
class LocalBroker:
    bootstrap: str
    home: Path  # KAFKA_HOME of deploy/local/kafka.sh: its jars are in home / "libs"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def kafka_env(home: Path, port: int, controller_port: int) -> dict[str, str]:
    """deploy/local/kafka.sh settings for a broker in `home` on the given loopback ports."""
    return {
        **os.environ,
        "KAFKA_HOME": str(home),
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
    }


@pytest.fixture(scope="session")
def local_broker() -> Iterator[LocalBroker]:
    """This checkout's broker when `make kafka-up` started it; otherwise one of the session's own, on free
    ports (a broker someone else runs on 9092 is left alone), stopped at the end."""
    if subprocess.run(["bash", str(KAFKA_SCRIPT), "status"], capture_output=True, check=False).returncode == 0:
        yield LocalBroker("127.0.0.1:9092", ROOT / ".cache" / "kafka")
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        return
    home, port = ROOT / ".cache" / "kafka-test", free_port()
    env = kafka_env(home, port, free_port())
    subprocess.run(["bash", str(KAFKA_SCRIPT), "up"], env=env, check=True, timeout=600)
    try:
        yield LocalBroker(f"127.0.0.1:{port}", home)
    finally:
        # Clients left by the runners' worker threads would log their reconnect attempts after pytest's summary.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        subprocess.run(["bash", str(KAFKA_SCRIPT), "down"], env=env, check=True, timeout=120)


@pytest.fixture(scope="session")
def broker(local_broker: LocalBroker) -> str:
    """The bootstrap address of the real local broker."""
    return local_broker.bootstrap
