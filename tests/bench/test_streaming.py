"""The streaming benchmark's arithmetic, and one small run of it against the real broker and Prism."""

from pipelines.bench.streaming import BENCH_CONFIG, percentile, prism_path, run, slope


def test_percentile_and_slope():
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(100)], 0.99) == 99.0
    assert slope([(0.0, 10), (1.0, 20), (2.0, 30)]) == 10.0
    assert slope([(0.0, 5), (1.0, 5)]) == 0.0


def test_a_small_live_run_matches_the_batch_replay(broker):
    """Endless job, paced producer: every window and alert of the batch replay comes out of Kafka, with a
    latency, and the job kept up with a modest rate."""
    result = run(broker, 20_000, 4_000.0, prism_path(), BENCH_CONFIG, warmup_s=2.0, days=2)
    assert result.windows_expected > 0
    assert (result.windows_missing, result.windows_unexpected) == (0, 0)
    assert result.alerts == result.alerts_expected
    assert result.window_latency_p50_s is not None and result.window_latency_p50_s > 0
    assert result.drained_s is not None
