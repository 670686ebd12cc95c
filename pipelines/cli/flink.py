"""Submitting the job to a Flink cluster: which job server, which runner options, checkpointing on by default.

    python -m pipelines.reciprocity --runner FlinkRunner --flink_master localhost:8081 \\
        --environment_type EXTERNAL --environment_config localhost:50000 --kafka_bootstrap 127.0.0.1:9092 ...

Beam's Python FlinkRunner submits through Beam's Flink job server (Java). Left alone it would start one from a
jar it downloads, which cannot work here (see deploy/local/flink-jobserver.sh), so this module gives it the job
server of the local cluster that deploy/local/flink.sh runs: the one named in that cluster's endpoints.json when
--flink_master is the cluster's REST address, else 127.0.0.1:8099 for a loopback master. A remote cluster needs
--job_endpoint (or --flink_job_server_jar); the one-line error says so.

The Flink runner's own options (--checkpointing_interval, --state_backend, --savepoint_path, ...) are declared by
the job server in Java, not by the Python SDK: Beam asks the job server for them at submission and forwards
those given. This module asks the same job server first, so a misspelt or ill-typed option is still refused
with one line before anything is submitted.

A streaming job checkpoints every 10 s unless --checkpointing_interval says otherwise: without checkpoints a
failure restarts it from nothing, and Beam finalizes bundles (which commits the Kafka offsets) only after a
completed checkpoint. Beam must be told through its own option: a cluster-side checkpoint interval alone leaves
Beam believing checkpointing is off, and its source shutdown then blocks every checkpoint.

A streaming job also finishes its bundles before each checkpoint barrier (--finish_bundle_before_checkpointing,
always added). Left at the runner's default, an operator finishes its bundle inside the snapshot, buffers that
bundle's output until after the barrier, yet emits the watermark the finished bundle allows at once: the buffered
elements then arrive behind their watermark, and the next stateful stage drops them as late (Beam's
StatefulParDoDropped counter; measured: 64-208 of 47k events lost per run, at a 2 s checkpoint interval).
"""

from __future__ import annotations

import ipaddress
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.cli.options import OptionError, OptionParser, check_beam_args, whole_number

DEFAULT_CHECKPOINTING_INTERVAL_MS = 10_000
LOCAL_JOB_PORT = 8099
MAGIC_MASTERS = ("[local]", "[auto]")
ROOT = Path(__file__).resolve().parents[2]
DESCRIBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RunnerOption:
    """One option the job server declares (DescribePipelineOptions): its name and Beam's type name."""

    name: str
    type: str  # STRING, BOOLEAN, INTEGER, NUMBER, ARRAY or OBJECT


@dataclass
class FlinkSubmission:
    """Beam's arguments for a Flink submission, and what was chosen on the user's behalf (to be said).

    `drain_at_end`: a bounded streaming job (--until_end_offsets) that must be stopped once its data is done,
    through the REST API at `flink_master`, where it runs as `job_name` (see pipelines/io/flink_rest.py)."""

    beam_args: list[str]
    job_name: str
    flink_master: str
    drain_at_end: bool = False
    chosen: list[str] = field(default_factory=list)


def _flag_value(beam_args: Sequence[str], name: str) -> str | None:
    """The last value of --name in Beam's arguments (`--name v` or `--name=v`), or None."""
    value = None
    for i, arg in enumerate(beam_args):
        if arg == f"--{name}" and i + 1 < len(beam_args):
            value = beam_args[i + 1]
        elif arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
    return value


def _has_flag(beam_args: Sequence[str], name: str) -> bool:
    return any(arg == f"--{name}" or arg.startswith(f"--{name}=") for arg in beam_args)


def is_flink(beam_args: Sequence[str]) -> bool:
    runner = _flag_value(beam_args, "runner") or ""
    return runner.rsplit(".", 1)[-1].lower() in ("flinkrunner", "flink")


