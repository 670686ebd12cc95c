"""The report's aggregations against small cases computed by hand."""

import random

import pytest

from pipelines.model.config import ReciprocityConfig
from pipelines.model.report import (
    SAMPLED_FIGURES,
    AlertChange,
    BottomK,
    ReportBuilder,
    firing_spans,
    sample_key,
)

H = 3_600_000


def window(account: str, end_h: int, tier: str = "normal", **figures: object) -> dict:
    record: dict = {
        "account_id": account,
        "window_start": (end_h - 24) * H,
        "window_end": end_h * H,
        "tier": tier,
        "inbound_engagers": 10,
        "response_rate": 0.5,
        "preach_score": None,
        "is_preacher": False,
        **dict.fromkeys(SAMPLED_FIGURES),
    }
    record.update(figures)
    return record


def alert(account: str, end_h: int, status: str, rate: float = 0.05, inbound: int = 30) -> dict:
    return {
        "alert_id": f"{account}-{end_h}-{status}",
        "account_id": account,
        "status": status,
        "window_start": (end_h - 24) * H,
        "window_end": end_h * H,
        "metrics": {"tier": "leader", "response_rate": rate, "inbound_engagers": inbound},
        "evidence": {
            "ignored_engagers": [f"fan{end_h}"],
            "preaching_post": f"talk to fans ({end_h})",
            "watchlisted": False,
        },
    }


def test_bottom_k_keeps_the_smallest_keys_whatever_the_order():
    items = [(key, float(key)) for key in (50, 10, 40, 30, 20, 60)]
    for order in (items, items[::-1], sorted(items, key=lambda kv: kv[0] % 7)):
        sample = BottomK(3)
        for key, value in order:
            sample.offer(key, value)
        assert sample.values() == (10.0, 20.0, 30.0)
        assert sample.threshold == 30  # a key of 30 or more is not kept any more


def test_bottom_k_that_is_not_full_keeps_everything():
    sample = BottomK(5)
    sample.offer(7, 1.0)
    sample.offer(3, 2.0)
    assert sample.values() == (2.0, 1.0)


def test_sample_key_is_stable_and_spreads():
    assert sample_key("a", 1) == sample_key("a", 1)
    keys = {sample_key(f"acct{i}", i * H) for i in range(1000)}
    assert len(keys) == 1000
    # A uniform 64-bit hash: about half the keys fall in the lower half.
    assert 400 < sum(k < 1 << 63 for k in keys) < 600


def test_each_account_is_a_dot_of_its_means_and_firing_accounts_are_marked():
    builder = ReportBuilder()
    builder.add_alert(alert("b", 11, "firing"))
    builder.add_window(window("a", 10, "rising", preach_score=0.2, fan_response_rate=0.5, inbound_engagers=10))
    builder.add_window(window("a", 11, "leader", preach_score=0.4, fan_response_rate=None, inbound_engagers=30))
    builder.add_window(window("a", 12, "leader", preach_score=None, fan_response_rate=0.1, inbound_engagers=20))
    builder.add_window(window("b", 11, "celebrity", preach_score=0.9, fan_response_rate=0.0, inbound_engagers=40))
    builder.add_window(window("c", 11, "normal", fan_response_rate=None))  # never a fan response rate: no dot
    data = builder.build()
    a, b = data.points
    assert (a.account_id, a.tier, a.windows) == ("a", "leader", 3)  # tier of its latest window
    assert a.preach_score == pytest.approx(0.3)  # (0.2 + 0.4) / 2: a null is skipped
    assert a.fan_response_rate == pytest.approx(0.3)  # (0.5 + 0.1) / 2
    assert a.inbound_engagers == pytest.approx(20.0)  # (10 + 30 + 20) / 3
    assert not a.firing
    assert (b.account_id, b.preach_score, b.fan_response_rate, b.firing) == ("b", 0.9, 0.0, True)
    assert data.unplaced_accounts == 1
    assert (data.windows, data.first_end_ms, data.last_end_ms) == (5, 10 * H, 12 * H)


def test_an_account_without_preaching_sits_at_zero():
    builder = ReportBuilder()
    builder.add_window(window("a", 10, fan_response_rate=0.7))
    (point,) = builder.build().points
    assert (point.preach_score, point.fan_response_rate) == (0.0, 0.7)


