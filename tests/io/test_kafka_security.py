"""Kafka security for every client (pipelines/io/kafka/security.py), against a real broker of this module's own.

The broker (deploy/local/kafka.sh, the session broker's jars) gets an SSL, a SASL_SSL and a SASL_PLAINTEXT
listener, certificates made here with `cryptography` (a CA, the broker's certificate for 127.0.0.1 and a client
certificate) and one SCRAM-SHA-512/PLAIN user. The first tests need no broker: option validation, one line each.
"""

from __future__ import annotations

import datetime
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from pipelines.cli import options as cli_options
from pipelines.io import wire
from pipelines.io.kafka import KafkaCheckError, KafkaSettings, ReadSocialEventsFromKafka, WriteToKafka, check_kafka
from pipelines.io.kafka.security import Secret
from pipelines.io.producer import produce
from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import SocialEvent
from pipelines.model.reference import reference
from pipelines.observability.exporter import ExporterOptions, serve
from pipelines.simulator import build_network, generate
from tests.cli.jobs import prism
from tests.cli.test_streaming_job import SMALL
from tests.conftest import KAFKA_SCRIPT, LocalBroker, free_port, kafka_env
from tests.model.helpers import canonical

ROOT = Path(__file__).resolve().parents[2]
USER = "alice"
PASSWORD = "s3cr3t-" + uuid.uuid4().hex[:12]  # unique, so finding it anywhere is meaningful


# --- validation, no broker ------------------------------------------------------------------------------------------

SASL_PLAIN = [
    "--kafka_bootstrap",
    "h:1",
    "--kafka_security_protocol",
    "SASL_PLAINTEXT",
    "--kafka_sasl_mechanism",
    "PLAIN",
]
SASL_PLAIN += ["--kafka_sasl_username", "u"]


def _parse_error(argv: list[str]) -> str:
    with pytest.raises(cli_options.OptionError) as error:
        cli_options.parse(["--output", "out", *argv])
    return str(error.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--kafka_bootstrap", "h:1", "--kafka_security_protocol", "TLS"],
            "--kafka_security_protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got 'TLS'",
        ),
        (
            ["--kafka_bootstrap", "h:1", "--kafka_security_protocol", "SASL_SSL", "--kafka_sasl_username", "u"],
            "--kafka_sasl_mechanism must be one of SCRAM-SHA-512, PLAIN with SASL_SSL, got None",
        ),
        (
            ["--kafka_bootstrap", "h:1", "--kafka_security_protocol", "SASL_SSL", "--kafka_sasl_mechanism", "PLAIN"],
            "--kafka_sasl_username is required with SASL_SSL",
        ),
        (
            [*SASL_PLAIN, "--kafka_sasl_password_env", "NO_SUCH_VARIABLE_HERE"],
            "the SASL password is read from the environment variable NO_SUCH_VARIABLE_HERE "
            "(--kafka_sasl_password_env), which is not set; or give --kafka_sasl_password_file",
        ),
        (
            [*SASL_PLAIN, "--kafka_sasl_password_file", "/no/such/file"],
            "--kafka_sasl_password_file: cannot read '/no/such/file': No such file or directory",
        ),
        (
            ["--kafka_bootstrap", "h:1", "--kafka_ssl_cafile", "ca.pem"],
            "--kafka_ssl_cafile needs --kafka_security_protocol SSL or SASL_SSL",
        ),
        (
            ["--kafka_bootstrap", "h:1", "--kafka_sasl_username", "u"],
            "--kafka_sasl_username needs --kafka_security_protocol SASL_PLAINTEXT or SASL_SSL",
        ),
        (
            ["--kafka_bootstrap", "h:1", "--kafka_security_protocol", "SSL", "--kafka_ssl_certfile", "c.pem"],
            "--kafka_ssl_certfile and --kafka_ssl_keyfile go together: give both or neither",
        ),
        (
            ["--kafka_bootstrap", "h:1", "--kafka_security_protocol", "SSL", "--kafka_ssl_cafile", "/no/ca.pem"],
            "--kafka_ssl_cafile: cannot read '/no/ca.pem': No such file or directory",
        ),
        (["--kafka_security_protocol", "SSL"], "--kafka_security_protocol needs --kafka_bootstrap"),
        (["--kafka_ssl_cafile", "ca.pem"], "--kafka_ssl_cafile needs --kafka_bootstrap"),
    ],
)
def test_security_options_are_validated_with_one_exact_line(argv, message):
    assert _parse_error(argv) == message


