"""Fixtures shared across test folders: a real local Kafka broker."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.bench.flink import cluster_env, free_port

__all__ = ["free_port"]  # the tests' way to a free loopback port

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = ROOT / "deploy" / "local" / "kafka.sh"


@dataclass(frozen=True)
class LocalBroker:
    bootstrap: str
    home: Path  # KAFKA_HOME of deploy/local/kafka.sh: its jars are in home / "libs"


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


FLINK_SCRIPT = ROOT / "deploy" / "local" / "flink.sh"


@dataclass(frozen=True)
class LocalFlink:
    """A Flink cluster of deploy/local/flink.sh: its REST address, home and the environment that started it."""

    rest: str
    home: Path
    env: dict[str, str]

    def script(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(FLINK_SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture(scope="session")
def flink_cluster() -> Iterator[LocalFlink]:
    """A Flink 1.19 cluster of the test session's own, always (the tests kill its TaskManagers): 2 TaskManagers
    with 2 slots, Beam's job server and worker pool, on free ports, in .cache/flink-test. The Flink jars are shared
    with `make flink-up` (.cache/flink/dist), so they are downloaded once."""
    home = ROOT / ".cache" / "flink-test"
    env = cluster_env(home, taskmanagers=2)
    cluster = LocalFlink(f"127.0.0.1:{env['FLINK_REST_PORT']}", home, env)
    cluster.script("down", timeout=120)  # a previous session's, killed before it could stop it
    started = cluster.script("up", timeout=900)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield cluster
    finally:
        cluster.script("down", timeout=120)
