"""The ingesters' shared core: delivery (dedupe, counting, max_events), state file, backoff, sink paths."""

import json
import random
from pathlib import Path

import pytest

from pipelines.io import social
from pipelines.io.social import Delivery, StateFile, Stop, backoff_s, dead_letter_path
from pipelines.model.events import SocialEvent
from pipelines.model.mapped import Mapped
from pipelines.observability.metrics import IngestMetrics


class ListSink:
    def __init__(self):
        self.written, self.dead = [], []

    def events(self, events):
        self.written.extend(events)

    def dead_letter(self, reason, source, raw):
        self.dead.append((reason, source, raw))

    def flush(self):
        pass

    def close(self):
        pass


def like(n, at):
    return SocialEvent(f"e{n}", "LIKE", "a", at // 1000, target_account_id="b")


def test_delivery_drops_repeated_event_ids_and_replayed_dead_letters_and_counts_each_outcome():
    sink, metrics = ListSink(), IngestMetrics("bluesky")
    delivery = Delivery(sink, metrics)
    frames = [Mapped(events=[like(1, 10)], cursor=10), Mapped(events=[like(2, 20)], cursor=20)]
    frames += [Mapped(skipped="delete", cursor=30), Mapped(dead_kind="bad_frame", dead_reason="x", cursor=40)]
    for mapped in frames + frames:  # a reconnection replays everything
        delivery.take(mapped, "raw", "origin")
    assert [e.event_id for e in sink.written] == ["e1", "e2"] and len(sink.dead) == 1
    assert metrics.value("reciprocity_ingest_duplicates_dropped_total") == 2
    assert metrics.value("reciprocity_ingest_frames_total") == 8
    assert metrics.value("reciprocity_ingest_skipped_total", reason="delete") == 2
    assert metrics.value("reciprocity_ingest_dead_letters_total", reason="bad_frame") == 1
    assert delivery.cursor == 40 and delivery.delivered == 2
    recent = delivery.recent_since(20)  # what a restart must not resend: e2 and the dead letter at 40
    assert list(recent.values()) == [20, 40] and next(iter(recent)) == "e2"
    assert list(recent)[1].startswith("dead:40:")


def test_max_events_is_exact_even_inside_a_frame():
    sink = ListSink()
    delivery = Delivery(sink, IngestMetrics("snap"), max_events=3)
    delivery.take(Mapped(events=[like(1, 1), like(2, 1)]), "", "")
    assert not delivery.done
    delivery.take(Mapped(events=[like(3, 2), like(4, 2)]), "", "")
    assert delivery.done and [e.event_id for e in sink.written] == ["e1", "e2", "e3"]


def test_the_recent_ids_stay_bounded(monkeypatch):
    monkeypatch.setattr(social, "DEDUPE_CAPACITY", 100)
    delivery = Delivery(ListSink(), IngestMetrics("snap"))
    for n in range(1000):
        delivery.take(Mapped(events=[like(n, n)], cursor=n), "", "")
    assert len(delivery.recent_since(0)) <= 125 and "e999" in delivery.recent_since(0)


def test_state_file_round_trips_atomically_and_refuses_garbage(tmp_path):
    state = StateFile(tmp_path / "s" / "state.json")
    assert state.load() == {}
    state.save({"cursor": 5})
    assert state.load() == {"cursor": 5} and not list((tmp_path / "s").glob("*.tmp"))
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(ValueError, match="is not a JSON object"):
        StateFile(tmp_path / "bad.json").load()
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="cannot read"):
        StateFile(tmp_path / "broken.json").load()


def test_backoff_doubles_up_to_the_cap_with_jitter():
    rng = random.Random(3)
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0), (40, 30.0)]:
        delays = [backoff_s(failures, 0.5, 30.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not one value


def test_idle_stop_says_why():
    stop = Stop(idle_exit_s=0.01)
    stop.last_frame -= 1
    assert stop.idle() and stop.why == "no frame for 0.01s"
    assert not Stop().idle()


def test_jsonl_sink_writes_events_the_job_reads_and_dead_letters_beside(tmp_path):
    sink = social.JsonlSink(tmp_path / "out" / "events.jsonl")
    sink.events([like(1, 1_764_547_200_123_000)])
    sink.dead_letter("not valid JSON: x", "ws://h frame 3", "{bad \u00e9")
    sink.close()
    (event,) = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert event["event_time"] == "2025-12-01T00:00:00.123Z"
    (dead,) = [json.loads(line) for line in (tmp_path / "out" / "events.dead_letter.jsonl").read_text().splitlines()]
    assert (dead["reason"], dead["source"], dead["raw"]) == ("not valid JSON: x", "ws://h frame 3", "{bad \u00e9")
    assert dead_letter_path(Path("a/b.jsonl")) == Path("a/b.dead_letter.jsonl")
