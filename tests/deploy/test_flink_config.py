"""Every Flink setting of the deployments is an option Flink declares: Flink ignores an unknown key silently, so a
misspelt checkpoint or reporter setting would only show as a missing checkpoint or a missing metric."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.helpers import K8S, command_of, declared, load_compose

SERVICES = load_compose()["services"]
REPORTER_SUFFIXES = ("factory.class", "port")


def deployed_settings() -> dict[str, str]:
    """Setting -> value, from the Compose file (FLINK_PROPERTIES, -D options) and the FlinkDeployment."""
    settings = {k: str(v) for k, v in yaml.safe_load(SERVICES["jobmanager"]["environment"]["FLINK_PROPERTIES"]).items()}
    for arg in command_of(SERVICES["taskmanager"]):
        if arg.startswith("-D"):
            key, value = arg[2:].split("=", 1)
            settings[key] = value
    flink = yaml.safe_load((K8S / "base" / "flinkdeployment.yaml").read_text(encoding="utf-8"))
    settings |= flink["spec"]["flinkConfiguration"]
    return settings


def test_every_key_is_a_flink_option(flink_classes: dict[str, bytes]) -> None:
    settings = deployed_settings()
    assert len(settings) >= 10
    for key in settings:
        if key.startswith("metrics.reporter."):
            _, _, name_and_suffix = key.partition("metrics.reporter.")
            name, _, suffix = name_and_suffix.partition(".")
            assert name and suffix in REPORTER_SUFFIXES, f"{key}: not a reporter setting"
            continue
        assert declared(flink_classes, key), f"{key} is not an option of this Flink version"


def test_the_reporter_and_enum_values_exist(flink_classes: dict[str, bytes]) -> None:
    settings = deployed_settings()
    factory = settings["metrics.reporter.prom.factory.class"]
    assert factory in flink_classes, f"{factory} is not in flink-metrics-prometheus"
    reporter = {name: data for name, data in flink_classes.items() if name.startswith(factory.rpartition(".")[0])}
    assert declared(reporter, "port"), "the reporter declares no port option"
    retention = settings["execution.checkpointing.externalized-checkpoint-retention"]
    assert any(
        name.endswith("ExternalizedCheckpointCleanup") and retention.encode() in data
        for name, data in flink_classes.items()
    ), retention
    assert settings["state.checkpoints.dir"].startswith("file:///flink-state/")


@pytest.mark.parametrize("typo", ["state.backend.incremntal", "state.backend.typ", "taskmanager.numberOfTaskSlot"])
def test_a_misspelt_key_is_not_found(flink_classes: dict[str, bytes], typo: str) -> None:
    assert not declared(flink_classes, typo)


def test_the_jars_are_the_deployed_version(flink_classes: dict[str, bytes]) -> None:
    version = SERVICES["jobmanager"]["image"].split(":")[1].split("-")[0]
    assert (Path(__file__).resolve().parents[2] / ".cache" / "deploy" / f"flink-{version}").is_dir()
    assert "org.apache.flink.configuration.CheckpointingOptions" in flink_classes
