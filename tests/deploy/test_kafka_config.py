"""The broker settings of the Compose file and the local overlay are configuration keys of the Kafka version they
run: the apache/kafka image turns every KAFKA_* variable into a property (KAFKA_LOG_DIRS -> log.dirs) and the
broker only warns about a key it does not know. Checked against the class files of the Kafka that
deploy/local/kafka.sh assembles (the same version, tests/deploy/test_compose.py checks that)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import LocalBroker
from tests.deploy.helpers import K8S, declared, jar_classes, load_compose

NOT_PROPERTIES = {"KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS", "KAFKA_LOG4J_OPTS"}


def property_of(variable: str) -> str:
    """The image's rule: drop KAFKA_, lower-case, '___' -> '-', '__' -> '_', '_' -> '.'."""
    name = variable.removeprefix("KAFKA_").lower()
    return name.replace("___", "-").replace("__", "\0").replace("_", ".").replace("\0", "_")


def broker_settings() -> dict[str, dict[str, Any]]:
    compose = load_compose()["services"]["kafka"]["environment"]
    overlay = next(
        doc
        for doc in yaml.safe_load_all((K8S / "overlays" / "local" / "kafka.yaml").read_text(encoding="utf-8"))
        if doc["kind"] == "StatefulSet"
    )
    k8s = {e["name"]: e["value"] for e in overlay["spec"]["template"]["spec"]["containers"][0]["env"]}
    return {"compose": compose, "local overlay": k8s}


@pytest.fixture(scope="module")
def kafka_classes(local_broker: LocalBroker) -> dict[str, bytes]:
    jars = sorted((local_broker.home / "libs").glob("kafka*.jar")) + sorted(
        (local_broker.home / "libs").glob("*raft*.jar")
    )
    return jar_classes(jars)


def test_property_names_follow_the_images_rule() -> None:
    assert property_of("KAFKA_LOG_DIRS") == "log.dirs"
    assert property_of("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP") == "listener.security.protocol.map"


@pytest.mark.parametrize("where", ["compose", "local overlay"])
def test_every_kafka_variable_is_a_broker_setting(kafka_classes: dict[str, bytes], where: str) -> None:
    settings = broker_settings()[where]
    properties = [property_of(v) for v in settings if v.startswith("KAFKA_") and v not in NOT_PROPERTIES]
    assert len(properties) >= 15
    for name in properties:
        assert declared(kafka_classes, name), f"{where}: {name} is not a setting of this Kafka"
    assert not declared(kafka_classes, "log.dir.s")


def test_settings_agree_with_deploy_local() -> None:
    """The one-node settings kafka.sh writes are those of both deployments (listeners and ports aside)."""
    script = (Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka.sh").read_text(encoding="utf-8")
    local = dict(re.findall(r"^([a-z.]+(?:replication\.factor|min\.isr|num\.partitions|enable))=(\S+)$", script, re.M))
    assert len(local) >= 6, local
    for where, settings in broker_settings().items():
        mine = {property_of(k): str(v) for k, v in settings.items() if k.startswith("KAFKA_")}
        for name, value in local.items():
            if name in mine:
                assert mine[name] == value, f"{where}: {name}={mine[name]}, kafka.sh has {value}"
        assert {"auto.create.topics.enable", "num.partitions", "offsets.topic.replication.factor"} <= mine.keys()
