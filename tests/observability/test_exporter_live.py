"""The exporter against the real broker: it reads the output topics and its live /metrics passes promtool."""

import shutil
import subprocess
import threading
import time
import urllib.request
import uuid

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipelines.io import wire
from pipelines.model.config import ReciprocityConfig
from pipelines.observability.exporter import ExporterOptions, serve
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.conftest import free_port
from tests.model.helpers import engine_batch


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def exporter_on_fresh_topics(broker: str) -> ExporterOptions:
    """Exporter options on four new topics of the broker (created here), a free port and top-3 gauges."""
    suffix = uuid.uuid4().hex[:8]
    options = ExporterOptions(
        bootstrap=broker,
        events_topic=f"events-{suffix}",
        windows_topic=f"windows-{suffix}",
        alerts_topic=f"alerts-{suffix}",
        dead_letter_topic=f"dead-{suffix}",
        group_id=f"exporter-{suffix}",
        port=free_port(),
        top_k=3,  # the top-K series is opt-in
        lag_interval_s=1.0,
    )
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics(
        [
            NewTopic(t, 1, 1)
            for t in (options.events_topic, options.windows_topic, options.alerts_topic, options.dead_letter_topic)
        ]
    )
    admin.close()
    return options


def test_exporter_serves_what_the_topics_hold(broker):
    options = exporter_on_fresh_topics(broker)
    events = list(generate(build_network(SimulationConfig(seed=5, gurus=12, fans=600, days=2))))
    windows, alerts = engine_batch(events, ReciprocityConfig(min_inbound=10))
    producer = KafkaProducer(bootstrap_servers=broker)
    for event in events[:300]:
        producer.send(options.events_topic, wire.encode(event.to_record(), "SocialEvent"))
    for window in windows:
        producer.send(options.windows_topic, wire.encode(window, "AccountWindow"))
    for alert in sorted(alerts, key=lambda a: a["window_end"]):
        producer.send(options.alerts_topic, wire.encode(alert, "EngagementAlert"))
    producer.flush()
    producer.close()

    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(options, stop), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        exposition = ""
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                exposition = scrape(options.port)
            except OSError:
                continue
            if f'reciprocity_kafka_consumer_lag_messages{{topic="{options.events_topic}"}} 300.0' in exposition and (
                sum(
                    float(line.split()[-1])
                    for line in exposition.splitlines()
                    if line.startswith("reciprocity_account_windows_total{")
                )
                == len(windows)
            ):
                break
        else:
            raise AssertionError(f"the exporter did not catch up:\n{exposition[-2000:]}")
    finally:
        stop.set()
        thread.join(timeout=15)
    assert (
        sum(float(line.split()[-1]) for line in exposition.splitlines() if line.startswith("reciprocity_events_total{"))
        == 300
    )
    assert "reciprocity_build_info{" in exposition
    promtool = shutil.which("promtool")
    assert promtool
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=exposition.encode(), capture_output=True, check=False
    )
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout.decode() + checked.stderr.decode()