def test_an_empty_password_file_is_refused(tmp_path):
    empty = tmp_path / "password"
    empty.write_text("\n")
    argv = ["--kafka_bootstrap", "h:1", "--kafka_security_protocol", "SASL_SSL", "--kafka_sasl_mechanism", "PLAIN"]
    argv += ["--kafka_sasl_username", "u", "--kafka_sasl_password_file", str(empty)]
    assert _parse_error(argv) == f"--kafka_sasl_password_file: {str(empty)!r} is empty"


def test_the_password_is_in_no_option_no_repr_and_no_pickle(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    argv = ["--output", str(tmp_path), "--kafka_bootstrap", "h:1", "--kafka_security_protocol", "SASL_SSL"]
    argv += ["--kafka_sasl_mechanism", "SCRAM-SHA-512", "--kafka_sasl_username", USER]
    job, _, beam_args = cli_options.parse(argv)
    settings = job.kafka.client
    assert settings.client_config()["sasl_plain_password"] == PASSWORD  # it is found where it is needed
    for text in (repr(job), repr(settings), str(beam_args), repr(settings.client_config())):
        assert PASSWORD not in text
    for transform in (
        ReadSocialEventsFromKafka(settings, "t", "g"),
        WriteToKafka(settings, "t", "AccountWindow"),
    ):
        assert PASSWORD.encode() not in pickle.dumps(transform)
    assert repr(Secret(PASSWORD)) == "'<secret>'" and Secret(PASSWORD).encode() == PASSWORD.encode()


# --- a secured broker -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecureBroker:
    plaintext: str
    ssl: str
    sasl_ssl: str
    sasl_plaintext: str
    ca: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA the broker's certificate does not chain to


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, common: str, server: bool
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def secure_broker(local_broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    tls = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert = _ca("reciprocity test CA")
    broker_key, broker_cert = _leaf(ca_key, ca_cert, "localhost", server=True)
    client_key, client_cert = _leaf(ca_key, ca_cert, "reciprocity-client", server=False)
    (tls / "ca.pem").write_bytes(_pem_cert(ca_cert))
    (tls / "broker.pem").write_bytes(_pem_key(broker_key) + _pem_cert(broker_cert) + _pem_cert(ca_cert))
    (tls / "client.pem").write_bytes(_pem_cert(client_cert))
    (tls / "client.key").write_bytes(_pem_key(client_key))
    (tls / "other-ca.pem").write_bytes(_pem_cert(_ca("someone else")[1]))

    ports = {name: free_port() for name in ("plain", "controller", "ssl", "sasl_ssl", "sasl_plaintext")}
    env = {
        **kafka_env(tmp_path_factory.mktemp("kafka-secure"), ports["plain"], ports["controller"]),
        "KAFKA_LIBS": str(local_broker.home / "libs"),
        "KAFKA_SSL_PORT": str(ports["ssl"]),
        "KAFKA_SASL_SSL_PORT": str(ports["sasl_ssl"]),
        "KAFKA_SASL_PLAINTEXT_PORT": str(ports["sasl_plaintext"]),
        "KAFKA_TLS_KEYSTORE": str(tls / "broker.pem"),
        "KAFKA_TLS_TRUSTSTORE": str(tls / "ca.pem"),
        "KAFKA_SCRAM_USER": USER,
        "KAFKA_SCRAM_PASSWORD": PASSWORD,
    }
    subprocess.run(["bash", str(KAFKA_SCRIPT), "up"], env=env, check=True, timeout=300, capture_output=True)
    try:
        yield SecureBroker(
            plaintext=f"127.0.0.1:{ports['plain']}",
            ssl=f"127.0.0.1:{ports['ssl']}",
            sasl_ssl=f"127.0.0.1:{ports['sasl_ssl']}",
            sasl_plaintext=f"127.0.0.1:{ports['sasl_plaintext']}",
            ca=tls / "ca.pem",
            client_cert=tls / "client.pem",
            client_key=tls / "client.key",
            other_ca=tls / "other-ca.pem",
        )
    finally:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        subprocess.run(["bash", str(KAFKA_SCRIPT), "down"], env=env, check=True, timeout=120, capture_output=True)


@pytest.fixture(scope="module")
def secure_topic(secure_broker: SecureBroker) -> str:
    name = f"secure-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=secure_broker.plaintext)
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    admin.close()
    return name


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)


def _settings(broker: SecureBroker, kind: str) -> KafkaSettings:
    sasl = {"username": USER, "password_env": "KAFKA_SASL_PASSWORD"}
    return {
        "SSL": KafkaSettings(broker.ssl, "SSL", ca_file=str(broker.ca)),
        "SSL+client certificate": KafkaSettings(
            broker.ssl,
            "SSL",
            ca_file=str(broker.ca),
            cert_file=str(broker.client_cert),
            key_file=str(broker.client_key),
        ),
        "SASL_SSL SCRAM-SHA-512": KafkaSettings(
            broker.sasl_ssl, "SASL_SSL", "SCRAM-SHA-512", ca_file=str(broker.ca), **sasl
        ),
        "SASL_SSL PLAIN": KafkaSettings(broker.sasl_ssl, "SASL_SSL", "PLAIN", ca_file=str(broker.ca), **sasl),
        "SASL_PLAINTEXT SCRAM-SHA-512": KafkaSettings(broker.sasl_plaintext, "SASL_PLAINTEXT", "SCRAM-SHA-512", **sasl),
    }[kind]


KINDS = ["SSL", "SSL+client certificate", "SASL_SSL SCRAM-SHA-512", "SASL_SSL PLAIN", "SASL_PLAINTEXT SCRAM-SHA-512"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_protocol_checks_produces_and_consumes(secure_broker, secure_topic, password_env, kind, caplog):
    settings = _settings(secure_broker, kind)
    settings.validate()
    with caplog.at_level(logging.DEBUG):
        check_kafka(settings, [secure_topic])
        event = SocialEvent(f"e-{kind}", "POST", "guru", 1_764_547_200_000, text=kind)
        assert produce([event], settings, secure_topic, progress=False) == 1
        consumer = KafkaConsumer(secure_topic, **settings.client_config(), auto_offset_reset="earliest")
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while event.event_id not in seen and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=1000).values():
                seen += [wire.decode_event(message.value).event_id for message in messages]
        consumer.close()
    assert event.event_id in seen
    leaks = sorted({r.name for r in caplog.records if PASSWORD in r.getMessage()})
    assert not leaks, leaks


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"password_env": "WRONG_KAFKA_PASSWORD"}, "authentication or TLS failed: "),
        ({"username": "mallory"}, "authentication or TLS failed: "),
    ],
)
def test_wrong_credentials_fail_once_clearly_and_quickly(secure_broker, secure_topic, monkeypatch, change, expected):
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("WRONG_KAFKA_PASSWORD", "not-" + PASSWORD)
    settings = replace(_settings(secure_broker, "SASL_SSL SCRAM-SHA-512"), **change)
    started = time.monotonic()
    with pytest.raises(KafkaCheckError) as error:
        check_kafka(settings, [secure_topic])
    assert time.monotonic() - started < 15
    message = str(error.value)
    assert message.startswith(f"Kafka at {settings.describe()}: {expected}"), message
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in message
    assert "\n" not in message and PASSWORD not in message


