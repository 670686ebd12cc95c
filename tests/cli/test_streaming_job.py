"""The streaming mode end to end: Kafka in, Prism, Kafka out (pipelines.reciprocity --kafka_bootstrap)."""

from pipelines.io.producer import produce
from pipelines.model.config import ReciprocityConfig
from pipelines.model.reference import reference
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.cli.jobs import fresh_topics, read_back, run_streaming_job
from tests.model.helpers import canonical

# Small on purpose: the streaming path on Prism runs one timer bundle per account and pane.
SMALL = SimulationConfig(seed=11, gurus=4, fans=60, days=1, posts_per_day=3, engagers_per_post=8)


def test_streaming_job_equals_the_batch_reference(broker, tmp_path):
    suffix, topics = fresh_topics(broker)
    events = list(generate(build_network(SMALL)))
    produce(events, broker, topics["events"], progress=False)
    done = run_streaming_job(broker, topics, f"job-{suffix}", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    expected_windows, expected_alerts = reference(events, ReciprocityConfig(min_inbound=5))
    assert canonical(read_back(broker, topics["windows"])) == canonical(expected_windows)
    assert sorted(a["alert_id"] for a in read_back(broker, topics["alerts"])) == sorted(
        a["alert_id"] for a in expected_alerts
    )
    assert f"events read        {len(events)}" in done.stdout
