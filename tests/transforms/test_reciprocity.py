"""Each composite on a real Beam runner: batch on the FnApiRunner, streaming with TestStream."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp
from hypothesis import given, settings

from pipelines.model.config import ReciprocityConfig
from pipelines.model.contributions import INBOUND, OUTBOUND
from pipelines.model.events import SocialEvent
from pipelines.model.reference import reference
from pipelines.model.windows import pane_of
from pipelines.transforms.reciprocity import ComputeReciprocity, RollUpShardsFn, RouteToShardsFn
from tests.strategies import HOUR, social_events

CONFIG = ReciprocityConfig(
    window_ms=3 * HOUR,
    period_ms=HOUR,
    min_inbound=2,
    min_preaching_posts=1,
    max_response_rate=0.5,
    resolve_response_rate=0.6,
)


def streaming_options() -> PipelineOptions:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return options


def at(ms: int) -> Timestamp:
    return Timestamp(micros=ms * 1000)


def stamped(events):
    return [beam.window.TimestampedValue(e, at(e.event_time)) for e in events]


def in_event_time_order(events, config):
    """A TestStream that delivers each pane's events (shuffled inside the pane), then moves the watermark
    to the pane's end; finally past every window, since assert_that closes its global window at +inf."""
    stream = TestStream()
    panes = sorted({pane_of(e.event_time, config.period_ms) for e in events})
    for pane in panes:
        stream.add_elements(stamped([e for e in events if pane_of(e.event_time, config.period_ms) == pane]))
        stream.advance_watermark_to(at((pane + 1) * config.period_ms))
    last = (panes[-1] + 1) * config.period_ms if panes else 0
    return stream.advance_watermark_to(at(last + config.window_ms + 2 * config.period_ms))


def test_routing_sends_an_interaction_to_both_sides_and_gathers_by_shard():
    """One element per shard touched, each account always in the same shard, nothing lost."""
    events = [
        SocialEvent(event_id=f"r{i}", event_type="REPLY", actor_id=f"fan{i}", target_account_id="guru", event_time=i)
        for i in range(40)
    ]
    with TestPipeline() as p:
        routed = p | beam.Create([events]) | beam.ParDo(RouteToShardsFn(CONFIG, shards=4))
        flat = routed | beam.FlatMap(lambda kv: [(kv[0], account, c[1], c[2]) for account, c in kv[1]])
        shard_of = {}

        def check(elements):
            shards = [shard for shard, *_ in elements]
            assert all(0 <= shard < 4 for shard in shards)
            for shard, account, _, _ in elements:
                assert shard_of.setdefault(account, shard) == shard, account
            kinds = sorted((account, kind, counterpart) for _, account, kind, counterpart in elements)
            expected = sorted(
                [("guru", INBOUND, f"fan{i}") for i in range(40)] + [(f"fan{i}", OUTBOUND, "guru") for i in range(40)]
            )
            assert kinds == expected

        assert_that(flat, check)
        assert_that(routed | beam.Map(lambda kv: kv[0]) | beam.combiners.Count.PerElement(), _distinct_keys)


def _distinct_keys(counts):
    assert all(count == 1 for _, count in counts), counts


@settings(max_examples=8, deadline=None)
@given(events=social_events(max_size=40))
def test_batch_pipeline_equals_reference(events):
    expected_windows, expected_alerts = reference(events, CONFIG)
    with TestPipeline() as p:
        out = p | beam.Create(events) | ComputeReciprocity(CONFIG)
        assert_that(out["windows"], equal_to(expected_windows), label="windows")
        assert_that(out["alerts"], equal_to(expected_alerts), label="alerts")


@settings(max_examples=8, deadline=None)
@given(events=social_events(max_size=40))
def test_batch_windows_are_one_ordered_element_per_account(events):
    expected_windows, _ = reference(events, CONFIG)

    def check(elements):
        assert all(element.runs for element in elements), "an empty element would write an empty line"
        assert all(element.period_ms == CONFIG.period_ms for element in elements)
        lists = [list(element.windows()) for element in elements]
        accounts = [windows[0]["account_id"] for windows in lists]
        assert len(accounts) == len(set(accounts)), "one element per account"
        for windows in lists:
            assert {w["account_id"] for w in windows} == {windows[0]["account_id"]}
            ends = [w["window_end"] for w in windows]
            assert ends == sorted(ends) and len(set(ends)) == len(ends)
        flat = [w for windows in lists for w in windows]
        assert sorted(flat, key=repr) == sorted(expected_windows, key=repr)

    with TestPipeline() as p:
        out = p | beam.Create(events) | ComputeReciprocity(CONFIG, batch_windows=True)
        assert_that(out["windows"], check)


def test_batch_windows_is_refused_in_streaming():
    message = r"^batch_windows is a batch option: streaming emits each window as it closes$"
    with pytest.raises(ValueError, match=message):
        ComputeReciprocity(CONFIG, streaming=True, batch_windows=True)


@settings(max_examples=4, deadline=None, derandomize=True)
@given(events=social_events(max_size=40))
def test_streaming_pipeline_equals_reference(events):
    expected_windows, expected_alerts = reference(events, CONFIG)
    with TestPipeline(options=streaming_options()) as p:
        out = p | in_event_time_order(events, CONFIG) | ComputeReciprocity(CONFIG, streaming=True)
        assert_that(out["windows"], equal_to(expected_windows), label="windows")
        assert_that(out["alerts"], equal_to(expected_alerts), label="alerts")
        assert_that(out["late"], equal_to([]), label="late")


