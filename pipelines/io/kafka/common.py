"""What the Kafka source, sinks and admin checks share: which errors mean "the broker is away, wait" and which
mean "this will never work, stop", the retry backoff, and closing a client without caring how it went."""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

from pipelines.io.kafka.security import KafkaSettings


def kafka_errors() -> tuple[type[BaseException], ...]:
    """What a broker outage looks like from kafka-python: its own errors plus socket-level ones."""
    from kafka.errors import KafkaError

    # RuntimeError: what kafka-python raises from a consumer whose network layer was closed under it.
    return (KafkaError, OSError, TimeoutError, RuntimeError)


def is_fatal(error: BaseException) -> bool:
    """Errors that waiting will not cure: refused credentials, a certificate that does not verify, a TLS
    handshake with something that does not speak TLS, missing ACLs."""
    from kafka.errors import AuthorizationError, SaslAuthenticationFailedError

    return isinstance(error, (SaslAuthenticationFailedError, AuthorizationError, ssl.SSLError))


class KafkaFatalError(RuntimeError):
    """A Kafka client cannot work with these settings; the message is the one line to show."""


def fatal(settings: KafkaSettings, error: BaseException) -> KafkaFatalError:
    kind = "authorization" if "Authorization" in type(error).__name__ else "authentication or TLS"
    return KafkaFatalError(f"Kafka at {settings.describe()}: {kind} failed: {type(error).__name__}: {error}")


def backoff_s(failures: int) -> float:
    """0.5 s, 1 s, 2 s ... capped at 10 s: quick to resume after a blip, cheap while the broker is down."""
    return min(10.0, 0.5 * 2 ** max(0, failures - 1))


def close_quietly(client: Any) -> None:
    """Best effort: a client is closed because it is broken or no longer needed; the broker times out
    whatever connection is left."""
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()
