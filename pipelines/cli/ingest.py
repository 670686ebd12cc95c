"""Live and archived social sources into the events topic (or a JSON Lines file the job reads with --input).

    python -m pipelines.ingest bluesky (--kafka_bootstrap HOST:PORT | --output FILE.jsonl) [--endpoint URL]
        [--collections app.bsky.feed.post,...] [--cursor TIME_US] [--state_file F] [--idle_exit S] [--max_events N]
    python -m pipelines.ingest mastodon --instance URL [--stream public|public:local|hashtag:TAG|user]
        [--token_file F] (--kafka_bootstrap ... | --output FILE.jsonl) [--idle_exit S]
    python -m pipelines.ingest snap --input FILE[.gz] --as REPLY|MENTION|SHARE (--kafka_bootstrap ... | --output ...)

Thin: parse, validate (one exact line per mistake), build the sink and metrics, call pipelines/io/.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipelines.cli.kafka_args import add_kafka_security_arguments, kafka_settings
from pipelines.cli.options import OptionError, OptionParser, fail
from pipelines.io.social import Delivery, JsonlSink, KafkaSink, Sink, Stop, log, serve_metrics, summary
from pipelines.model.bluesky import COLLECTIONS
from pipelines.model.snap import EDGE_TYPES
from pipelines.observability.metrics import IngestMetrics


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _whole(minimum: int, maximum: int | None = None) -> Any:
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return whole


def build_parser() -> OptionParser:
    parser = OptionParser(prog="python -m pipelines.ingest", description=__doc__.splitlines()[0], allow_abbrev=False)
    sources = parser.add_subparsers(dest="source", required=True, metavar="bluesky|mastodon|snap")
    common = OptionParser(add_help=False, allow_abbrev=False)
    sink = common.add_argument_group("sink (one of)")
    sink.add_argument("--kafka_bootstrap", help="e.g. 127.0.0.1:9092: events to --topic, dead letters beside")
    sink.add_argument("--output", help="FILE.jsonl: SocialEvent JSON Lines; dead letters to FILE.dead_letter.jsonl")
    sink.add_argument("--topic", default="social-events")
    sink.add_argument("--dead_letter_topic", default="dead-letters")
    add_kafka_security_arguments(sink)
    run = common.add_argument_group("running")
    run.add_argument("--idle_exit", type=_positive_seconds, help="stop cleanly when no frame came for this long")
    run.add_argument("--max_events", type=_whole(1), help="stop cleanly after this many events")
    run.add_argument("--metrics_port", type=_whole(1, 65535), help="serve /metrics on --metrics_bind:PORT")
    run.add_argument(
        "--metrics_bind", default="127.0.0.1", help="address /metrics listens on (127.0.0.1; 0.0.0.0 in a container)"
    )
    run.add_argument("--state_file", help="resume state (last position delivered), read at start, kept current")

    bluesky = sources.add_parser("bluesky", parents=[common], help="Bluesky Jetstream", allow_abbrev=False)
    bluesky.add_argument("--endpoint", default=None, help="Jetstream subscribe URL (ws:// or wss://)")
    bluesky.add_argument("--collections", default=",".join(COLLECTIONS), help="comma-separated NSIDs (all five)")
    bluesky.add_argument("--cursor", type=_whole(0), help="replay from this time_us (default: the state file, or live)")
    bluesky.add_argument(
        "--followers_api", help="e.g. https://public.api.bsky.app: followers counts from profiles (off by default)"
    )
    bluesky.add_argument(
        "--followers_rate", type=_positive_seconds, default=5.0, help="profile API requests a second at most (5)"
    )

    mastodon = sources.add_parser("mastodon", parents=[common], help="Mastodon streaming API", allow_abbrev=False)
    mastodon.add_argument("--instance", required=True, help="e.g. https://mastodon.social")
    mastodon.add_argument("--stream", default="public", help="public, public:local, hashtag:TAG or user")
    mastodon.add_argument("--token_file", help="a file holding an access token (needed since Mastodon 4.2)")

    snap = sources.add_parser("snap", parents=[common], help="a SNAP temporal edge list", allow_abbrev=False)
    snap.add_argument("--input", required=True, help="`src dst unix_seconds` lines, plain or .gz")
    snap.add_argument("--as", dest="edge_type", required=True, help="REPLY, MENTION or SHARE")
    snap.add_argument("--id_prefix", default="", help="prepended to the numeric account ids, e.g. mo")
    return parser


def _url(value: str, schemes: tuple[str, ...], option: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise OptionError(f"{option} must be a {' or '.join(s + '://' for s in schemes)} URL, got {value!r}")
    return value.rstrip("/")


def read_token(path: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise OptionError(f"--token_file: cannot read {path!r}: {error.strerror}") from None
    if not token:
        raise OptionError(f"--token_file: {path!r} is empty")
    return token


def validate(args: argparse.Namespace) -> None:
    """Checks across options; raises OptionError with one line."""
    if args.kafka_bootstrap and args.output:
        raise OptionError("--kafka_bootstrap and --output are two sinks: give one")
    if not args.kafka_bootstrap and not args.output:
        raise OptionError("give a sink: --kafka_bootstrap HOST:PORT or --output FILE.jsonl")
    try:
        args.kafka = kafka_settings(args, args.kafka_bootstrap)
    except ValueError as error:
        raise OptionError(str(error)) from None
    if args.output and not args.output.endswith(".jsonl"):
        raise OptionError(f"--output must name a .jsonl file, got {args.output!r}")
    for topic in ("topic", "dead_letter_topic"):
        if not getattr(args, topic).strip():
            raise OptionError(f"--{topic} must not be empty")
    if args.source == "bluesky":
        from pipelines.io.bluesky import DEFAULT_ENDPOINT

        args.endpoint = _url(args.endpoint or DEFAULT_ENDPOINT, ("ws", "wss"), "--endpoint")
        wanted = tuple(c.strip() for c in args.collections.split(",") if c.strip())
        unknown = [c for c in wanted if c not in COLLECTIONS]
        if unknown or not wanted:
            raise OptionError(
                f"--collections: unknown {unknown[0] if unknown else 'empty list'!r} (known: {', '.join(COLLECTIONS)})"
            )
        args.collections = wanted
        if args.followers_api:
            args.followers_api = _url(args.followers_api, ("http", "https"), "--followers_api")
    elif args.source == "mastodon":
        from pipelines.io.mastodon import stream_endpoints

        args.instance = _url(args.instance, ("http", "https"), "--instance")
        try:
            stream_endpoints(args.stream)
        except ValueError as error:
            raise OptionError(str(error)) from None
        if args.stream == "user" and not args.token_file:
            raise OptionError("--stream user needs --token_file (the user stream is the token's account)")
        args.token = read_token(args.token_file) if args.token_file else None
    else:
        if args.edge_type not in EDGE_TYPES:
            raise OptionError(f"--as must be one of {', '.join(EDGE_TYPES)}, got {args.edge_type!r}")
        if not Path(args.input).is_file():
            raise OptionError(f"--input: no such file {args.input!r}")


def open_sink(args: argparse.Namespace) -> Sink:
    if args.output:
        return JsonlSink(Path(args.output))
    return KafkaSink(args.kafka, args.topic, args.dead_letter_topic)


def run(args: argparse.Namespace, sink: Sink, metrics: IngestMetrics, stop: Stop) -> Delivery:
    delivery = Delivery(sink, metrics, max_events=args.max_events)
    state = Path(args.state_file) if args.state_file else None
    rng = random.Random()
    if args.source == "bluesky":
        from pipelines.io.bluesky import JetstreamOptions, ingest_bluesky

        options = JetstreamOptions(
            endpoint=args.endpoint,
            collections=args.collections,
            cursor=args.cursor,
            state_file=state,
        )
        followers = None
        if args.followers_api:
            from pipelines.io.enrich import FollowersCache

            followers = FollowersCache(args.followers_api, rate_per_s=args.followers_rate)
            delivery.enrich = followers.fill
        try:
            ingest_bluesky(options, delivery, stop, rng)
        finally:
            if followers is not None:
                followers.close()
    elif args.source == "mastodon":
        from pipelines.io.mastodon import MastodonOptions, ingest_mastodon

        ingest_mastodon(MastodonOptions(args.instance, args.stream, args.token, state), delivery, stop, rng)
    else:
        from pipelines.io.snap import ingest_snap

        ingest_snap(Path(args.input), args.edge_type, args.id_prefix, delivery, stop)
    return delivery


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
        validate(args)
    except OptionError as error:
        fail(str(error))
    metrics = IngestMetrics(args.source)
    stop = Stop(args.idle_exit)
    try:
        server = serve_metrics(metrics, args.metrics_port, args.metrics_bind)
    except OSError as error:
        fail(f"--metrics_port: cannot listen on {args.metrics_bind}:{args.metrics_port}: {error.strerror}")
    from kafka.errors import KafkaError

    try:
        sink = open_sink(args)
    except KafkaError as error:
        fail(f"--kafka_bootstrap: cannot reach Kafka at {args.kafka_bootstrap}: {error}")
    except OSError as error:
        fail(f"--output: cannot write {args.output!r}: {error.strerror}")
    try:
        with stop.on_signals():
            delivery = run(args, sink, metrics, stop)
        sink.close()
    except ValueError as error:  # an unreadable state file, a refused token: said in one line
        sink.close()
        fail(str(error))
    except KafkaError as error:  # the broker went away for longer than the producer waits: resume from the state
        log(f"error: Kafka at {args.kafka_bootstrap}: {type(error).__name__}: {error}")
        return 1
    finally:
        if server is not None:
            server.shutdown()
    log(summary(metrics, delivery.delivered, stop.why or "stopped"))
    return 0
