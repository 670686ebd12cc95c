"""What the metrics endpoint exposes by default: it listens on loopback only, and no label names an account."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from prometheus_client import generate_latest

from pipelines.model.config import ReciprocityConfig
from pipelines.observability.exporter import ExporterOptions, serve
from pipelines.observability.metrics import ReciprocityMetrics
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.conftest import free_port
from tests.model.helpers import engine_batch

LISTEN = "0A"


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on `port`, from /proc/net/tcp and tcp6 (hex, as the kernel says)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == LISTEN and int(port_hex, 16) == port:
                found.append(address)
    return found


def test_the_exporter_listens_on_loopback_only_by_default(broker):
    options = ExporterOptions(bootstrap=broker, port=free_port(), group_id="exposure-test")
    assert options.bind == "127.0.0.1"
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(options, stop), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not listening_addresses(options.port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert listening_addresses(options.port) == ["0100007F"]  # 127.0.0.1, little-endian hex
    finally:
        stop.set()
        thread.join(timeout=30)


def test_no_metric_label_names_an_account_unless_top_k_is_asked_for():
    events = list(generate(build_network(SimulationConfig(seed=3, gurus=10, fans=300, days=2))))
    windows, alerts = engine_batch(events, ReciprocityConfig(min_inbound=10))
    assert alerts, "the sample must fire alerts for the opt-in case to mean anything"
    accounts = {w["account_id"] for w in windows} | {a["account_id"] for a in alerts}
    expositions = {}
    for top_k in (0, 3):
        metrics = ReciprocityMetrics(top_k=top_k)
        for window in windows:
            metrics.on_window(window)
        for alert in sorted(alerts, key=lambda a: a["window_end"]):
            metrics.on_alert(alert)
        metrics.tick()
        expositions[top_k] = generate_latest(metrics.registry).decode()
    named = {top_k: {a for a in accounts if f'"{a}"' in text} for top_k, text in expositions.items()}
    assert named[0] == set()
    assert named[3]  # the opt-in gauge does name accounts: the check above can fail
