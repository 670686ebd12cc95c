"""Duplicates: every event delivered twice, in any order, changes no window figure and no alert.

They are dropped in the engine, per open pane, by event_id (pipelines/model/engine.py, `_Pane.ids`). The
streaming run of the same property is in tests/cli/test_streaming_duplicates.py.
"""

from __future__ import annotations

import random
import sys
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.model.config import ReciprocityConfig
from pipelines.model.contributions import route
from pipelines.model.engine import AccountEngine
from pipelines.model.events import SocialEvent
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.model.helpers import canonical, engine_batch
from tests.strategies import social_events

CONFIG = ReciprocityConfig(window_ms=4 * 3_600_000, period_ms=3_600_000, min_inbound=2, min_preaching_posts=1)


def _copy(event: SocialEvent) -> SocialEvent:
    return SocialEvent(**{name: getattr(event, name) for name in SocialEvent.__slots__})


@settings(max_examples=150, deadline=None)
@given(events=social_events(), seed=st.integers(0, 2**32 - 1), share=st.sampled_from([0.1, 0.5, 1.0]))
def test_duplicates_in_any_order_change_nothing(events, seed, share):
    rng = random.Random(seed)
    doubled = events + [_copy(e) for e in events if rng.random() < share]
    rng.shuffle(doubled)
    clean_windows, clean_alerts = engine_batch(events, CONFIG)
    windows, alerts = engine_batch(doubled, CONFIG)
    assert canonical(windows) == canonical(clean_windows)
    assert canonical(alerts) == canonical(clean_alerts)


def test_every_simulated_event_twice_changes_no_figure_and_no_alert():
    events = list(generate(build_network(SimulationConfig(seed=8, gurus=10, fans=400, days=3))))
    config = ReciprocityConfig(min_inbound=10)
    clean = engine_batch(events, config)
    twice = engine_batch(events + [_copy(e) for e in reversed(events)], config)
    assert clean[1], "the sample must fire alerts"
    assert canonical(twice[0]) == canonical(clean[0]) and canonical(twice[1]) == canonical(clean[1])


def test_the_ids_are_freed_when_a_pane_is_sealed_and_what_they_cost():
    """The memory figure quoted in the README: ids held per open pane, per counted contribution."""
    events = list(generate(build_network(SimulationConfig(seed=8, gurus=10, fans=400, days=3))))
    account = max(
        {a for e in events for a, _ in route(e, CONFIG)},
        key=lambda a: sum(1 for e in events if e.actor_id == a),
    )
    contributions = [c for e in events for a, c in route(e, CONFIG) if a == account and c[1] != 0]
    engine = AccountEngine(account, CONFIG)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for contribution in contributions:
        engine.add(contribution)
    held = sum(len(p.ids or ()) for p in engine._open.values())
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert held == len({c[7] for c in contributions})
    ids_bytes = sum(sys.getsizeof(p.ids) for p in engine._open.values())
    per_id = ids_bytes / held
    assert per_id < 300, per_id  # set slots (and 216 B per small set) only: the id strings are the events
    print(
        f"\n{held} ids in {len(engine._open)} open panes: {ids_bytes} bytes of sets, {per_id:.0f} B per id;"
        f" all engine state {sum(s.size_diff for s in after.compare_to(before, 'filename'))} B"
    )
    engine.advance()
    assert all(p.ids is None for p in engine._window)
