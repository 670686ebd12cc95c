"""deploy/k8s rendered by kustomize and validated without a cluster: every manifest against the Kubernetes schemas
(PyPI kubernetes-validate, strict), the FlinkDeployment against the Flink operator's own CRD schema, and the
commands, ports, topics and resources checked against the pipeline and deploy/local."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from pipelines.cli import options as cli_options
from pipelines.observability import exporter
from tests.deploy.helpers import K8S, expand, is_kafka_uuid, kafka_sh_topics, load_compose, option, pod_spec, render

# The base renders on its own too: a user's overlay starts from it.
LAYOUTS = [K8S / "base", *sorted(path.parent for path in (K8S / "overlays").glob("*/kustomization.yaml"))]
# Native sidecars (the job server beside the submitter) are on by default from 1.29; check the oldest we name and
# the newest the schemas know.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
POD_KINDS = {"Deployment", "StatefulSet", "Job"}
SECRET_ENV = {"KAFKA_SASL_USERNAME": "username", "KAFKA_SASL_PASSWORD": "password"}


@pytest.fixture(scope="module")
def local(kustomize: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in render(kustomize, K8S / "overlays" / "local")}


def strict(schema: Any) -> Any:
    """The CRD's schema as the API server's strict field validation reads it: an object with listed properties
    takes no others (unless the schema says it keeps unknown fields)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    keeps_unknown = result.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in result
    if "properties" in result and not keeps_unknown:
        result["additionalProperties"] = False
    return result


@pytest.fixture(scope="module")
def crd_validator(flink_deployment_crd: dict[str, Any]) -> jsonschema.Draft7Validator:
    (served,) = [v for v in flink_deployment_crd["spec"]["versions"] if v["served"] and v["storage"]]
    schema = strict(served["schema"]["openAPIV3Schema"])
    # Every object has these; a CRD's schema leaves them to the API server, which checks them the same way.
    schema["properties"] |= {
        "apiVersion": {"const": f"{flink_deployment_crd['spec']['group']}/{served['name']}"},
        "kind": {"const": flink_deployment_crd["spec"]["names"]["kind"]},
        "metadata": {"type": "object"},
    }
    return jsonschema.Draft7Validator(schema)