def _host_port(address: str) -> tuple[str, int | None]:
    address = address.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
    host, _, port = address.rpartition(":")
    if not host:
        return address, None
    return host.strip("[]"), int(port) if port.isdigit() else None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_cluster(flink_master: str, flink_home: Path | None = None) -> dict[str, object] | None:
    """The endpoints of the deploy/local/flink.sh cluster whose REST address is `flink_master`, if it is one."""
    home = flink_home or Path(os.environ.get("FLINK_HOME") or ROOT / ".cache" / "flink")
    try:
        endpoints = json.loads((home / "endpoints.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    host, port = _host_port(flink_master)
    their_host, their_port = _host_port(str(endpoints.get("flink_master", "")))
    if port == their_port and _is_loopback(host) and _is_loopback(their_host):
        return dict(endpoints)
    return None


def describe_options(job_endpoint: str, timeout: float = DESCRIBE_TIMEOUT_S) -> list[RunnerOption]:
    """The pipeline options the job server at `job_endpoint` declares; OptionError when it does not answer."""
    import grpc
    from apache_beam.portability.api import beam_job_api_pb2, beam_job_api_pb2_grpc

    channel = grpc.insecure_channel(job_endpoint)
    try:
        response = beam_job_api_pb2_grpc.JobServiceStub(channel).DescribePipelineOptions(
            beam_job_api_pb2.DescribePipelineOptionsRequest(), timeout=timeout
        )
    except grpc.RpcError as error:
        raise OptionError(
            f"no Beam Flink job server answers on {job_endpoint} ({error.code().name}): start the local cluster "
            "with `make flink-up`, or give --job_endpoint HOST:PORT of the cluster's job server"
        ) from None
    finally:
        channel.close()
    names = beam_job_api_pb2.PipelineOptionType.Enum
    return [RunnerOption(option.name, names.Name(option.type)) for option in response.options]


def check_runner_options(beam_args: Sequence[str], declared: Sequence[RunnerOption]) -> None:
    """Refuse a flag neither the Python SDK nor the job server knows, and an ill-typed value of a declared one."""
    check_beam_args(list(beam_args), extra=[option.name for option in declared])
    parser = OptionParser(add_help=False, allow_abbrev=False)
    for option in declared:
        if option.type == "INTEGER":
            parser.add_argument(f"--{option.name}", type=whole_number)
    parser.parse_known_args(list(beam_args))


def prepare(
    beam_args: Sequence[str],
    *,
    streaming: bool,
    until_end: bool = False,
    flink_home: Path | None = None,
    describe: Callable[[str], list[RunnerOption]] = describe_options,
) -> FlinkSubmission:
    """Beam's arguments completed for a FlinkRunner submission; OptionError (one line) when it cannot work.

    `describe` asks a job server for its options (a parameter so the logic can be tested without one)."""
    args = list(beam_args)
    chosen: list[str] = []
    master = _flag_value(args, "flink_master") or "[auto]"
    job_endpoint = _flag_value(args, "job_endpoint")
    job_name = _flag_value(args, "job_name")
    if job_name is None:
        # Unique, so that the REST API can tell this job from others on the cluster.
        job_name = f"reciprocity-{uuid.uuid4().hex[:8]}"
        args += ["--job_name", job_name]
    drain = streaming and until_end
    if drain and master in MAGIC_MASTERS:
        raise OptionError(
            "--until_end_offsets on Flink needs --flink_master HOST:PORT (the REST API), to end the job once its "
            "data is done"
        )
    submission = FlinkSubmission(args, job_name, master, drain_at_end=drain, chosen=chosen)
    if _has_flag(args, "flink_submit_uber_jar") or _flag_value(args, "flink_job_server_jar"):
        # Beam starts (or bypasses) a job server of the user's choosing; nothing to find or ask beforehand.
        submission.beam_args = _with_checkpointing(args, streaming, chosen)
        return submission
    if job_endpoint is None:
        if master in MAGIC_MASTERS:
            raise OptionError(
                f"--flink_master {master} makes Beam download its Flink job server jar, which is not served here: "
                "run the local cluster (`make flink-up`) and give --flink_master localhost:8081"
            )
        host, _ = _host_port(master)
        cluster = local_cluster(master, flink_home)
        if cluster is not None:
            job_endpoint = str(cluster["job_endpoint"])
            chosen.append(f"the local cluster's Beam Flink job server at {job_endpoint} (deploy/local/flink.sh)")
            if _flag_value(args, "environment_type") is None:
                pool = str(cluster["worker_pool"])
                args += ["--environment_type", "EXTERNAL", "--environment_config", pool]
                chosen.append(f"the local cluster's Python worker pool at {pool} (--environment_type EXTERNAL)")
        elif _is_loopback(host):
            job_endpoint = f"127.0.0.1:{LOCAL_JOB_PORT}"
            chosen.append(f"the Beam Flink job server at {job_endpoint}")
        else:
            raise OptionError(
                f"--flink_master {master} is not the local cluster: give --job_endpoint HOST:PORT of Beam's Flink "
                "job server for it (deploy/local/flink.sh runs one on 8099)"
            )
        args += ["--job_endpoint", job_endpoint]
    declared = describe(job_endpoint)
    check_runner_options(args, declared)
    submission.beam_args = _with_checkpointing(args, streaming, chosen)
    return submission


def _with_checkpointing(args: list[str], streaming: bool, chosen: list[str]) -> list[str]:
    """A streaming job's checkpoint options: an interval unless given, bundles finished before each barrier."""
    if not streaming:
        return args
    args = list(args)
    if not _has_flag(args, "checkpointing_interval"):
        chosen.append(
            f"checkpointing every {DEFAULT_CHECKPOINTING_INTERVAL_MS // 1000} s "
            f"(--checkpointing_interval {DEFAULT_CHECKPOINTING_INTERVAL_MS})"
        )
        args.append(f"--checkpointing_interval={DEFAULT_CHECKPOINTING_INTERVAL_MS}")
    if not _has_flag(args, "finish_bundle_before_checkpointing"):
        args.append("--finish_bundle_before_checkpointing")  # see the module docstring: without it, data goes late
    return args


def finish_when_drained(submission: FlinkSubmission) -> str:
    """Ends a bounded streaming job on Flink once its data is done (see pipelines/io/flink_rest.py); its state."""
    from pipelines.io.flink_rest import FlinkRest

    client = FlinkRest(submission.flink_master)
    try:
        return client.finish_when_drained(client.wait_for_job(submission.job_name))
    finally:
        client.close()
