"""The Kafka connection options every command shares (the job, the loader, the simulator, the exporter), turned
into the one `KafkaSettings` all clients are built from (pipelines/io/kafka/security.py).

    --kafka_security_protocol SASL_SSL --kafka_sasl_mechanism SCRAM-SHA-512 --kafka_sasl_username alice
    --kafka_ssl_cafile ca.pem [--kafka_ssl_certfile client.pem --kafka_ssl_keyfile client.key]
    KAFKA_SASL_PASSWORD=... in the environment, or --kafka_sasl_password_file /run/secrets/kafka

There is deliberately no option that takes the password itself: Beam logs its options and ships them to the
workers, and shells keep command lines in their history.
"""

from __future__ import annotations

import argparse
from typing import Any

from pipelines.io.kafka.security import DEFAULT_PASSWORD_ENV, KafkaSettings

_FIELDS = {
    "kafka_security_protocol": "security_protocol",
    "kafka_sasl_mechanism": "sasl_mechanism",
    "kafka_sasl_username": "username",
    "kafka_sasl_password_env": "password_env",
    "kafka_sasl_password_file": "password_file",
    "kafka_ssl_cafile": "ca_file",
    "kafka_ssl_certfile": "cert_file",
    "kafka_ssl_keyfile": "key_file",
}


def add_kafka_security_arguments(parser: Any) -> None:
    """Adds the security options to a parser or an argument group."""
    parser.add_argument(
        "--kafka_security_protocol", default="PLAINTEXT", help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (PLAINTEXT)"
    )
    parser.add_argument("--kafka_sasl_mechanism", help="with SASL_*: SCRAM-SHA-512 or PLAIN")
    parser.add_argument("--kafka_sasl_username", help="with SASL_*")
    parser.add_argument(
        "--kafka_sasl_password_env",
        default=None,
        metavar="VARIABLE",
        help=f"with SASL_*: the environment variable holding the password ({DEFAULT_PASSWORD_ENV})",
    )
    parser.add_argument("--kafka_sasl_password_file", metavar="PATH", help="with SASL_*: a file holding the password")
    parser.add_argument("--kafka_ssl_cafile", metavar="PEM", help="with SSL/SASL_SSL: CA certificates to trust")
    parser.add_argument("--kafka_ssl_certfile", metavar="PEM", help="with SSL/SASL_SSL: client certificate (mTLS)")
    parser.add_argument("--kafka_ssl_keyfile", metavar="PEM", help="with SSL/SASL_SSL: the client certificate's key")


def kafka_settings(
    args: argparse.Namespace, bootstrap: str | None, bootstrap_flag: str = "--kafka_bootstrap"
) -> KafkaSettings | None:
    """Validated settings for `bootstrap`; None without one (then no security option may be given).
    Raises ValueError with one line (the commands show it as their option error)."""
    given = {field: getattr(args, option) for option, field in _FIELDS.items()}
    if not bootstrap:
        stray = [
            f"--{option}" for option, field in _FIELDS.items() if given[field] and option != "kafka_security_protocol"
        ]
        if given["security_protocol"] != "PLAINTEXT":
            stray.insert(0, "--kafka_security_protocol")
        if stray:
            raise ValueError(f"{stray[0]} needs {bootstrap_flag}")
        return None
    settings = KafkaSettings(bootstrap=bootstrap, **given)
    if settings.password_env and not settings.sasl:
        raise ValueError("--kafka_sasl_password_env needs --kafka_security_protocol SASL_PLAINTEXT or SASL_SSL")
    if settings.password_env and settings.password_file:
        raise ValueError("--kafka_sasl_password_env and --kafka_sasl_password_file are two sources: give one")
    settings.validate()
    return settings