def _reply(i, actor, target, t):
    return SocialEvent(event_id=f"e{i}", event_type="REPLY", actor_id=actor, target_account_id=target, event_time=t)


def _late_stream(config):
    """Two fans engage at 00:10; the watermark passes 01:00 (+lateness); then a reply stamped 00:30 arrives."""
    on_time = [_reply(1, "fan1", "guru", 600_000), _reply(2, "fan2", "guru", 610_000)]
    late = _reply(3, "guru", "fan1", 1_800_000)
    stream = TestStream().add_elements(stamped(on_time))
    stream.advance_watermark_to(at(HOUR + config.allowed_lateness_ms + 1))
    stream.add_elements(stamped([late]))
    return stream.advance_watermark_to(at(4 * HOUR + config.allowed_lateness_ms)), on_time, late


def test_late_events_beyond_allowed_lateness_are_dead_lettered():
    """(Beam counts them too, as reciprocity/late_events_dropped; the BundleBasedDirectRunner that runs
    TestStream does not report metrics from timer bundles reliably, so this test reads the dead letters.)"""
    config = ReciprocityConfig(window_ms=HOUR, period_ms=HOUR, min_inbound=2)
    stream, _, late = _late_stream(config)
    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | ComputeReciprocity(config, streaming=True)
        assert_that(
            out["late"] | beam.Map(lambda d: (d["source"], d["reason"].split(":")[0])),
            equal_to([(f"event {late.event_id}", "late event")]),
            label="late",
        )
        assert_that(
            out["windows"] | beam.Map(lambda w: (w["window_end"], w["responded_engagers"])),
            equal_to([(HOUR, 0)]),
            label="windows",
        )


def test_allowed_lateness_keeps_a_late_answer():
    config = ReciprocityConfig(window_ms=HOUR, period_ms=HOUR, min_inbound=2, allowed_lateness_ms=HOUR)
    _, on_time, late = _late_stream(config)
    # The same reply now arrives within the allowed lateness: it is counted as an answer.
    stream = TestStream().add_elements(stamped(on_time))
    stream.advance_watermark_to(at(HOUR + HOUR // 2))
    stream.add_elements(stamped([late]))
    stream.advance_watermark_to(at(6 * HOUR))
    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | ComputeReciprocity(config, streaming=True)
        assert_that(out["late"], equal_to([]), label="late")
        assert_that(
            out["windows"] | beam.Map(lambda w: (w["window_end"], w["responded_engagers"])),
            equal_to([(HOUR, 1)]),
            label="windows",
        )


def test_a_firing_alert_outlives_a_quiet_stretch():
    """A watchlisted account fires, falls silent longer than a window (its engine has nothing left to
    evaluate), then is ignored again: still firing, so no second 'firing' alert, exactly as in batch."""
    config = ReciprocityConfig(
        window_ms=HOUR,
        period_ms=HOUR,
        min_inbound=2,
        max_response_rate=0.5,
        resolve_response_rate=0.6,
        watchlist=frozenset({"guru"}),
    )
    first = [_reply(i, f"fan{i}", "guru", 60_000 * i) for i in range(1, 4)]
    again = [_reply(10 + i, f"fan{i}", "guru", 10 * HOUR + 60_000 * i) for i in range(1, 4)]
    expected_windows, expected_alerts = reference(first + again, config)
    assert [a["status"] for a in expected_alerts] == ["firing"]
    # Batched input, as the Kafka source sends it, and one shard: every account shares the horizon.
    stream = TestStream().add_elements([beam.window.TimestampedValue(first, at(first[0].event_time))])
    stream.advance_watermark_to(at(5 * HOUR))
    stream.add_elements([beam.window.TimestampedValue(again, at(again[0].event_time))])
    stream.advance_watermark_to(at(20 * HOUR))
    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | ComputeReciprocity(config, streaming=True, state_shards=1)
        assert_that(out["alerts"], equal_to(expected_alerts), label="alerts")
        assert_that(out["windows"], equal_to(expected_windows), label="windows")
        assert_that(out["late"], equal_to([]), label="late")


class _NoMemory(dict):
    """A resident-shard cache that keeps nothing: every firing rebuilds its shard from Beam state."""

    def __setitem__(self, key, value) -> None:
        pass


@settings(max_examples=4, deadline=None, derandomize=True)
@given(events=social_events(max_size=40))
def test_streaming_rebuilt_from_state_at_every_firing_equals_reference(events):
    """What a worker that never saw a shard does (a restart, a rescale), at every firing, with a log
    compacted whenever anything in it expired."""
    import pipelines.transforms.reciprocity as reciprocity

    expected_windows, expected_alerts = reference(events, CONFIG)
    saved, reciprocity._RESIDENT = reciprocity._RESIDENT, _NoMemory()
    try:
        with TestPipeline(options=streaming_options()) as p:
            outputs = (
                p
                | in_event_time_order(events, CONFIG)
                | beam.ParDo(RouteToShardsFn(CONFIG, shards=3))
                | beam.ParDo(RollUpShardsFn(CONFIG, compact_slack=0)).with_outputs("windows", "alerts", "late")
            )
            assert_that(outputs["windows"], equal_to(expected_windows), label="windows")
            assert_that(outputs["alerts"], equal_to(expected_alerts), label="alerts")
            assert_that(outputs["late"], equal_to([]), label="late")
    finally:
        reciprocity._RESIDENT = saved
