"""pipelines/cli/flink.py: which job server a FlinkRunner submission uses, which runner options it accepts, and
checkpointing on by default. Pure logic: the job server's option list is a stub here (tests/flink asks a real one).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli.flink import DEFAULT_CHECKPOINTING_INTERVAL_MS, RunnerOption, is_flink, local_cluster, prepare
from pipelines.cli.options import OptionError

# A few of the options Beam 2.62's Flink job server declares (DescribePipelineOptions), with their types.
DECLARED = [
    RunnerOption("checkpointing_interval", "INTEGER"),
    RunnerOption("state_backend", "STRING"),
    RunnerOption("savepoint_path", "STRING"),
    RunnerOption("externalized_checkpoints_enabled", "BOOLEAN"),
    RunnerOption("parallelism", "INTEGER"),
]


def described(endpoints: list[str]):
    def describe(job_endpoint: str) -> list[RunnerOption]:
        endpoints.append(job_endpoint)
        return DECLARED

    return describe


@pytest.fixture
def flink_home(tmp_path: Path) -> Path:
    (tmp_path / "endpoints.json").write_text(
        json.dumps(
            {"flink_master": "127.0.0.1:18081", "job_endpoint": "127.0.0.1:18099", "worker_pool": "127.0.0.1:15000"}
        )
    )
    return tmp_path


def test_is_flink_by_runner_name():
    assert is_flink(["--runner", "FlinkRunner"]) and is_flink(["--runner=flink"])
    assert not is_flink(["--runner", "PrismRunner"]) and not is_flink([])


def test_the_local_cluster_is_found_by_its_rest_address(flink_home: Path):
    cluster = local_cluster("localhost:18081", flink_home)
    assert cluster is not None and cluster["job_endpoint"] == "127.0.0.1:18099"
    assert local_cluster("http://127.0.0.1:18081", flink_home) is not None
    assert local_cluster("127.0.0.1:8081", flink_home) is None  # another port: another cluster
    assert local_cluster("flink.example:18081", flink_home) is None  # not on this machine
    assert local_cluster("localhost:18081", flink_home / "nowhere") is None


def test_a_local_cluster_needs_no_other_flag(flink_home: Path):
    asked: list[str] = []
    args = ["--runner", "FlinkRunner", "--flink_master", "localhost:18081"]
    submission = prepare(args, streaming=True, flink_home=flink_home, describe=described(asked))
    assert asked == ["127.0.0.1:18099"]
    beam = submission.beam_args
    assert beam[beam.index("--job_endpoint") + 1] == "127.0.0.1:18099"
    assert beam[beam.index("--environment_type") + 1] == "EXTERNAL"
    assert beam[beam.index("--environment_config") + 1] == "127.0.0.1:15000"
    assert f"--checkpointing_interval={DEFAULT_CHECKPOINTING_INTERVAL_MS}" in beam
    # Bundles finished before each barrier, else output buffered in a snapshot goes late (tests/flink proves it).
    assert beam.count("--finish_bundle_before_checkpointing") == 1
    assert submission.job_name.startswith("reciprocity-") and not submission.drain_at_end
    assert len(submission.chosen) == 3  # job server, worker pool, checkpointing: each said on stderr


def test_what_the_user_gives_is_kept(flink_home: Path):
    args = [
        "--runner=FlinkRunner",
        "--flink_master=localhost:18081",
        "--environment_type=LOOPBACK",
        "--checkpointing_interval",
        "60000",
        "--job_name",
        "mine",
    ]
    submission = prepare(args, streaming=True, until_end=True, flink_home=flink_home, describe=described([]))
    assert "--environment_config" not in submission.beam_args
    assert not any(a.startswith("--checkpointing_interval=") for a in submission.beam_args)
    assert submission.job_name == "mine" and submission.drain_at_end


def test_batch_is_not_given_checkpointing(flink_home: Path):
    args = ["--runner", "FlinkRunner", "--flink_master", "localhost:18081"]
    submission = prepare(args, streaming=False, flink_home=flink_home, describe=described([]))
    assert not any(a.startswith("--checkpointing_interval") for a in submission.beam_args)
    assert "--finish_bundle_before_checkpointing" not in submission.beam_args


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--checkpointing_intervall", "5"], "unrecognized option '--checkpointing_intervall' (see --help)"),
        (["--checkpointing_interval", "often"], "--checkpointing_interval: must be a whole number, got 'often'"),
    ],
)
def test_a_misspelt_or_ill_typed_runner_option_is_refused(flink_home: Path, extra: list[str], message: str):
    args = ["--runner", "FlinkRunner", "--flink_master", "localhost:18081", *extra]
    with pytest.raises(OptionError) as refused:
        prepare(args, streaming=True, flink_home=flink_home, describe=described([]))
    assert str(refused.value) == message


def test_the_runners_own_options_are_accepted(flink_home: Path):
    args = ["--runner", "FlinkRunner", "--flink_master", "localhost:18081", "--state_backend", "rocksdb"]
    args += ["--savepoint_path", "/tmp/sp", "--externalized_checkpoints_enabled"]
    submission = prepare(args, streaming=True, flink_home=flink_home, describe=described([]))
    assert "--state_backend" in submission.beam_args


@pytest.mark.parametrize(
    ("args", "until_end", "message"),
    [
        (["--flink_master", "[local]"], False, "--flink_master [local] makes Beam download"),
        (["--flink_master", "flink.example:8081"], False, "--flink_master flink.example:8081 is not the local"),
        (["--job_endpoint", "js:8099"], True, "--until_end_offsets on Flink needs --flink_master"),
    ],
)
def test_what_cannot_work_here_is_one_line(flink_home: Path, args: list[str], until_end: bool, message: str):
    with pytest.raises(OptionError) as refused:
        prepare(
            ["--runner", "FlinkRunner", *args],
            streaming=True,
            until_end=until_end,
            flink_home=flink_home,
            describe=described([]),
        )
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
