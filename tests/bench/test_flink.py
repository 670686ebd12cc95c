"""The Flink rows' arithmetic: rates fitted through checkpoint steps, what "sustained" means, the scale-out ratio.

The rows themselves need two Flink clusters and minutes of producing; they run in `make bench`, not here."""

import socket

import pytest

from pipelines.bench.flink import describe_scale_out, free_port_run, scale_out
from pipelines.bench.streaming import StreamingResult, drain_rate, output_exact, steady_rates, sustained_rate


def result(offered: float, produced: float, consumed: float, slope: float, **counts: int) -> StreamingResult:
    r = StreamingResult(runner="FlinkRunner", events=1000, offered_rate=offered)
    r.produced_rate, r.consumed_rate, r.lag_slope_per_s = produced, consumed, slope
    for name, value in counts.items():
        setattr(r, name, value)
    return r


def test_offsets_committed_only_at_checkpoints_still_give_the_mean_rate():
    """Committed offsets jump every 2 s (one checkpoint) while 5k events/s arrive and 4k/s are read: fitted over
    the producing period after the warm-up, the steps give the rates, not 0 or the size of a jump."""
    started, sent_at = 100.0, 140.0
    samples = []
    for i in range(45):  # a sample a second, a little past the end of producing
        t = started + i
        ends = 5_000 * min(i, 40)
        committed = 4_000 * (i // 2 * 2)  # the offsets of the last completed checkpoint
        samples.append((t, ends, committed))
    lag_slope, consumed = steady_rates(samples, started, sent_at, warmup_s=10.0)
    assert consumed == pytest.approx(4_000, rel=0.02)
    assert lag_slope == pytest.approx(1_000, rel=0.1)


def test_a_short_run_keeps_two_thirds_for_the_fit():
    samples = [(float(t), 0, 0 if t < 4 else 100 * t) for t in range(13)]  # warming up until 4 s
    # A 10 s warm-up would leave nothing of a 12 s run; a third of it (4 s) is dropped instead.
    _, consumed = steady_rates(samples, 0.0, 12.0, warmup_s=10.0)
    assert consumed == pytest.approx(100, rel=0.1)


def test_sustained_needs_a_flat_lag_and_the_exact_output():
    assert sustained_rate(result(10_000, 9_990, 9_900, slope=150)) == (9_990, True)  # 1.5% of the rate
    assert sustained_rate(result(10_000, 9_990, 5_000, slope=5_000)) == (5_000, False)
    # Keeping up with a wrong output is not sustaining the rate.
    assert sustained_rate(result(10_000, 9_990, 9_900, slope=0, windows_differing=1)) == (9_900, False)
    assert sustained_rate(result(10_000, 9_990, 9_900, slope=0, alert_ids_missing=2))[1] is False
    assert output_exact(result(1, 1, 1, 0)) is True
    assert output_exact(result(1, 1, 1, 0, windows_missing=1)) is False


def test_scale_out_is_the_ratio_of_what_each_sustained():
    one = result(8_000, 8_000, 5_000, slope=3_000)
    two = result(8_000, 7_950, 7_800, slope=20)
    scale = scale_out(one, two)
    assert (scale.one_rate, scale.two_rate) == (5_000, 7_950)
    assert scale.one_saturated and scale.two_kept_up
    assert scale.ratio == pytest.approx(1.59)
    assert "2 TaskManagers sustain 1.59x the rate of 1" in describe_scale_out(scale)


def test_two_that_fall_behind_too_compare_consumed_rates_and_say_so():
    scale = scale_out(result(12_000, 12_000, 5_000, slope=7_000), result(12_000, 12_000, 4_500, slope=7_500))
    assert scale.ratio == pytest.approx(0.9)
    assert not scale.two_kept_up
    assert describe_scale_out(scale).endswith("0.90x the rate of 1 (and fell behind too)")


def test_one_taskmanager_that_kept_up_makes_the_comparison_meaningless():
    scale = scale_out(result(4_000, 4_000, 4_000, slope=0), result(4_000, 4_000, 4_000, slope=0))
    assert not scale.one_saturated
    assert "says nothing about scale-out" in describe_scale_out(scale)


def test_free_port_run_gives_consecutive_free_ports():
    first = free_port_run(3)
    for port in (first, first + 1, first + 2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_drain_rate_is_the_lag_at_the_last_send_over_the_time_to_empty_it():
    samples = [(9.0, 1_000, 400), (10.0, 1_200, 500), (12.0, 1_200, 900), (15.0, 1_200, 1_200)]
    assert drain_rate(samples, sent_at=10.0, drained_s=5.0) == 140.0  # 700 left at the last send, 5 s
    assert drain_rate(samples, sent_at=10.0, drained_s=None) is None  # never drained
    assert drain_rate([], sent_at=10.0, drained_s=5.0) is None


def test_make_bench_prints_the_flink_rows_and_the_ratio(capsys):
    from pipelines.bench.__main__ import print_flink

    one, two = result(8_000, 8_000, 5_000, slope=3_000), result(8_000, 7_950, 7_800, slope=20)
    one.read_rate, one.drained_s, one.drain_rate = 5_100.0, 20.0, 6_000.0
    print_flink({"rate": one, "scale_one": one, "scale_two": two, "scale_out": scale_out(one, two)})
    out = capsys.readouterr().out
    assert "streaming on Flink, 1 TaskManager x 2 slots, parallelism 2" in out
    assert "Beam's events-read counter: 5,100/s" in out
    assert "drained 20.0s after the last send (6,000/s)" in out
    assert "2 TaskManagers sustain 1.59x the rate of 1" in out
