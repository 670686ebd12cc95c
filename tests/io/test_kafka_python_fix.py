"""The kafka-python fixes: bytes the broker sent just before hanging up reach the protocol (a refused login's answer
is such bytes; deterministic: the peer writes and closes before the transport reads at all), and a client that
cannot bootstrap leaves no IO thread behind (against a loopback port nobody listens on)."""

from __future__ import annotations

import socket
import threading
import time

import kafka.errors
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.future import Future
from kafka.net.selector import NetworkSelector
from kafka.net.transport import KafkaTCPTransport

from pipelines.io.kafka import KafkaSettings, kafka_python_fix
from pipelines.io.kafka.kafka_python_fix import apply, needs_fix
from tests.conftest import free_port


class Recorder:
    """A protocol that keeps what the transport hands it, and resolves `answer` as a connection resolves the
    future a login awaits."""

    _sensors = None

    def __init__(self) -> None:
        self.data = b""
        self.answer = Future()
        self.lost: list[BaseException | None] = []
        self.order: list[str] = []

    def data_received(self, data: bytes) -> None:
        self.data += data
        if not self.answer.is_done:
            self.answer.success(data)

    def connection_lost(self, error: BaseException | None) -> None:
        self.lost.append(error)
        self.order.append("connection lost")


async def login(protocol: Recorder) -> None:
    await protocol.answer
    protocol.order.append("answer read")


def test_the_last_answer_before_a_hangup_reaches_the_protocol() -> None:
    apply()  # as KafkaSettings.client does first (see the last test)
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    answer = b"\x00\x00\x00\x0csasl refused" * 50
    broker.sendall(answer)
    broker.close()  # the answer and the end of the stream are both waiting before the first read
    net = NetworkSelector()
    transport = KafkaTCPTransport(net, ours)
    protocol = Recorder()
    transport.set_protocol(protocol)
    net.call_soon(login(protocol))
    transport.resume_reading()
    deadline = time.monotonic() + 10
    while not protocol.lost and time.monotonic() < deadline:
        net.poll(timeout_ms=100)
    assert protocol.data == answer
    assert len(protocol.lost) == 1 and isinstance(protocol.lost[0], kafka.errors.KafkaConnectionError)
    assert protocol.order == ["answer read", "connection lost"]  # the login sees the refusal, not the hang-up


def test_the_fix_is_idempotent_and_only_for_the_versions_that_need_it() -> None:
    assert apply() == apply()
    assert needs_fix("3.0.12") and needs_fix("3.0.0")
    assert not needs_fix("3.0.13") and not needs_fix("3.1.0") and not needs_fix("2.3.3") and not needs_fix("x")


@pytest.mark.parametrize("version", ["3.0.12", "3.0.5rc1"])
def test_prereleases_and_patches_parse(version: str) -> None:
    assert needs_fix(version)


def kafka_threads() -> int:
    return sum(thread.name.startswith("kafka-io-") for thread in threading.enumerate())


@pytest.mark.parametrize("kind", [KafkaConsumer, KafkaAdminClient, KafkaProducer])
def test_a_client_that_cannot_bootstrap_leaves_no_thread_behind(kind: type) -> None:
    settings = KafkaSettings(f"127.0.0.1:{free_port()}")  # nobody listens there
    before = kafka_threads()
    for _ in range(3):  # as a retry loop does while the broker is away
        with pytest.raises(kafka.errors.KafkaTimeoutError):
            settings.client(kind, bootstrap_timeout_ms=300)
    assert kafka_threads() == before
    assert KafkaTCPTransport._read_from_sock is kafka_python_fix._read_from_sock  # the read fix came with it
