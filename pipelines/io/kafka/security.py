"""How every Kafka client of the product connects: one definition of the address and security settings.

The source, the sinks, the loader (`python -m pipelines.load`), the simulator's `--to-kafka` and the Prometheus
exporter all build their kafka-python clients from a `KafkaSettings`, so PLAINTEXT, SSL, SASL_PLAINTEXT and
SASL_SSL (SCRAM-SHA-512 or PLAIN) behave the same everywhere.

Why the password is not a field: a `KafkaSettings` travels inside the pipeline (pickled into the DoFns that Beam
ships to workers, and next to the pipeline options Beam logs). It holds only *where* the password is, the name
of an environment variable or a file path, and the password is read when a client is built, on the machine that
builds it. So it appears in no option, no pickled transform, no repr; in a client's configuration it is a
`Secret`, whose repr is masked (kafka-python's admin client logs its whole configuration at DEBUG).
On a cluster, the variable or the file must therefore exist on every worker. kafka-python's DEBUG protocol log
prints every frame it sends, SASL PLAIN's (the password in clear) included: this module drops those records.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "PLAIN")
DEFAULT_PASSWORD_ENV = "KAFKA_SASL_PASSWORD"


_SECRETS: set[str] = set()  # the passwords this process has read, and their bytes' repr forms


class _NoSecrets(logging.Filter):
    """Drops any kafka-python log record that shows a password read here: its DEBUG protocol log prints every
    frame it sends, and SASL PLAIN's carries the password in clear. Runs only for records that are logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRETS:
            return True
        message = record.getMessage()
        return not any(secret in message for secret in _SECRETS)


for _name in ("kafka.net.connection", "kafka.protocol.parser", "kafka.net.manager", "kafka.admin.client"):
    logging.getLogger(_name).addFilter(_NoSecrets())


class Secret(str):
    """A str that never shows itself in a repr (so not in a logged dict either); str() and encode() are intact,
    which is what kafka-python's SASL mechanisms use."""

    __slots__ = ()

    def __new__(cls, value: str) -> Secret:
        _SECRETS.update({value, repr(value.encode("utf-8"))[2:-1]})
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return "'<secret>'"


@dataclass(frozen=True)
class KafkaSettings:
    """Bootstrap servers and security settings. `validate()` at start; `client(KafkaConsumer, ...)` builds a client."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password_env: str | None = None  # the name of the variable, never its value
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def of(cls, value: KafkaSettings | str) -> KafkaSettings:
        """Settings as given, or PLAINTEXT settings for a bare bootstrap address."""
        return value if isinstance(value, KafkaSettings) else cls(bootstrap=value)

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def describe(self) -> str:
        """For messages and logs: the address, the protocol and the user; never the password."""
        extra = [self.security_protocol] if self.security_protocol != "PLAINTEXT" else []
        if self.sasl:
            extra.append(f"{self.sasl_mechanism} as {self.username!r}")
        return self.bootstrap + (f" ({', '.join(extra)})" if extra else "")

    def validate(self) -> None:
        """Raises ValueError with one line naming the option, before any client is built."""
        if not self.bootstrap.strip():
            raise ValueError("--kafka_bootstrap must not be empty")
        if self.security_protocol not in PROTOCOLS:
            raise ValueError(
                f"--kafka_security_protocol must be one of {', '.join(PROTOCOLS)}, got {self.security_protocol!r}"
            )
        if self.sasl:
            if self.sasl_mechanism not in MECHANISMS:
                raise ValueError(
                    f"--kafka_sasl_mechanism must be one of {', '.join(MECHANISMS)} with {self.security_protocol}, "
                    f"got {self.sasl_mechanism!r}"
                )
            if not self.username:
                raise ValueError(f"--kafka_sasl_username is required with {self.security_protocol}")
            self._password()  # present and non-empty, or a one-line error
        else:
            given = [name for name, value in self._sasl_options() if value]
            if given:
                raise ValueError(f"{given[0]} needs --kafka_security_protocol SASL_PLAINTEXT or SASL_SSL")
        if not self.tls:
            given = [name for name, value in self._tls_options() if value]
            if given:
                raise ValueError(f"{given[0]} needs --kafka_security_protocol SSL or SASL_SSL")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("--kafka_ssl_certfile and --kafka_ssl_keyfile go together: give both or neither")
        for name, path in self._tls_options():
            if path:
                _readable(name, path)

    def client(self, kind: Callable[..., T], **extra: Any) -> T:
        """A kafka-python client, `kind` (KafkaConsumer, KafkaProducer or KafkaAdminClient), with these settings and
        `extra`, with kafka_python_fix's two fixes: it reads a refused login's answer, and one that fails to start
        leaves no IO thread behind."""
        from pipelines.io.kafka import kafka_python_fix

        return kafka_python_fix.build(kind, {**self.client_config(), **extra})

    def client_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments shared by KafkaConsumer, KafkaProducer and KafkaAdminClient."""
        config: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.tls:
            config["ssl_check_hostname"] = True
            if self.ca_file:
                config["ssl_cafile"] = self.ca_file
            if self.cert_file:
                config["ssl_certfile"] = self.cert_file
                config["ssl_keyfile"] = self.key_file
        if self.sasl:
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.username
            config["sasl_plain_password"] = self._password()
        return config

    def _sasl_options(self) -> list[tuple[str, str | None]]:
        return [
            ("--kafka_sasl_mechanism", self.sasl_mechanism),
            ("--kafka_sasl_username", self.username),
            ("--kafka_sasl_password_file", self.password_file),
        ]

    def _tls_options(self) -> list[tuple[str, str | None]]:
        return [
            ("--kafka_ssl_cafile", self.ca_file),
            ("--kafka_ssl_certfile", self.cert_file),
            ("--kafka_ssl_keyfile", self.key_file),
        ]

    def _password(self) -> Secret:
        if self.password_file:
            text = _readable("--kafka_sasl_password_file", self.password_file).rstrip("\r\n")
            if not text:
                raise ValueError(f"--kafka_sasl_password_file: {self.password_file!r} is empty")
            return Secret(text)
        variable = self.password_env or DEFAULT_PASSWORD_ENV
        value = os.environ.get(variable, "")
        if not value:
            raise ValueError(
                f"the SASL password is read from the environment variable {variable} (--kafka_sasl_password_env), "
                "which is not set; or give --kafka_sasl_password_file"
            )
        return Secret(value)


def _readable(option: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise ValueError(f"{option}: cannot read {path!r}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{option}: {path!r} is not a text (PEM) file") from None
