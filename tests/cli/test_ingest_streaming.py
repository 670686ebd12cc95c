"""End to end: Jetstream frames -> the Bluesky ingester -> a real broker -> the streaming job on Prism; its
windows and alerts equal the batch reference over the same mapped events."""

import json

from pipelines.bench.ingest import JetstreamReplay
from pipelines.cli.ingest import main
from pipelines.model.bluesky import map_frame
from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import SocialEvent, iso_utc
from pipelines.model.reference import reference
from pipelines.simulator import build_network, generate
from tests.cli.jobs import fresh_topics, read_back, run_streaming_job
from tests.cli.test_streaming_job import SMALL
from tests.model.helpers import canonical


def did(account: str) -> str:
    return f"did:plc:{account}"


def post(account: str) -> dict[str, str]:
    return {"uri": f"at://{did(account)}/app.bsky.feed.post/p0", "cid": "c"}


def frames_from(events: list[SocialEvent]) -> list[str]:
    """Jetstream frames saying what simulated events say (accounts as DIDs), in commit order."""
    frames, time_us = [], 0
    for n, e in enumerate(sorted(events, key=lambda e: (e.event_time, e.event_id))):
        record: dict = {"createdAt": iso_utc(e.event_time)}
        collection, rkey = "app.bsky.feed.post", f"r{n}"
        if e.event_type in ("POST", "REPLY", "MENTION"):
            record["text"] = e.text or ""
            if e.event_type == "REPLY":
                record["reply"] = {
                    "root": post(e.conversation_owner_id or e.target_account_id),
                    "parent": post(e.target_account_id),
                }
            if e.event_type == "MENTION":
                feature = {"$type": "app.bsky.richtext.facet#mention", "did": did(e.target_account_id)}
                record["facets"] = [{"index": {"byteStart": 0, "byteEnd": 1}, "features": [feature]}]
        elif e.event_type in ("SHARE", "LIKE"):
            collection = "app.bsky.feed.repost" if e.event_type == "SHARE" else "app.bsky.feed.like"
            record["subject"] = post(e.target_account_id)
        elif e.event_type == "FOLLOW":
            collection, record["subject"] = "app.bsky.graph.follow", did(e.target_account_id)
        else:
            collection, rkey, record["description"] = "app.bsky.actor.profile", "self", e.text or ""
        time_us = max(time_us + 1, e.event_time * 1000)
        commit = {"rev": f"v{n}", "operation": "create", "collection": collection, "rkey": rkey, "record": record}
        frames.append(json.dumps({"did": did(e.actor_id), "time_us": time_us, "kind": "commit", "commit": commit}))
    return frames


def test_ingested_bluesky_frames_through_the_streaming_job_equal_the_batch_reference(broker, tmp_path):
    suffix, topics = fresh_topics(broker)
    frames = frames_from(list(generate(build_network(SMALL))))
    mapped = [e for frame in frames for e in map_frame(frame).events]
    server = JetstreamReplay(frames)
    try:
        argv = ["bluesky", "--endpoint", server.url, "--kafka_bootstrap", broker, "--topic", topics["events"]]
        assert main([*argv, "--dead_letter_topic", topics["dead"], "--idle_exit", "1.5"]) == 0
    finally:
        server.close()
    done = run_streaming_job(broker, topics, f"job-{suffix}", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    expected_windows, expected_alerts = reference(mapped, ReciprocityConfig(min_inbound=5))
    assert expected_windows and expected_alerts  # the comparison says something
    assert canonical(read_back(broker, topics["windows"])) == canonical(expected_windows)
    assert sorted(a["alert_id"] for a in read_back(broker, topics["alerts"])) == sorted(
        a["alert_id"] for a in expected_alerts
    )
    assert f"events read        {len(mapped)}" in done.stdout
