"""Every event delivered twice to the streaming job (as at-least-once Kafka does after a producer retry): the
windows and alerts equal the batch reference of the events delivered once."""

from __future__ import annotations

import random

from pipelines.io.producer import produce
from pipelines.model.config import ReciprocityConfig
from pipelines.model.reference import reference
from pipelines.simulator import build_network, generate
from tests.cli.jobs import fresh_topics, read_back, run_streaming_job
from tests.cli.test_streaming_job import SMALL
from tests.model.helpers import canonical


def test_every_event_twice_changes_no_window_and_no_alert(broker, tmp_path):
    events = list(generate(build_network(SMALL)))
    # Each event again a few messages later, as a retried batch lands: 2x the messages, same event_ids.
    rng = random.Random(4)
    delivered = []
    for position, event in enumerate(events):
        delivered.append((position, event))
        delivered.append((position + rng.randint(1, 20), event))
    delivered.sort(key=lambda item: item[0])
    _, topics = fresh_topics(broker)
    produce([event for _, event in delivered], broker, topics["events"], progress=False)
    done = run_streaming_job(broker, topics, "dups", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"events read        {2 * len(events)}" in done.stdout
    expected_windows, expected_alerts = reference(events, ReciprocityConfig(min_inbound=5))
    assert expected_alerts, "the sample must fire alerts"
    assert canonical(read_back(broker, topics["windows"])) == canonical(expected_windows)
    assert sorted(a["alert_id"] for a in read_back(broker, topics["alerts"])) == sorted(
        a["alert_id"] for a in expected_alerts
    )
    # A duplicate whose pane the watermark had already sealed is refused as late: a dead letter, not a figure.
    late = [d for d in read_back(broker, topics["dead"]) if "late" in d["reason"]]
    print(f"\n{len(events)} events sent twice; {len(late)} duplicates arrived after their pane was sealed")
