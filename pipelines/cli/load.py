"""Loads event files (.avro, .jsonl) into the events topic, event times as recorded.

    python -m pipelines.load --input events.avro --kafka_bootstrap 127.0.0.1:9092 [--rate 5000/s]

Records that break the contract are not sent; they are counted and the first reason is printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from pipelines.cli.kafka_args import add_kafka_security_arguments, kafka_settings
from pipelines.cli.options import OptionError, fail
from pipelines.cli.simulate import parse_rate
from pipelines.io.files import ReadEventFileFn, expand_inputs
from pipelines.io.kafka.admin import check_kafka
from pipelines.io.producer import produce
from pipelines.model.events import ContractError, SocialEvent, event_from_record


def read_events(pattern: str, rejected: list[str]) -> Iterator[SocialEvent]:
    for path in expand_inputs(pattern):
        records = ReadEventFileFn.read_avro(path) if path.endswith(".avro") else ReadEventFileFn.read_jsonl(path)
        for source, record, _ in records:
            try:
                if isinstance(record, ContractError):
                    raise record
                yield event_from_record(record)
            except ContractError as error:
                rejected.append(f"{source}: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.load", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="a file, a directory or a glob")
    parser.add_argument("--kafka_bootstrap", required=True)
    parser.add_argument("--topic", default="social-events")
    parser.add_argument("--rate", default=None, help="events a second, e.g. 5000/s (default: as fast as possible)")
    add_kafka_security_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        rate = parse_rate(args.rate) if args.rate else None
        expand_inputs(args.input)
        kafka = kafka_settings(args, args.kafka_bootstrap)
        assert kafka is not None  # --kafka_bootstrap is required
        check_kafka(kafka, [args.topic])
    except (OptionError, ValueError) as error:
        fail(str(error))
    rejected: list[str] = []
    produce(read_events(args.input, rejected), kafka, args.topic, rate=rate)
    if rejected:
        print(f"{len(rejected)} records not sent (contract); first: {rejected[0]}", file=sys.stderr)
    return 0
