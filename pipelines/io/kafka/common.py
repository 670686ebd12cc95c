"""What the Kafka source, sinks and admin checks share: which errors mean "the broker is away, wait" and which
mean "this will never work, stop", the retry backoff, and closing a client without caring how it went."""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pipelines.io.kafka.security import KafkaSettings

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


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


def with_retries(kafka: KafkaSettings, attempt: Callable[[], T], budget_s: float, what: str) -> T:
    """`attempt()`, retried with backoff while the broker is away, for up to `budget_s`; a fatal error (refused
    credentials or certificate) is raised at once as KafkaFatalError, a longer outage as RuntimeError."""
    deadline = time.monotonic() + budget_s
    failures = 0
    while True:
        try:
            return attempt()
        except kafka_errors() as error:
            if is_fatal(error):
                raise fatal(kafka, error) from None
            failures += 1
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"Kafka at {kafka.describe()} did not answer for {budget_s:.0f}s ({what}): "
                    f"{type(error).__name__}: {error}"
                ) from None
            _LOGGER.warning("kafka: %s failed (%s); retrying", what, error)
            time.sleep(backoff_s(failures))
