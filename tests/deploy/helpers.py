"""Readers the deployment tests share: the defaults of deploy/local's scripts, Compose's variable defaults."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
DOCKERFILES = sorted((ROOT / "deploy" / "docker").glob("*.Dockerfile"))


def script_default(script: Path, name: str) -> str:
    """The default of `NAME="${NAME:-default}"` in a deploy/local script."""
    found = re.search(rf'^{name}="\$\{{{name}:-([^}}]*)\}}"', script.read_text(encoding="utf-8"), re.MULTILINE)
    assert found, f"{script.name} sets no default for {name}"
    return found.group(1)


def kafka_sh_topics() -> dict[str, int]:
    """Topic name -> partitions, as `deploy/local/kafka.sh topics` creates them."""
    text = (ROOT / "deploy" / "local" / "kafka.sh").read_text(encoding="utf-8")
    found = {name: int(parts) for name, parts in re.findall(r'"\$\{[A-Z_]+_TOPIC:-([a-z-]+)\}:(\d+)"', text)}
    assert len(found) == 4, found
    return found


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Compose's interpolation with every variable unset: `${X:-default}` -> default, `${X}` -> '', `$$` -> `$`."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: "$" if m.group(0) == "$$" else (m.group(2) or ""), value)
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    return value


def load_compose() -> dict[str, Any]:
    """compose.yaml as Compose reads it with no variables set (YAML merge keys resolved by the YAML loader)."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")))


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def option(argv: list[str], name: str) -> str:
    """The value after `name` (or in `name=value`) in a command line."""
    for index, arg in enumerate(argv):
        if arg == name:
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {argv}")


def render(kustomize: Path, directory: Path) -> list[dict[str, Any]]:
    """`kustomize build directory`, as documents."""
    done = subprocess.run(
        [str(kustomize), "build", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def expand(argv: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' $(VAR) expansion of a container's command from its environment."""
    return [re.sub(r"\$\(([A-Z_]+)\)", lambda m: env[m.group(1)], arg) for arg in argv]


def is_kafka_uuid(text: str) -> bool:
    """What `kafka-storage format --cluster-id` accepts: 16 bytes in URL-safe base64 without padding."""
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except ValueError:
        return False
    return len(raw) == 16 and base64.urlsafe_b64encode(raw).decode().rstrip("=") == text


def declared(classes: dict[str, bytes], text: str) -> bool:
    """Whether `text` is a whole string constant of the given class files (configuration keys are): a class
    file's constant pool stores it as tag 1, a two-byte length, then the bytes."""
    raw = text.encode("utf-8")
    needle = b"\x01" + len(raw).to_bytes(2, "big") + raw
    return any(needle in data for data in classes.values())


def jar_classes(jars: list[Path]) -> dict[str, bytes]:
    """Class name -> class file bytes of the given jars."""
    import zipfile

    classes = {}
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            for name in archive.namelist():
                if name.endswith(".class"):
                    classes[name.removesuffix(".class").replace("/", ".")] = archive.read(name)
    return classes
