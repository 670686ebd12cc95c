"""Command-line options of the reciprocity job: parsed and validated at start, one exact line per mistake.

Unknown options are left for Beam (runner, workers, ...), so `--runner FlinkRunner --flink_master ...` pass
straight through.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

from pipelines.cli.kafka_args import add_kafka_security_arguments, kafka_settings
from pipelines.io.kafka.security import KafkaSettings
from pipelines.model.config import DEFAULT_DELEGATION_CLIENTS, ReciprocityConfig, TierThresholds
from pipelines.model.windows import parse_duration


class OptionError(ValueError):
    """A bad option; the message is the whole one-line explanation."""


class OptionParser(argparse.ArgumentParser):
    """argparse that raises OptionError (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        # argparse says "argument --window: <reason>"; users read "--window: <reason>".
        raise OptionError(message.removeprefix("argument "))


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _lateness(text: str) -> int:
    try:
        return parse_duration(text, allow_zero=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def whole_number(text: str) -> int:
    """An argparse type: an int, or the one-line reason it is not."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _count(minimum: int) -> Callable[[str], int]:
    def count(text: str) -> int:
        value = whole_number(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return count


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


@dataclass(frozen=True)
class KafkaOptions:
    bootstrap: str
    events_topic: str
    alerts_topic: str
    windows_topic: str
    dead_letter_topic: str
    group_id: str
    until_end_offsets: bool
    json_messages: bool
    state_shards: int = 16
    commit_offsets: str = "tail"
    settings: KafkaSettings | None = None  # address and security; None: PLAINTEXT to `bootstrap`

    @property
    def client(self) -> KafkaSettings:
        """What every Kafka client of the job is built from."""
        return self.settings or KafkaSettings(self.bootstrap)


@dataclass(frozen=True)
class JobOptions:
    """What the job needs besides the metric config."""

    input: str | None
    output: Path
    sim_events: int
    sim_seed: int
    sim_days: int
    summary_top: int
    kafka: KafkaOptions | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = OptionParser(
        prog="python -m pipelines.reciprocity",
        description="Rolling engagement reciprocity per account, and one-way alerts for engagement preachers.",
        epilog="Other options (--runner, --direct_num_workers, --flink_master, ...) go to Beam.",
        allow_abbrev=False,
    )
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", help="events: a .avro/.jsonl file, a directory or a glob; default: the simulator")
    io.add_argument("--output", required=True, help="directory for alerts.jsonl, account_windows.jsonl, ...")
    io.add_argument("--watchlist", help="file with one account id a line: always treated as preachers")

    kafka = parser.add_argument_group("Kafka (streaming: events from a topic, results to topics)")
    kafka.add_argument("--kafka_bootstrap", help="e.g. 127.0.0.1:9092; turns the job into a streaming job")
    kafka.add_argument("--events_topic", default="social-events")
    kafka.add_argument("--alerts_topic", default="engagement-alerts")
    kafka.add_argument("--windows_topic", default="account-windows")
    kafka.add_argument("--dead_letter_topic", default="dead-letters")
    kafka.add_argument("--group_id", default="engagement-reciprocity", help="consumer group (offsets)")
    kafka.add_argument(
        "--until_end_offsets", action="store_true", help="read up to the end offsets seen at start, then finish"
    )
    kafka.add_argument("--json_messages", action="store_true", help="also accept JSON event messages")
    kafka.add_argument(
        "--state_shards",
        type=_count(1),
        default=16,
        help="keys the streaming state is spread over (the most parallelism it can use) (16)",
    )
    kafka.add_argument(
        "--commit_offsets",
        choices=("tail", "position"),
        help="tail: commit the offset every unpublished window's events are re-read from, so a restart (even of "
        "a runner without durable state, Prism) equals a fault-free run; position: commit what was read, a "
        "quicker restart that loses the windows open at a crash where state is not durable (tail)",
    )
    add_kafka_security_arguments(kafka)

    windows = parser.add_argument_group("windows")
    windows.add_argument("--window", type=_duration, default="24h", help="window size (24h)")
    windows.add_argument("--period", type=_duration, default="1h", help="window period (1h)")
    windows.add_argument(
        "--allowed_lateness", type=_lateness, default="0s", help="streaming: how late an event may be (0s)"
    )

    alerts = parser.add_argument_group("alerts")
    alerts.add_argument("--min_inbound", type=_count(1), default=20)
    alerts.add_argument("--max_response_rate", type=_fraction, default=0.10)
    alerts.add_argument("--resolve_response_rate", type=_fraction, default=0.20)
    alerts.add_argument("--min_preach_score", type=_fraction, default=0.2)
    alerts.add_argument("--min_preaching_posts", type=_count(1), default=2)
    alerts.add_argument(
        "--min_preach_probability",
        type=_fraction,
        default=None,
        help="a post or bio preaches when the classifier's probability reaches this "
        "(default: the threshold chosen out-of-fold on the corpus' tuning parts)",
    )
    alerts.add_argument("--count_likes", action="store_true", help="count LIKE as an interaction")

    typology = parser.add_argument_group("typology")
    typology.add_argument("--celebrity_followers", type=_count(1), default=1_000_000)
    typology.add_argument("--leader_followers", type=_count(1), default=100_000)
    typology.add_argument("--rising_followers", type=_count(1), default=10_000)
    typology.add_argument(
        "--delegation_clients",
        default=",".join(sorted(DEFAULT_DELEGATION_CLIENTS)),
        help="comma-separated publishing tools whose replies count as delegated",
    )

    sim = parser.add_argument_group("simulator (when --input is not given)")
    sim.add_argument("--sim_events", type=_count(1000), default=200_000)
    sim.add_argument("--sim_seed", type=int, default=42)
    sim.add_argument("--sim_days", type=_count(1), default=7)
    parser.add_argument("--summary_top", type=_count(0), default=10, help=argparse.SUPPRESS)
    return parser


def read_watchlist(path: str) -> frozenset[str]:
    """Account ids, one a line (# comments and blank lines skipped); a file that names none is a mistake."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise OptionError(f"--watchlist: cannot read {path!r}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise OptionError(f"--watchlist: {path!r} is not UTF-8 text") from None
    accounts = frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not accounts:
        raise OptionError(f"--watchlist: {path!r} lists no account (one account id a line)")
    return accounts


def check_output(path: Path) -> None:
    """The output directory exists or can be made, and a file can be written in it; OptionError otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OptionError(f"--output: cannot write to {str(path)!r}: {error.strerror}") from None


_T = TypeVar("_T")


def _subclasses(cls: type[_T]) -> list[type[_T]]:
    return [s for sub in cls.__subclasses__() for s in (sub, *_subclasses(sub))]


def check_beam_args(beam_args: list[str], extra: list[str] | None = None) -> None:
    """Beam silently discards options it does not know; a typo like --windw must fail instead.

    `extra`: option names a runner declares besides the Python SDK's (the Flink job server's, see cli/flink.py)."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    # Beam's own parser class (as PipelineOptions uses): options declared with `add_value_provider_argument`
    # need it, a plain ArgumentParser has no such method.
    parser = _BeamArgumentParser(allow_abbrev=False, add_help=False)
    for option_class in set(_subclasses(PipelineOptions)):
        try:
            option_class._add_argparse_args(parser)
        except argparse.ArgumentError:
            continue  # two plug-ins may declare the same option
    for name in extra or ():
        try:
            parser.add_argument(f"--{name}", nargs="?")
        except argparse.ArgumentError:
            continue  # the runner declares some of the SDK's options too (--parallelism, ...)
    _, unknown = parser.parse_known_args(beam_args)
    flags = [arg for arg in unknown if arg.startswith("-")]
    if flags:
        raise OptionError(f"unrecognized option {flags[0]!r} (see --help)")


def parse(argv: list[str]) -> tuple[JobOptions, ReciprocityConfig, list[str]]:
    """(job options, metric config, Beam's own arguments); raises OptionError with one line."""
    parsed, beam_args = build_parser().parse_known_args(argv)
    from pipelines.cli.flink import is_flink

    if not is_flink(beam_args):  # the Flink runner's options are known to its job server: cli/flink.py checks them
        check_beam_args(beam_args)
    try:
        tiers = TierThresholds(
            celebrity=parsed.celebrity_followers, leader=parsed.leader_followers, rising=parsed.rising_followers
        )
        preach_probability = (
            {} if parsed.min_preach_probability is None else {"min_preach_probability": parsed.min_preach_probability}
        )
        config = ReciprocityConfig(
            **preach_probability,
            window_ms=parsed.window,
            period_ms=parsed.period,
            min_inbound=parsed.min_inbound,
            max_response_rate=parsed.max_response_rate,
            resolve_response_rate=parsed.resolve_response_rate,
            min_preach_score=parsed.min_preach_score,
            min_preaching_posts=parsed.min_preaching_posts,
            count_likes=parsed.count_likes,
            allowed_lateness_ms=parsed.allowed_lateness,
            tiers=tiers,
            delegation_clients=frozenset(c for c in parsed.delegation_clients.split(",") if c.strip()),
            watchlist=read_watchlist(parsed.watchlist) if parsed.watchlist else frozenset(),
        )
    except ValueError as error:
        raise OptionError(str(error)) from None
    if parsed.kafka_bootstrap and parsed.input:
        raise OptionError("--input and --kafka_bootstrap are two sources: give one")
    if parsed.until_end_offsets and not parsed.kafka_bootstrap:
        raise OptionError("--until_end_offsets needs --kafka_bootstrap")
    if parsed.commit_offsets and not parsed.kafka_bootstrap:
        raise OptionError("--commit_offsets needs --kafka_bootstrap")
    for topic in ("events_topic", "alerts_topic", "windows_topic", "dead_letter_topic", "group_id"):
        if not getattr(parsed, topic).strip():
            raise OptionError(f"--{topic} must not be empty")
    try:
        settings = kafka_settings(parsed, parsed.kafka_bootstrap)
    except ValueError as error:
        raise OptionError(str(error)) from None
    kafka = (
        KafkaOptions(
            bootstrap=parsed.kafka_bootstrap,
            events_topic=parsed.events_topic,
            alerts_topic=parsed.alerts_topic,
            windows_topic=parsed.windows_topic,
            dead_letter_topic=parsed.dead_letter_topic,
            group_id=parsed.group_id,
            until_end_offsets=parsed.until_end_offsets,
            json_messages=parsed.json_messages,
            state_shards=parsed.state_shards,
            commit_offsets=parsed.commit_offsets or "tail",
            settings=settings,
        )
        if parsed.kafka_bootstrap
        else None
    )
    job = JobOptions(
        kafka=kafka,
        input=parsed.input,
        output=Path(parsed.output),
        sim_events=parsed.sim_events,
        sim_seed=parsed.sim_seed,
        sim_days=parsed.sim_days,
        summary_top=parsed.summary_top,
    )
    return job, config, beam_args


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