def test_a_certificate_from_another_ca_fails_clearly(secure_broker, secure_topic):
    settings = KafkaSettings(secure_broker.ssl, "SSL", ca_file=str(secure_broker.other_ca))
    started = time.monotonic()
    with pytest.raises(KafkaCheckError, match=r"authentication or TLS failed: .*CERTIFICATE_VERIFY_FAILED"):
        check_kafka(settings, [secure_topic])
    assert time.monotonic() - started < 15


def test_the_job_with_a_wrong_password_exits_with_one_line(secure_broker, secure_topic, tmp_path):
    env = {**os.environ, "KAFKA_SASL_PASSWORD": "not-" + PASSWORD}
    argv = [sys.executable, "-m", "pipelines.reciprocity", "--output", str(tmp_path)]
    argv += ["--kafka_bootstrap", secure_broker.sasl_ssl, "--kafka_security_protocol", "SASL_SSL"]
    argv += ["--kafka_sasl_mechanism", "SCRAM-SHA-512", "--kafka_sasl_username", USER]
    argv += ["--kafka_ssl_cafile", str(secure_broker.ca), "--events_topic", secure_topic]
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr[-2000:]
    assert elapsed < 15, elapsed
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "failed: " in lines[0], done.stderr[-2000:]
    assert lines == [
        f"error: Kafka at {secure_broker.sasl_ssl} (SASL_SSL, SCRAM-SHA-512 as 'alice'): authentication or TLS "
        "failed: " + lines[0].split("failed: ", 1)[1]
    ]
    assert "SaslAuthenticationFailedError" in lines[0] and "not-" + PASSWORD not in done.stderr + done.stdout


