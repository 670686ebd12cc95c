import pickle
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.model.config import ReciprocityConfig
from pipelines.model.engine import AccountEngine, WindowRuns, evaluate_account
from pipelines.model.events import SocialEvent
from pipelines.model.reference import reference
from tests.model.helpers import by_account, canonical, engine_batch
from tests.strategies import HOUR, social_events

# Thresholds low enough that random streams of a few events fire and resolve alerts.
configs = st.builds(
    ReciprocityConfig,
    window_ms=st.sampled_from((HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR)),
    period_ms=st.just(HOUR),
    min_inbound=st.integers(1, 3),
    max_response_rate=st.just(0.5),
    resolve_response_rate=st.sampled_from((0.5, 0.75)),
    min_preaching_posts=st.integers(1, 2),
    count_likes=st.booleans(),
    watchlist=st.sampled_from((frozenset(), frozenset({"bob"}))),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=social_events(), config=configs, seed=st.integers(0, 2**32))
def test_engine_equals_reference_in_any_arrival_order(events, config, seed):
    random.Random(seed).shuffle(events)
    windows, alerts = engine_batch(events, config)
    expected_windows, expected_alerts = reference(events, config)
    assert canonical(windows) == canonical(expected_windows)
    assert canonical(alerts) == canonical(expected_alerts)


@settings(max_examples=200, deadline=None)
@given(events=social_events(), config=configs, step=st.integers(1, 3), seed=st.integers(0, 2**32))
def test_streaming_protocol_equals_batch(events, config, step, seed):
    """Feed each account in event-time slices, advancing (and pickling, as Beam state does) between slices."""
    batch_windows, batch_alerts = engine_batch(events, config)
    windows, alerts = [], []
    rng = random.Random(seed)
    for account, contributions in by_account(events, config).items():
        contributions.sort(key=lambda c: c[0])
        engine = AccountEngine(account, config)
        cut = 0
        while cut < len(contributions) or engine.next_deadline() is not None:
            horizon = (contributions[cut][0] // HOUR + step) * HOUR if cut < len(contributions) else None
            batch = [c for c in contributions[cut:] if horizon is None or c[0] < horizon]
            cut += len(batch)
            rng.shuffle(batch)  # out of order inside the slice
            for contribution in batch:
                assert engine.add(contribution)
            engine = AccountEngine.restore(pickle.loads(pickle.dumps(engine)), config)
            w, a = engine.advance(horizon)
            windows += w
            alerts += a
            if horizon is None:
                break
    assert canonical(windows) == canonical(batch_windows)
    assert canonical(alerts) == canonical(batch_alerts)


@settings(max_examples=200, deadline=None)
@given(events=social_events(), config=configs)
def test_runs_expand_to_the_published_windows(events, config):
    for account, contributions in by_account(events, config).items():
        windows, alerts = evaluate_account(account, contributions, config)
        runs, run_alerts = evaluate_account(account, contributions, config, runs=True)
        assert all(count >= 1 for _, count in runs)
        assert list(WindowRuns(config.period_ms, runs).windows()) == windows
        assert WindowRuns(config.period_ms, runs).window_count() == len(windows)
        assert run_alerts == alerts


def test_a_watched_account_posting_once_publishes_one_run():
    config = ReciprocityConfig(window_ms=4 * HOUR, period_ms=HOUR, watchlist=frozenset({"bob"}))
    post = SocialEvent(event_id="p", event_type="POST", actor_id="bob", event_time=HOUR + 5, text="hello")
    (contributions,) = by_account([post], config).values()
    runs, _ = evaluate_account("bob", contributions, config, runs=True)
    assert [(first["window_end"], count) for first, count in runs] == [(2 * HOUR, 4)]


def _reply(i: int, actor: str, target: str, t: int) -> SocialEvent:
    return SocialEvent(event_id=f"e{i}", event_type="REPLY", actor_id=actor, target_account_id=target, event_time=t)


def test_sealed_panes_refuse_late_contributions():
    config = ReciprocityConfig(window_ms=2 * HOUR, period_ms=HOUR, min_inbound=1)
    engine = AccountEngine("guru", config)
    (on_time,) = by_account([_reply(1, "fan", "guru", 10)], config)["guru"]
    assert engine.add(on_time)
    windows, _ = engine.advance(HOUR)
    assert [w["window_end"] for w in windows] == [HOUR]
    (late,) = by_account([_reply(2, "fan2", "guru", HOUR - 1)], config)["guru"]
    assert not engine.add(late)
    windows, _ = engine.advance(None)
    assert [(w["window_end"], w["inbound_engagers"]) for w in windows] == [(2 * HOUR, 1)]


def test_response_needs_an_answer_at_or_after_the_first_inbound():
    config = ReciprocityConfig(window_ms=HOUR, period_ms=HOUR, min_inbound=1)
    events = [
        _reply(1, "guru", "early", 100),  # answers before being engaged: not a response
        _reply(2, "early", "guru", 200),
        _reply(3, "fan", "guru", 300),
        _reply(4, "guru", "fan", 300),  # same instant counts ("at or after")
    ]
    (window,) = [w for w in engine_batch(events, config)[0] if w["account_id"] == "guru"]
    assert window["inbound_engagers"] == 2
    assert window["responded_engagers"] == 1
    assert window["median_response_seconds"] == 0.0
    assert window["outbound_targets"] == 2


def test_cost_of_a_window_step_does_not_scan_the_window():
    """An idle account costs nothing per slide: only panes entering or leaving touch counterparts."""
    config = ReciprocityConfig(window_ms=288 * HOUR, period_ms=HOUR, min_inbound=1)
    engine = AccountEngine("guru", config)
    contributions = by_account([_reply(i, f"fan{i}", "guru", i * HOUR) for i in range(200)], config)["guru"]
    for contribution in contributions:
        engine.add(contribution)
    refreshed = []
    original = engine._refresh_pair
    engine._refresh_pair = lambda cp, entries: (refreshed.append(cp), original(cp, entries))
    windows, _ = engine.advance(None)
    assert len(windows) == 200 + 288 - 1
    assert len(refreshed) == 400  # each fan enters once and leaves once
