import pytest

from pipelines.cli.options import OptionError, parse


def error_of(argv):
    with pytest.raises(OptionError) as error:
        parse(argv)
    return str(error.value)


def test_defaults():
    job, config, beam_args = parse(["--output", "out"])
    assert (config.window_ms, config.period_ms, config.min_inbound) == (86_400_000, 3_600_000, 20)
    assert (config.max_response_rate, config.resolve_response_rate) == (0.10, 0.20)
    assert job.input is None and beam_args == []


def test_preach_probability_defaults_to_the_trained_threshold():
    from pipelines.model.preach_classifier import default_threshold

    _, config, _ = parse(["--output", "out"])
    assert config.min_preach_probability == default_threshold()
    _, config, _ = parse(["--output", "out", "--min_preach_probability", "0.9"])
    assert config.min_preach_probability == 0.9


def test_beam_options_pass_through():
    _, _, beam_args = parse(["--output", "o", "--runner", "DirectRunner", "--direct_num_workers=2"])
    assert beam_args == ["--runner", "DirectRunner", "--direct_num_workers=2"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: --output"),
        (
            ["--output", "o", "--window", "5x"],
            "--window: invalid duration '5x' (use a positive number followed by s, m, h or d, e.g. 90s, 15m, 1h, 7d)",
        ),
        (["--output", "o", "--window", "90m"], "--window (90m) must be a whole multiple of --period (1h)"),
        (["--output", "o", "--min_inbound", "0"], "--min_inbound: must be at least 1, got 0"),
        (
            ["--output", "o", "--kafka_bootstrap", "k:9092", "--state_shards", "0"],
            "--state_shards: must be at least 1, got 0",
        ),
        (["--output", "o", "--min_inbound", "many"], "--min_inbound: must be a whole number, got 'many'"),
        (
            ["--output", "o", "--kafka_bootstrap", "k:9092", "--commit_offsets", "latest"],
            "--commit_offsets: invalid choice: 'latest' (choose from 'tail', 'position')",
        ),
        (["--output", "o", "--commit_offsets", "position"], "--commit_offsets needs --kafka_bootstrap"),
        (["--output", "o", "--max_response_rate", "1.5"], "--max_response_rate: must be between 0 and 1, got 1.5"),
        (
            ["--output", "o", "--min_preach_probability", "2"],
            "--min_preach_probability: must be between 0 and 1, got 2",
        ),
        (
            ["--output", "o", "--min_preach_probability", "high"],
            "--min_preach_probability: must be a number between 0 and 1, got 'high'",
        ),
        (
            ["--output", "o", "--max_response_rate", "0.3"],
            "--resolve_response_rate (0.2) must be at least --max_response_rate (0.3)",
        ),
        (["--output", "o", "--windw", "2h"], "unrecognized option '--windw' (see --help)"),
        (
            ["--output", "o", "--watchlist", "/nonexistent/list"],
            "--watchlist: cannot read '/nonexistent/list': No such file or directory",
        ),
        (
            ["--output", "o", "--rising_followers", "200000"],
            "tier thresholds must satisfy 0 < rising < leader < celebrity, got rising=200000 leader=100000 "
            "celebrity=1000000",
        ),
    ],
)
def test_bad_options_fail_with_one_exact_line(argv, message):
    assert error_of(argv) == message


def test_watchlist_file(tmp_path):
    watchlist = tmp_path / "watch.txt"
    watchlist.write_text("# gurus to watch\nguru1\n\n  guru2 \n")
    _, config, _ = parse(["--output", "o", "--watchlist", str(watchlist)])
    assert config.watchlist == {"guru1", "guru2"}


def test_zero_lateness_is_allowed_and_durations_parse():
    _, config, _ = parse(["--output", "o", "--window", "2h", "--period", "15m", "--allowed_lateness", "0s"])
    assert (config.window_ms, config.period_ms, config.allowed_lateness_ms) == (7_200_000, 900_000, 0)


def test_kafka_options():
    job, _, _ = parse(["--output", "o", "--kafka_bootstrap", "127.0.0.1:9092", "--until_end_offsets"])
    assert job.kafka is not None
    assert (job.kafka.events_topic, job.kafka.alerts_topic, job.kafka.windows_topic, job.kafka.dead_letter_topic) == (
        "social-events",
        "engagement-alerts",
        "account-windows",
        "dead-letters",
    )
    assert job.kafka.until_end_offsets and not job.kafka.json_messages
    assert job.kafka.state_shards == 16
    assert job.kafka.commit_offsets == "tail"  # exact after a restart on every runner; "position" is opt-in


def test_beam_value_provider_options_are_known():
    """A PipelineOptions plug-in declaring a templated option (Beam's `add_value_provider_argument`) is
    accepted, not a crash of the typo check (a plain ArgumentParser has no such method)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    class TemplatedOptions(PipelineOptions):
        @classmethod
        def _add_argparse_args(cls, parser):
            parser.add_value_provider_argument("--test_templated_input", default="x")

    _, _, beam_args = parse(["--output", "o", "--test_templated_input", "gs://b/f"])
    assert beam_args == ["--test_templated_input", "gs://b/f"]
    assert error_of(["--output", "o", "--test_templated_inptu", "a"]) == (
        "unrecognized option '--test_templated_inptu' (see --help)"
    )
