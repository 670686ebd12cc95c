"""docs/operations.md: every command on the page is run or validated against what it names.

- ```sh blocks: each line is one command. `python -m pipelines...` lines go through the real option parsers;
  `docker compose`, `docker build`, `kind load` lines must name the Compose file, its services, Dockerfiles and
  image tags; `kubectl` lines the namespace, resources, containers and Secret of the rendered local overlay;
  `curl` lines the published Flink REST port, routes of Flink's REST API and the savepoint directory of both
  deployments; `kustomize build` is run; the Kafka tool is run against a real broker. Any other command fails.
- ```promql blocks: checked by `promtool check rules`; the product's series must exist in the exporter.
- The ```yaml upgrade overlay is rendered and its submitter command parsed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

from pipelines.cli import deadletters
from pipelines.cli import options as cli_options
from pipelines.observability import exporter
from pipelines.observability.metrics import REASON_CLASSES, ReciprocityMetrics, reason_class
from tests.conftest import LocalBroker
from tests.deploy.helpers import COMPOSE_FILE, K8S, ROOT, expand, load_compose, pod_spec, render

DOC = ROOT / "docs" / "operations.md"
UPGRADE_OVERLAY = "deploy/k8s/overlays/upgrade"
SERVICES = load_compose()["services"]
PYTHON_PARSERS: dict[str, Callable[[list[str]], Any]] = {
    "pipelines.reciprocity": cli_options.parse,
    "pipelines.observability.exporter": exporter.parse_options,
    "pipelines.cli.deadletters": deadletters.parse,
}
# The Flink REST API routes the page uses (Flink 1.19's REST API reference), as regular expressions.
FLINK_ROUTES = {
    ("GET", r"/jobs/overview"),
    ("POST", r"/jobs/<job-id>/stop"),
    ("GET", r"/jobs/<job-id>/savepoints/<request-id>"),
}
KAFKA_TOOLS = {"kafka-consumer-groups.sh": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"}
KUBECTL_KINDS = {"job": "Job", "deploy": "Deployment", "svc": "Service", "flinkdeployment": "FlinkDeployment"}


def blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(r"^( *)```(\w+)\n(.*?)^\1```", text, re.MULTILINE | re.DOTALL)
    return [textwrap.dedent(body) for _, lang, body in found if lang == language]


def commands() -> list[list[str]]:
    lines = [line.strip() for block in blocks("sh") for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def local(kustomize: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in render(kustomize, K8S / "overlays" / "local")}


def savepoint_dirs(local: dict[tuple[str, str], dict[str, Any]]) -> set[str]:
    compose = yaml.safe_load(SERVICES["jobmanager"]["environment"]["FLINK_PROPERTIES"])["state.savepoints.dir"]
    k8s = local["FlinkDeployment", "reciprocity"]["spec"]["flinkConfiguration"]["state.savepoints.dir"]
    return {compose, k8s}


class Checker:
    """Validates one command line; raises AssertionError with what is wrong."""

    def __init__(self, local: dict[tuple[str, str], dict[str, Any]], kustomize: Path, broker: LocalBroker) -> None:
        self.local = local
        self.kustomize = kustomize
        self.broker = broker
        self.namespace = next(name for kind, name in local if kind == "Namespace")

    def check(self, argv: list[str]) -> None:
        head = argv[0]
        if head == "python" and argv[1] == "-m":
            assert argv[2] in PYTHON_PARSERS, f"no parser known for {argv[2]}"
            PYTHON_PARSERS[argv[2]](argv[3:])
        elif argv[:2] == ["docker", "compose"]:
            self.compose(argv[2:])
        elif argv[:2] == ["docker", "build"]:
            self.docker_build(argv[2:])
        elif argv[:3] == ["kind", "load", "docker-image"]:
            built = {s["image"] for s in SERVICES.values() if "build" in s}
            assert set(argv[3:]) <= built, f"{argv[3:]} are not the images Compose builds ({built})"
        elif argv[:2] == ["kustomize", "build"]:
            assert render(self.kustomize, ROOT / argv[2])
        elif head == "kubectl":
            self.kubectl(argv[1:])
        elif head == "curl":
            self.curl(argv[1:])
        elif head.startswith("/opt/kafka/bin/"):
            self.kafka_tool(Path(head).name, argv[1:])
        else:
            raise AssertionError(f"no check for this command: {shlex.join(argv)}")

    def compose(self, argv: list[str]) -> None:
        assert argv[:2] == ["-f", str(COMPOSE_FILE.relative_to(ROOT))], argv
        sub, rest = argv[2], argv[3:]
        assert sub in {"up", "down", "ps", "logs", "build", "exec", "run"}, sub
        names = [arg for arg in rest if not arg.startswith("-")]
        if sub in {"exec", "run"}:
            assert names[0] in SERVICES, names[0]
            self.check(rest[rest.index(names[0]) + 1 :])
        else:
            assert set(names) <= set(SERVICES), names

    def docker_build(self, argv: list[str]) -> None:
        dockerfile, tag, context = argv[argv.index("-f") + 1], argv[argv.index("-t") + 1], argv[-1]
        assert context == "." and (ROOT / dockerfile).is_file()
        built = {
            service["image"]: (COMPOSE_FILE.parent / service["build"]["context"]).resolve()
            / service["build"]["dockerfile"]
            for service in SERVICES.values()
            if "build" in service
        }
        assert built[tag] == ROOT / dockerfile, f"{tag} is not built from {dockerfile}"

    def kubectl(self, argv: list[str]) -> None:
        if argv[0] == "-n":
            assert argv[1] == self.namespace, argv[1]
            argv = argv[2:]
        sub, rest = argv[0], argv[1:]
        if sub == "apply":
            target = rest[rest.index("-k") + 1]
            assert target == UPGRADE_OVERLAY or (ROOT / target / "kustomization.yaml").is_file(), target
        elif sub == "create":
            assert rest[:3] == ["secret", "generic", "kafka-credentials"], rest
            keys = {arg.split("=")[1] for arg in rest if arg.startswith("--from-literal=")}
            referenced = {
                env["valueFrom"]["secretKeyRef"]["key"]
                for doc in self.local.values()
                if doc["kind"] in {"Deployment", "Job"}
                for container in pod_spec(doc)["containers"]
                for env in container.get("env", [])
                if "secretKeyRef" in env.get("valueFrom", {})
            }
            assert keys == referenced, (keys, referenced)
        elif sub in {"get", "logs", "delete", "exec", "port-forward"}:
            own = rest[: rest.index("--")] if "--" in rest else rest
            names = [arg for arg in own if "/" in arg] + (
                [f"{rest[0]}/{rest[1]}"] if sub == "delete" and "/" not in rest[0] else []
            )
            for name in names:
                self.resource(name)
            if "-c" in own:
                kind, name = names[0].split("/")
                containers = pod_spec(self.local[KUBECTL_KINDS[kind], name])["containers"]
                assert own[own.index("-c") + 1] in {c["name"] for c in containers}
            if sub == "port-forward":
                assert own[-1] == "8081:8081"  # where the curl lines below look
            if "--" in rest:
                self.check(rest[rest.index("--") + 1 :])
        else:
            raise AssertionError(f"no check for kubectl {sub}")

    def resource(self, name: str) -> None:
        kind, name = name.split("/")
        flink = next(n for k, n in self.local if k == "FlinkDeployment")
        if (kind, name) == ("svc", f"{flink}-rest"):
            return  # the operator creates the REST service of the FlinkDeployment
        assert (KUBECTL_KINDS[kind], name) in self.local, f"{kind}/{name} is not in the local overlay"

    def curl(self, argv: list[str]) -> None:
        url = urlparse(next(arg for arg in argv if arg.startswith("http")))
        published = SERVICES["jobmanager"]["ports"][0].split(":")
        assert (url.hostname, str(url.port)) == (published[0], published[1])
        method = argv[argv.index("-X") + 1] if "-X" in argv else "GET"
        assert (method, url.path) in FLINK_ROUTES, (method, url.path)
        if "-d" in argv:
            body = json.loads(argv[argv.index("-d") + 1])
            assert body["targetDirectory"] in savepoint_dirs(self.local) and len(savepoint_dirs(self.local)) == 1
            assert isinstance(body["drain"], bool)

    def kafka_tool(self, tool: str, argv: list[str]) -> None:
        """Run it against a real broker, on a topic with a committed offset for the group it describes."""
        group = argv[argv.index("--group") + 1]
        topic = f"ops-doc-{uuid.uuid4().hex[:8]}"
        admin = KafkaAdminClient(bootstrap_servers=self.broker.bootstrap)
        admin.create_topics([NewTopic(topic, 1, 1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=self.broker.bootstrap)
        for _ in range(3):
            producer.send(topic, b"x")
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, group_id=group, enable_auto_commit=False)
        consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(1, "", -1)})
        consumer.close()
        args = [self.broker.bootstrap if arg == "localhost:9092" else arg for arg in argv]
        java = shutil.which("java")
        assert java, "java is needed for Kafka's tools"
        command = [java, "-cp", str(self.broker.home / "libs" / "*"), KAFKA_TOOLS[tool], *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert re.search(rf"{group}\s+{topic}\s+0\s+1\s+3\s+2", done.stdout), done.stdout  # offset 1 of 3: lag 2


def test_every_command_on_the_page_is_checked(
    local: dict[tuple[str, str], dict[str, Any]], kustomize: Path, local_broker: LocalBroker
) -> None:
    found = commands()
    assert len(found) >= 20, "the page's commands were not found"
    checker = Checker(local, kustomize, local_broker)
    for argv in found:
        try:
            checker.check(argv)
        except (AssertionError, cli_options.OptionError, KeyError, ValueError, SystemExit) as error:
            pytest.fail(f"{shlex.join(argv)}\n  -> {type(error).__name__}: {error}")


def test_the_checker_refuses_wrong_commands(
    local: dict[tuple[str, str], dict[str, Any]], kustomize: Path, local_broker: LocalBroker
) -> None:
    checker = Checker(local, kustomize, local_broker)
    for line in (
        "python -m pipelines.reciprocity --output x --windw 1h",
        "docker compose -f deploy/compose/compose.yaml logs submitter",
        "kubectl -n reciprocity logs job/reciprocity-submit -c submitter",
        "kubectl -n other get job/reciprocity-submit",
        "curl -s http://127.0.0.1:8081/jobs/<job-id>/cancel",
        "helm install x y",
    ):
        with pytest.raises((AssertionError, cli_options.OptionError, KeyError)):
            checker.check(shlex.split(line))


def test_promql_on_the_page_parses_and_names_real_series(tmp_path: Path) -> None:
    expressions = [block.strip() for block in blocks("promql")]
    assert len(expressions) >= 4
    recorded = [{"record": f"doc:expr{i}", "expr": expression} for i, expression in enumerate(expressions)]
    rules = {"groups": [{"name": "doc", "rules": recorded}]}
    path = tmp_path / "doc-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by deploy/local/install-tools.sh (make test)"
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "info": ["_info"], "gauge": [""]}
    served = {
        family.name + suffix
        for family in ReciprocityMetrics().registry.collect()
        for suffix in suffixes.get(family.type, [""])
    }
    for expression in expressions:
        for name in re.findall(r"\breciprocity_[a-z_]+", expression):
            assert name in served, f"{name} is not a series of the exporter"


def test_the_upgrade_overlay_renders_a_submitter_restoring_the_savepoint(
    kustomize: Path, local: dict[tuple[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    assert f"`{UPGRADE_OVERLAY}/kustomization.yaml`" in DOC.read_text(encoding="utf-8")
    (snippet,) = [yaml.safe_load(block) for block in blocks("yaml") if "Kustomization" in block]
    overlay = tmp_path / "upgrade"
    overlay.mkdir()
    where = ROOT / UPGRADE_OVERLAY
    snippet["resources"] = [os.path.relpath((where / r).resolve(), overlay) for r in snippet["resources"]]
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(snippet))
    docs = {(d["kind"], d["metadata"]["name"]): d for d in render(kustomize, overlay)}
    (submit,) = pod_spec(docs["Job", "reciprocity-submit"])["containers"]
    argv = expand(submit["command"], docs["ConfigMap", "reciprocity-options"]["data"])
    assert argv[-2] == "--savepoint_path"
    assert argv[-1].startswith(next(iter(savepoint_dirs(local))))
    cli_options.parse(argv[3:])


def test_the_alert_table_lists_the_rules() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    listed = set(re.findall(r"^\| `([A-Za-z]+)` \|", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    assert listed == alerts


def test_the_runbook_names_every_dead_letter_reason_class() -> None:
    classes = set(REASON_CLASSES.values()) | {reason_class(r) for r in ("x must be 1", "bad Avro", "?")}
    section = DOC.read_text(encoding="utf-8").split("## When the dead-letter rate alert fires")[1].split("\n## ")[0]
    listed = set(re.findall(r"`([a-z_]+)`", section.split("1. Which reason?")[1].split("```")[0]))
    assert listed == classes
