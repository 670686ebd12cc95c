import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.model import contributions
from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import SocialEvent
from pipelines.model.resume import (
    PartitionTail,
    Resume,
    TailTracker,
    cutoff_ms,
    decode_mark,
    encode_mark,
    firing_at,
)
from pipelines.model.shard import ShardEngines
from tests.model.helpers import canonical, engine_batch, feed_in_slices
from tests.model.test_engine import configs
from tests.strategies import HOUR, social_events


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=social_events(),
    config=configs,
    step=st.integers(1, 3),
    seed=st.integers(0, 2**32),
    mark_hours=st.floats(0, 10),
    stragglers=st.floats(0, 1),
    rebuild_odds=st.sampled_from((0.0, 0.5, 1.0)),
)
def test_a_restart_over_the_tail_publishes_what_a_fault_free_run_publishes_after_the_mark(
    events, config, step, seed, mark_hours, stragglers, rebuild_odds
):
    """The stopped run published every window ending before the mark; the restart re-reads the events from the
    cutoff on (plus some older stragglers, as a partition not strictly ordered delivers them), takes the alert
    states from the published alerts, and must publish exactly the fault-free run's windows and alerts from the
    mark on, whether its shard is rebuilt from Beam state (before or after the mark) or not."""
    batch_windows, batch_alerts = engine_batch(events, config)
    mark = int(mark_hours * HOUR)
    resume = Resume(mark, firing_at(batch_alerts, mark))
    rng = random.Random(seed)
    cutoff = cutoff_ms(mark, config.window_ms)
    routed = sorted(
        (pair for event in events for pair in contributions.route(event, config)), key=lambda pair: pair[1][0]
    )
    tail = [pair for pair in routed if pair[1][0] >= cutoff or rng.random() < stragglers]

    def maybe_rebuilt(shard: ShardEngines) -> ShardEngines:
        if rng.random() < rebuild_odds:
            return ShardEngines.rebuild(config, shard.live(), shard.horizon, shard.firing(), resume)
        return shard

    windows, alerts = feed_in_slices(ShardEngines(config, resume), tail, step, rng, maybe_rebuilt)
    first_end = resume.first_window_end(config.period_ms)
    assert canonical(windows) == canonical([w for w in batch_windows if w["window_end"] >= first_end])
    assert canonical(alerts) == canonical([a for a in batch_alerts if a["window_end"] >= first_end])


def test_an_alert_that_fired_before_the_tail_resolves_after_the_restart():
    """The alert status is the one per-account state older than a window: the guru fired in the first hour, then
    answered 2 of 3 engagers an hour (between the firing and resolving rates: no change) and resolves at 6h. The
    tail re-read for a mark at 3h starts at 2h: only the published alerts can say the guru fires at the mark."""
    config = ReciprocityConfig(
        window_ms=HOUR,
        period_ms=HOUR,
        min_inbound=2,
        max_response_rate=0.5,
        resolve_response_rate=0.75,
        watchlist=frozenset({"guru"}),
    )
    events, n = [], 0
    for hour in range(6):
        fans = ["f1", "f2"] if hour in (0, 5) else ["f1", "f2", "f3"]
        answered = [] if hour == 0 else fans[:2]
        for minute, fan in enumerate(fans):
            events.append(SocialEvent(f"e{n}", "REPLY", fan, hour * HOUR + minute * 60_000, target_account_id="guru"))
            n += 1
        for fan in answered:
            events.append(SocialEvent(f"e{n}", "REPLY", "guru", hour * HOUR + 600_000, target_account_id=fan))
            n += 1
    batch_windows, batch_alerts = engine_batch(events, config)
    assert [(a["status"], a["window_end"]) for a in batch_alerts if a["account_id"] == "guru"] == [
        ("firing", HOUR),
        ("resolved", 6 * HOUR),
    ]
    mark = 3 * HOUR
    tail = [pair for event in events for pair in contributions.route(event, config) if pair[1][0] >= 2 * HOUR]
    after = [a for a in batch_alerts if a["window_end"] >= mark]
    for resume, expected in ((Resume(mark, firing_at(batch_alerts, mark)), after), (Resume(mark), [])):
        windows, alerts = feed_in_slices(
            ShardEngines(config, resume), sorted(tail, key=lambda p: p[1][0]), 1, random.Random(0)
        )
        assert canonical(windows) == canonical([w for w in batch_windows if w["window_end"] >= mark])
        assert canonical(alerts) == canonical(expected)  # without the published status, the resolution is lost