def flink_pod_templates(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {part: doc["spec"][part]["podTemplate"] for part in ("jobManager", "taskManager")}


def check(validator: jsonschema.Draft7Validator, doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.mark.parametrize("overlay", LAYOUTS, ids=lambda path: path.name)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates(
    kustomize: Path, crd_validator: jsonschema.Draft7Validator, overlay: Path, version: str
) -> None:
    docs = render(kustomize, overlay)
    assert {doc["kind"] for doc in docs} >= {"FlinkDeployment", "Job", "Deployment", "Service", "ConfigMap"}
    for doc in docs:
        if doc["kind"] == "FlinkDeployment":
            assert not check(crd_validator, doc), check(crd_validator, doc)
            # The pod templates are Pods to Kubernetes: the sidecar must be a valid container too.
            for part, template in flink_pod_templates(doc).items():
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": part.lower()}, **template}
                kubernetes_validate.validate(pod, version, strict=True)
        else:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_validators_catch_mistakes(
    local: dict[tuple[str, str], dict[str, Any]], crd_validator: jsonschema.Draft7Validator
) -> None:
    """Both checks above can fail: a misspelt field is rejected by each."""
    deployment = copy.deepcopy(local["Deployment", "reciprocity-exporter"])
    pod_spec(deployment)["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    flink = copy.deepcopy(local["FlinkDeployment", "reciprocity"])
    flink["spec"]["taskManager"]["replica"] = 2
    assert check(crd_validator, flink)
    flink = copy.deepcopy(local["FlinkDeployment", "reciprocity"])
    flink["spec"]["flinkVersion"] = "v2_2"  # not a version operator 1.10 runs
    assert check(crd_validator, flink)


def all_containers(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for (kind, name), doc in docs.items():
        if kind in POD_KINDS:
            spec = pod_spec(doc)
            for container in spec.get("initContainers", []) + spec["containers"]:
                found[f"{name}/{container['name']}"] = container
        elif kind == "FlinkDeployment":
            for part, template in flink_pod_templates(doc).items():
                for container in template["spec"]["containers"]:
                    found[f"{name}-{part}/{container['name']}"] = container
    return found


def test_requests_and_limits_are_set_everywhere(local: dict[tuple[str, str], dict[str, Any]]) -> None:
    containers = all_containers(local)
    assert len(containers) >= 7, sorted(containers)
    for name, container in containers.items():
        if container["name"] == "flink-main-container":
            continue  # the operator sizes it from spec.jobManager/taskManager.resource, checked below
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert set(resources.get(kind, {})) >= {"cpu", "memory"}, f"{name} has no {kind}"
    flink = local["FlinkDeployment", "reciprocity"]["spec"]
    for part in ("jobManager", "taskManager"):
        assert flink[part]["resource"]["cpu"] > 0 and flink[part]["resource"]["memory"], part


def test_every_kafka_client_references_the_credentials_secret(local: dict[tuple[str, str], dict[str, Any]]) -> None:
    clients = ["reciprocity-exporter/exporter", "reciprocity-submit/submit", "reciprocity-taskManager/beam-worker-pool"]
    containers = all_containers(local)
    for name in clients:
        env = {item["name"]: item.get("valueFrom", {}).get("secretKeyRef") for item in containers[name]["env"]}
        for variable, key in SECRET_ENV.items():
            assert env[variable] == {"name": "kafka-credentials", "key": key, "optional": True}, name
    assert not [doc for doc in local.values() if doc["kind"] == "Secret"], "credentials are never committed"


def test_the_submission_parses_with_the_options_and_points_at_the_cluster(
    local: dict[tuple[str, str], dict[str, Any]],
) -> None:
    options = local["ConfigMap", "reciprocity-options"]["data"]
    spec = pod_spec(local["Job", "reciprocity-submit"])
    (submit,) = spec["containers"]
    argv = expand(submit["command"], options)
    assert argv[:3] == ["python", "-m", "pipelines.reciprocity"]
    # The watchlist is a file of the ConfigMap, mounted where the commented-out option would read it; the base's
    # names no account, and the job refuses an empty watchlist, so the command does not pass it.
    mount = next(m for m in submit["volumeMounts"] if m["name"] == "watchlist")["mountPath"]
    assert "watchlist.txt" in local["ConfigMap", "reciprocity-watchlist"]["data"]
    assert f"{mount}/watchlist.txt" in (K8S / "base" / "submit-job.yaml").read_text()
    assert "--watchlist" not in argv
    with pytest.raises(cli_options.OptionError, match="lists no account"):
        cli_options.read_watchlist(str(K8S / "base" / "watchlist.txt"))
    job, config, beam_args = cli_options.parse(argv[3:])
    assert job.kafka is not None and job.kafka.bootstrap == options["KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert job.kafka.state_shards == int(options["STATE_SHARDS"])
    assert config.watchlist == frozenset()
    flink = local["FlinkDeployment", "reciprocity"]
    assert option(argv, "--flink_master") == f"{flink['metadata']['name']}-rest:8081"
    (jobserver,) = spec["initContainers"]
    assert jobserver["restartPolicy"] == "Always"  # a native sidecar: it ends with the submitter
    assert option(argv, "--job_endpoint") == f"localhost:{option(jobserver['args'], '--job-port')}"
    assert option(jobserver["args"], "--flink-master") == option(argv, "--flink_master")
    pool = all_containers(local)["reciprocity-taskManager/beam-worker-pool"]
    assert option(beam_args, "--environment_config") == f"localhost:{pool['ports'][0]['containerPort']}"
    assert f"--service_port={pool['ports'][0]['containerPort']}" in pool["command"]
    assert local["Job", "reciprocity-submit"]["spec"]["backoffLimit"] == 0


def test_the_exporter_parses_and_is_scraped_where_it_listens(local: dict[tuple[str, str], dict[str, Any]]) -> None:
    deployment = local["Deployment", "reciprocity-exporter"]
    (container,) = pod_spec(deployment)["containers"]
    argv = expand(container["command"], local["ConfigMap", "reciprocity-options"]["data"])
    served = exporter.parse_options(argv[3:])
    assert served.bind == "0.0.0.0"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == served.port == container["ports"][0]["containerPort"]
    service = local["Service", "reciprocity-exporter"]["spec"]
    assert service["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_flink_is_the_compose_flink_and_scraped_on_its_reporter_port(
    local: dict[tuple[str, str], dict[str, Any]],
) -> None:
    flink = local["FlinkDeployment", "reciprocity"]["spec"]
    compose = load_compose()["services"]
    assert flink["image"] == compose["jobmanager"]["image"]
    version = re.match(r"flink:(\d+)\.(\d+)\.", flink["image"])
    assert flink["flinkVersion"] == f"v{version.group(1)}_{version.group(2)}"
    compose_properties = yaml.safe_load(compose["jobmanager"]["environment"]["FLINK_PROPERTIES"])
    for key in ("taskmanager.numberOfTaskSlots", "state.backend.type", "metrics.reporter.prom.factory.class"):
        assert flink["flinkConfiguration"][key] == str(compose_properties[key]), key
    for template in flink_pod_templates(local["FlinkDeployment", "reciprocity"]).values():
        port = template["metadata"]["annotations"]["prometheus.io/port"]
        assert port == flink["flinkConfiguration"]["metrics.reporter.prom.port"]


def test_topics_match_kafka_sh_and_the_pipeline(local: dict[tuple[str, str], dict[str, Any]]) -> None:
    options = local["ConfigMap", "reciprocity-options"]["data"]
    defaults = cli_options.build_parser().parse_args(["--output", "x"])
    for name in ("events_topic", "alerts_topic", "windows_topic", "dead_letter_topic", "group_id"):
        assert options[name.upper()] == getattr(defaults, name), name
    script = pod_spec(local["Job", "kafka-topics"])["containers"][0]["command"][2]
    created = {name: int(parts) for name, parts in re.findall(r"([a-z-]+):(\d+)", script.split(";")[0])}
    assert created == kafka_sh_topics()
    (kafka,) = pod_spec(local["StatefulSet", "kafka"])["containers"]
    assert is_kafka_uuid({e["name"]: e["value"] for e in kafka["env"]}["CLUSTER_ID"])


def test_an_overlay_can_move_the_images_everywhere(kustomize: Path, tmp_path: Path) -> None:
    """`images:` in an overlay reaches every container, the FlinkDeployment's sidecar included."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(K8S / "overlays" / "local", overlay)],
                "images": [
                    {"name": "engagement-reciprocity", "newName": "registry.example/reciprocity", "newTag": "1.2.3"},
                    {"name": "engagement-reciprocity-jobserver", "newName": "registry.example/jobserver"},
                ],
            }
        )
    )
    docs = {(d["kind"], d["metadata"]["name"]): d for d in render(kustomize, overlay)}
    images = {name: c["image"] for name, c in all_containers(docs).items() if "image" in c}
    assert images["reciprocity-taskManager/beam-worker-pool"] == "registry.example/reciprocity:1.2.3"
    assert images["reciprocity-submit/jobserver"] == "registry.example/jobserver:2.62.0"
    assert not [image for image in images.values() if image.startswith("engagement-reciprocity")]
