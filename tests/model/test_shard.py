import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.model import contributions
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
    rebuild_odds=st.sampled_from((0.0, 0.5, 1.0)),
)
def test_a_shard_fed_in_slices_and_rebuilt_from_its_log_equals_batch(events, config, step, seed, rebuild_odds):
    """All accounts in one shard, fed in event-time slices (shuffled inside each); between slices the
    shard is sometimes thrown away and rebuilt from what Beam would store (log, horizon, firing accounts)."""
    batch_windows, batch_alerts = engine_batch(events, config)
    routed = sorted(
        (pair for event in events for pair in contributions.route(event, config)), key=lambda pair: pair[1][0]
    )
    rng = random.Random(seed)

    def maybe_rebuilt(shard: ShardEngines) -> ShardEngines:
        if rng.random() < rebuild_odds:
            return ShardEngines.rebuild(config, shard.live(), shard.horizon, shard.firing())
        return shard

    windows, alerts = feed_in_slices(ShardEngines(config), routed, step, rng, maybe_rebuilt)
    assert canonical(windows) == canonical(batch_windows)
    assert canonical(alerts) == canonical(batch_alerts)


def test_contributions_below_the_horizon_are_late_and_change_nothing():
    from pipelines.model.config import ReciprocityConfig

    config = ReciprocityConfig(window_ms=HOUR, period_ms=HOUR, min_inbound=1)
    shard = ShardEngines(config)
    inbound = ("guru", (10, contributions.INBOUND, "fan", None, None, 0, None, "e1"))
    assert shard.fold([inbound]) == []
    windows, _, due = shard.advance(HOUR)
    assert [w["inbound_engagers"] for w in windows] == [1]
    assert due == 2 * HOUR  # the window the pane leaves
    late = ("guru", (20, contributions.OUTBOUND, "fan", None, None, contributions.REPLY, None, "e2"))
    assert shard.fold([late]) == [late]
    assert shard.advance(5 * HOUR)[:2] == ([], [])
    assert shard.live() == []  # nothing a future window needs