def test_the_streaming_job_and_the_exporter_run_over_sasl_ssl(secure_broker, password_env, tmp_path):
    """Source, sinks (the job on Prism) and the exporter, all through SASL_SSL/SCRAM-SHA-512 with a CA file."""
    settings = _settings(secure_broker, "SASL_SSL SCRAM-SHA-512")
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"{name}-{suffix}" for name in ("events", "windows", "alerts", "dead")}
    admin = KafkaAdminClient(**settings.client_config())
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1) for topic in topics.values()])
    admin.close()
    events = list(generate(build_network(SMALL)))
    produce(events, settings, topics["events"], progress=False)
    argv = [sys.executable, "-m", "pipelines.reciprocity", "--output", str(tmp_path / "out"), "--until_end_offsets"]
    argv += ["--kafka_bootstrap", settings.bootstrap, "--kafka_security_protocol", "SASL_SSL"]
    argv += ["--kafka_sasl_mechanism", "SCRAM-SHA-512", "--kafka_sasl_username", USER]
    argv += ["--kafka_ssl_cafile", str(secure_broker.ca), "--group_id", f"job-{suffix}", "--min_inbound", "5"]
    argv += ["--events_topic", topics["events"], "--windows_topic", topics["windows"]]
    argv += ["--alerts_topic", topics["alerts"], "--dead_letter_topic", topics["dead"]]
    argv += ["--runner", "PrismRunner", f"--prism_location={prism()}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert PASSWORD not in done.stdout + done.stderr
    expected_windows, _ = reference(events, ReciprocityConfig(min_inbound=5))
    consumer = KafkaConsumer(
        topics["windows"], **settings.client_config(), auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    assert canonical([wire.decode(m.value)[1] for m in consumer]) == canonical(expected_windows)
    consumer.close()

    options = ExporterOptions(
        bootstrap=settings.bootstrap,
        kafka=settings,
        events_topic=topics["events"],
        windows_topic=topics["windows"],
        alerts_topic=topics["alerts"],
        dead_letter_topic=topics["dead"],
        group_id=f"exporter-{suffix}",
        port=free_port(),
    )
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(options, stop), daemon=True)
    thread.start()
    try:
        deadline, counted = time.monotonic() + 60, 0.0
        while counted < len(events) and time.monotonic() < deadline:
            time.sleep(1)
            with urllib.request.urlopen(f"http://127.0.0.1:{options.port}/metrics", timeout=5) as response:
                text = response.read().decode()
            counted = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("reciprocity_events_total{")
            )
        assert counted == len(events)
    finally:
        stop.set()
        thread.join(timeout=30)
