"""Two fixes for kafka-python 3.0.x (3.0.12 is the newest on PyPI), each a bug that made a client misbehave here.

1. Read the broker's last answer before its hang-up (`apply`). 3.0.x's transport drops the bytes it read in the
same pass as the end of the stream. A broker that refuses a SASL login answers SaslAuthenticate with the error and
closes the connection at once (after its connection.failed.authentication.delay.ms). When both reach the client
before it reads, which is what happens on a busy machine, the client loses the answer and sees only "socket
disconnected": a wrong password then reads as an unreachable broker (CI saw it: the start-time check said
"unreachable" instead of "authentication failed"), and a running job waits it out instead of stopping.
kafka-python's main branch already hands the bytes to the protocol before closing; this does the same on the
released versions that do not (and nothing on any other), and also lets the login's task read its answer before
the hang-up is reported, so the connection fails with the broker's own error, SaslAuthenticationFailedError.

    apply()  # idempotent; build() calls it, so every client KafkaSettings.client makes has it

2. Close what a client that failed to start had started (`build`). A consumer or an admin client starts its IO
thread before it bootstraps and leaves it running when bootstrapping fails (measured: five failed KafkaConsumer()
calls leave five threads). The job's partition discovery and sinks and the Prometheus exporter retry for as long
as the broker is away, so each attempt would leave one more thread reconnecting forever.

    build(KafkaConsumer, {**settings.client_config(), "group_id": None})  # what KafkaSettings.client does
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def needs_fix(version: str) -> bool:
    """True for the kafka-python versions whose transport drops the bytes read with the end of the stream."""
    parts = version.split(".")
    try:
        major, minor, patch = int(parts[0]), int(parts[1]), int(parts[2].split("+")[0].split("rc")[0])
    except (IndexError, ValueError):
        return False
    return (major, minor) == (3, 0) and patch <= 12


def apply() -> bool:
    """Installs the fix when the installed kafka-python needs it; returns whether the fix is in place."""
    from kafka.net.transport import KafkaTCPTransport  # the SSL transport inherits its read loop
    from kafka.version import __version__

    if KafkaTCPTransport._read_from_sock is _read_from_sock:
        return True
    if not needs_fix(__version__):
        return False
    KafkaTCPTransport._read_from_sock = _read_from_sock
    return True


def build(kind: Callable[..., T], config: dict[str, Any]) -> T:
    """`kind(**config)` (KafkaConsumer, KafkaProducer or KafkaAdminClient); when it raises, the network client it
    had made (its IO thread, its connections) is closed before the error goes on. The read fix is applied first."""
    from kafka.net.compat import KafkaNetClient  # what the three clients make by default

    apply()

    made: list[Any] = []

    def network_client(**configs: Any) -> Any:
        client = KafkaNetClient(**configs)
        made.append(client)
        return client

    try:
        return kind(**{"kafka_client": network_client, **config})
    except BaseException:
        for client in made:
            with contextlib.suppress(Exception):
                client.close()
        raise


async def _read_from_sock(self: Any) -> None:
    """The transport's read loop, with one change: bytes read before an error reach the protocol, and whoever
    waits for them runs, before the transport closes with the error."""
    import kafka.errors as errors

    while self._read and not self._closed:
        await self._net.wait_read(self._sock)
        data, hangup = self._sock_recv()
        if data and self._protocol is not None:
            self.last_read = time.monotonic()
            if self._protocol._sensors:
                self._protocol._sensors.bytes_received.record(len(data))
            try:
                self._protocol.data_received(data)
            except errors.KafkaProtocolError as error:
                self.abort(error=error)
                return
        if hangup:
            if data:  # let the tasks that awaited this answer (a login's) run first: they close with its error
                await self._net.sleep(0)
            self.abort(error=hangup)
            return
