"""Writes the built-in simulator's events to a file, with the ground truth beside it.

    python -m pipelines.simulate --output events.avro --events 1000000 --seed 42
    python -m pipelines.simulate --output events.jsonl --days 14
    python -m pipelines.simulate --to-kafka 127.0.0.1:9092 --rate 5000/s   # live, into the events topic

The ground truth (which accounts are one-way preachers) goes to <output stem>.truth.jsonl.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pipelines.cli.kafka_args import add_kafka_security_arguments, kafka_settings
from pipelines.cli.options import OptionError, OptionParser, fail
from pipelines.io.avro import write_events
from pipelines.io.kafka.admin import check_kafka
from pipelines.model.events import SocialEvent
from pipelines.simulator import SimulationConfig, build_network, generate_day


def _progress(days: Iterator[list[SocialEvent]], total_days: int, enabled: bool) -> Iterator[SocialEvent]:
    """A one-line progress bar on stderr, redrawn once per simulated day."""
    written, started = 0, time.monotonic()
    for day, events in enumerate(days, 1):
        yield from events
        written += len(events)
        if enabled:
            width = 30
            filled = width * day // total_days
            rate = written / max(time.monotonic() - started, 1e-9)
            print(
                f"\r[{'#' * filled}{'.' * (width - filled)}] day {day}/{total_days} {written:,} events {rate:,.0f}/s",
                end="",
                file=sys.stderr,
                flush=True,
            )
    if enabled:
        print(file=sys.stderr)


def truth_path(output: Path) -> Path:
    return output.with_name(output.name.split(".")[0] + ".truth.jsonl")


def parse_rate(text: str) -> float:
    """'5000/s' or '5000' events a second."""
    value = text.strip().removesuffix("/s")
    try:
        rate = float(value)
    except ValueError:
        raise OptionError(f"--rate: expected events a second like 5000/s, got {text!r}") from None
    if rate <= 0:
        raise OptionError(f"--rate: must be positive, got {text!r}")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = OptionParser(prog="python -m pipelines.simulate", description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--output", help="a .avro or .jsonl file")
    target.add_argument("--to-kafka", dest="to_kafka", metavar="BOOTSTRAP", help="stream to Kafka (live event times)")
    parser.add_argument("--topic", default="social-events", help="events topic with --to-kafka (social-events)")
    parser.add_argument("--rate", default=None, help="with --to-kafka: events a second, e.g. 5000/s (default: max)")
    parser.add_argument("--events", type=int, default=200_000, help="about how many events (200000)")
    parser.add_argument("--days", type=int, default=7, help="simulated days (7)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_kafka_security_arguments(parser)
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        kafka = kafka_settings(args, args.to_kafka, bootstrap_flag="--to-kafka")
        rate = parse_rate(args.rate) if args.rate else None
        if args.events < 1000:
            raise OptionError(f"--events: must be at least 1000, got {args.events}")
        config = SimulationConfig.for_events(args.events, seed=args.seed, days=args.days)
        output = Path(args.output) if args.output else None
        if output is not None and output.suffix not in (".avro", ".jsonl"):
            raise OptionError(f"--output: expected a .avro or .jsonl file name, got {args.output!r}")
        if kafka is not None:
            check_kafka(kafka, [args.topic])
    except (OptionError, ValueError) as error:
        fail(str(error))
    network = build_network(config)
    if kafka is not None:
        from pipelines.io.producer import produce

        # Live: each simulated day in event-time order, stamped with the wall clock as it is sent.
        ordered = (
            e for day in range(config.days) for e in sorted(generate_day(network, day), key=lambda e: e.event_time)
        )
        produce(ordered, kafka, args.topic, rate=rate, live=True, progress=not args.quiet)
        return 0
    assert output is not None  # --output and --to-kafka are mutually exclusive and one is required
    output.parent.mkdir(parents=True, exist_ok=True)
    days = (list(generate_day(network, day)) for day in range(config.days))
    events = _progress(days, config.days, enabled=(not args.quiet and sys.stderr.isatty()) or args.events >= 500_000)
    if output.suffix == ".avro":
        count = write_events(output, events)
    else:
        count = 0
        with output.open("w", encoding="utf-8") as handle:
            for event in events:
                handle.write(json.dumps(event.to_record(), ensure_ascii=False) + "\n")
                count += 1
    with truth_path(output).open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in network.ground_truth())
    print(f"wrote {count} events to {output} and the ground truth to {truth_path(output)}")
    return 0