def test_tiers_count_windows_accounts_and_values_and_sample_them():
    builder = ReportBuilder(sample_size=2)
    builder.add_window(window("a", 10, "leader", peer_share=0.5, median_response_seconds=60.0))
    builder.add_window(window("a", 11, "leader", peer_share=None, median_response_seconds=120.0))
    builder.add_window(window("b", 10, "leader", peer_share=0.25, median_response_seconds=30.0))
    builder.add_window(window("c", 10, "normal", peer_share=1.0))
    data = builder.build()
    assert list(data.tiers) == ["leader", "normal"]  # the essay's order; tiers without windows left out
    leader = data.tiers["leader"]
    assert (leader.windows, leader.accounts) == (3, 2)
    assert leader.figures["peer_share"].count == 2
    assert sorted(leader.figures["peer_share"].sample) == [0.25, 0.5]
    seconds = leader.figures["median_response_seconds"]
    assert seconds.count == 3
    # Sample of 2 out of 3: the two windows with the smallest keys.
    keyed = sorted((sample_key(a, h * H), v) for a, h, v in (("a", 10, 60.0), ("a", 11, 120.0), ("b", 10, 30.0)))
    assert seconds.sample == tuple(v for _, v in keyed[:2])
    assert data.tiers["normal"].figures["fan_response_rate"] == type(seconds)(0, ())


def test_the_report_does_not_depend_on_the_order_of_the_windows():
    rng = random.Random(7)
    windows = [
        window(
            f"acct{a}",
            h,
            rng.choice(["celebrity", "leader", "normal"]),
            fan_response_rate=rng.random(),
            peer_share=rng.choice([None, rng.random()]),
            median_response_seconds=rng.random() * 1000,
        )
        for a in range(20)
        for h in range(30)
    ]

    def build(order: list[dict]) -> object:
        builder = ReportBuilder(sample_size=25)
        builder.add_alert(alert("acct3", 5, "firing"))
        for w in order:
            builder.add_window(w)
        return builder.build()

    shuffled = windows[:]
    rng.shuffle(shuffled)
    # Per-account order kept (a topic keyed by account), accounts interleaved: the same report.
    interleaved = sorted(windows, key=lambda w: (w["window_end"], w["account_id"]))
    assert build(windows) == build(interleaved)
    first, other = build(windows), build(shuffled)
    assert first.tiers == other.tiers and first.alerted == other.alerted


def test_firing_spans_open_close_and_run_to_the_end():
    changes = [
        AlertChange("firing", 10, 0.0, 30),
        AlertChange("firing", 11, 0.0, 30),  # a repeat changes nothing
        AlertChange("resolved", 14, 0.3, 30),
        AlertChange("resolved", 15, 0.3, 30),
        AlertChange("firing", 20, 0.0, 30),
    ]
    assert firing_spans(changes, last_end_ms=25) == ((10, 14), (20, 25))
    assert firing_spans([], last_end_ms=25) == ()


def test_alerted_accounts_carry_series_changes_and_latest_firing_evidence():
    builder = ReportBuilder(ReciprocityConfig(min_inbound=5))
    for a in (alert("x", 10, "firing"), alert("x", 12, "resolved", rate=0.4), alert("y", 11, "firing")):
        builder.add_alert(a)
    builder.add_window(window("x", 12, "leader", response_rate=0.4, inbound_engagers=31))
    builder.add_window(window("x", 10, "leader", response_rate=0.05, inbound_engagers=30))
    builder.add_window(window("z", 10, "leader"))  # not alerted: no series kept
    data = builder.build()
    x, y = data.alerted  # longest firing first: x fired 10 h-12 h, y from 11 h to the last window end (12 h)
    assert (x.account_id, y.account_id) == ("x", "y")
    assert x.spans == ((10 * H, 12 * H),)
    assert x.series == ((10 * H, 30, 0.05), (12 * H, 31, 0.4))  # in time order
    assert [c.status for c in x.changes] == ["firing", "resolved"]
    assert (x.ignored_engagers, x.preaching_post) == (("fan10",), "talk to fans (10)")  # the firing alert's
    assert (y.series, y.tier, y.spans) == ((), "leader", ((11 * H, 12 * H),))
    assert data.alert_changes == 3


def test_a_bad_record_changes_nothing_and_order_is_enforced():
    builder = ReportBuilder()
    broken = window("a", 10)
    del broken["peer_share"]
    with pytest.raises(KeyError):
        builder.add_window(broken)
    with pytest.raises(KeyError):
        builder.add_alert({"account_id": "a", "status": "firing"})
    with pytest.raises(ValueError, match="no account windows"):
        builder.build()
    builder.add_window(window("a", 10, fan_response_rate=0.5))
    assert builder.build().windows == 1
    with pytest.raises(ValueError, match="alerts must be added before the windows"):
        builder.add_alert(alert("a", 10, "firing"))
    with pytest.raises(ValueError, match="sample size must be at least 1"):
        ReportBuilder(sample_size=0)