def test_the_mark_travels_in_the_commit_metadata():
    assert decode_mark(encode_mark(1_700_000_000_000)) == 1_700_000_000_000
    assert decode_mark(encode_mark(-5)) == -5
    for other in (None, "", "something else", "published_before=soon"):
        assert decode_mark(other) is None


def test_an_account_fires_at_the_mark_when_its_latest_alert_before_it_fires():
    alerts = [
        {"account_id": "a", "window_end": 1, "status": "firing"},
        {"account_id": "a", "window_end": 3, "status": "resolved"},
        {"account_id": "b", "window_end": 2, "status": "firing"},
        {"account_id": "b", "window_end": 2, "status": "firing"},  # a duplicate
        {"account_id": "c", "window_end": 2, "status": "firing"},
        {"account_id": "c", "window_end": 9, "status": "resolved"},  # after the mark: not yet
    ]
    assert firing_at(alerts, 5) == {"b", "c"}
    assert firing_at(alerts, 2) == {"a"}
    assert firing_at(alerts, 0) == frozenset()


def test_the_first_window_after_the_mark_is_on_a_period_boundary():
    assert Resume(7 * HOUR).first_window_end(HOUR) == 7 * HOUR
    assert Resume(7 * HOUR + 1).first_window_end(HOUR) == 8 * HOUR
    assert Resume(-HOUR - 1).first_window_end(HOUR) == -HOUR
    assert Resume(5, frozenset({"a", "b"})).only(["b", "c"]) == Resume(5, frozenset({"b"}))


def test_spans_are_released_in_offset_order_only_while_nothing_after_the_cutoff_is_in_them():
    tail = PartitionTail(100, granularity_ms=10)
    tail.add(100, 150, 5)
    tail.add(150, 200, 25)
    tail.add(200, 260, 15)  # a straggler partition: older events after newer ones
    assert tail.release(cutoff=10) == 150  # [150, 200) holds an event at 25
    assert tail.release(cutoff=26) == 260
    assert len(tail) == 0


def test_a_span_not_yet_received_holds_the_commit_at_its_start():
    tail = PartitionTail(0, granularity_ms=10)
    tail.add(50, 80, 1)  # [0, 50) is still on its way (spans may arrive out of order)
    assert tail.release(cutoff=100) == 0
    tail.add(0, 50, 2)
    assert tail.release(cutoff=100) == 80


def test_a_span_with_only_dead_letters_needs_nothing():
    tail = PartitionTail(0)
    tail.add(0, 10, None)
    assert tail.release(cutoff=-(2**62)) == 10


def test_contiguous_spans_merge_within_a_bucket_so_the_structure_stays_small():
    tail = PartitionTail(0, granularity_ms=100)
    for i in range(1000):
        tail.add(i * 10, i * 10 + 10, i)  # newest times 0..999: ten buckets
    assert len(tail) == 10
    assert tail.release(cutoff=450) == 4000  # the buckets wholly before the cutoff
    assert tail.release(cutoff=500) == 5000


def test_a_span_received_twice_or_already_released_changes_nothing():
    tail = PartitionTail(0, granularity_ms=10)
    tail.add(0, 10, 50)
    tail.add(0, 10, 50)
    assert len(tail) == 1
    assert tail.release(cutoff=51) == 10
    tail.add(0, 10, 50)  # a retried bundle, after the release
    tail.add(10, 10, 99)  # empty
    assert len(tail) == 0 and tail.release(cutoff=0) == 10


def test_the_tracker_survives_its_state_and_releases_every_partition():
    tracker = TailTracker(granularity_ms=10)
    tracker.add((0, 7, 7, 20, 3))
    tracker.add((1, 0, 0, 5, 30))
    tracker.add((0, 7, 20, 30, 40))
    again = TailTracker.from_state(tracker.state(), 10)
    assert again.state() == tracker.state()
    assert again.release(cutoff=31) == {0: 20, 1: 5}
    assert again.spans() == 1
