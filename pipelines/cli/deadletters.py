"""Prints the latest dead letters: why each input was refused, where it came from, and its first bytes.

    python -m pipelines.cli.deadletters --kafka_bootstrap 127.0.0.1:9092 --last 20

Why: the dead-letter topic holds Avro single-object messages (schemas/DeadLetter.avsc), which a console consumer
shows as bytes; the dead-letter rate alert (deploy/prometheus/rules.yml) sends the operator here to see which
producer and which field are at fault (docs/operations.md). Reads without a consumer group (nothing is
committed, the pipeline's and the exporter's offsets are untouched) and prints one JSON object a line, oldest
first, then exits.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pipelines.cli.kafka_args import add_kafka_security_arguments, kafka_settings
from pipelines.cli.options import OptionError, OptionParser, fail
from pipelines.io import wire
from pipelines.io.kafka.security import KafkaSettings
from pipelines.io.topics import read_to_end

RAW_PREVIEW = 200  # bytes of the original message shown per dead letter
MAX_IDLE_S = 5  # a broker that sends nothing for this long before the end offsets: an error


def build_parser() -> OptionParser:
    parser = OptionParser(prog="python -m pipelines.cli.deadletters", description=__doc__.split("\n")[0])
    parser.add_argument("--kafka_bootstrap", required=True, help="e.g. 127.0.0.1:9092")
    parser.add_argument("--topic", default="dead-letters")
    parser.add_argument("--last", type=int, default=20, help="how many of the latest dead letters (20)")
    parser.add_argument("--reason", default="", help="only those whose reason contains this text")
    add_kafka_security_arguments(parser)
    return parser


def parse(argv: list[str]) -> Any:
    args = build_parser().parse_args(argv)
    if args.last < 1:
        raise OptionError(f"--last must be at least 1, got {args.last}")
    if not args.topic.strip():
        raise OptionError("--topic must not be empty")
    try:
        args.kafka = kafka_settings(args, args.kafka_bootstrap)
    except ValueError as error:
        raise OptionError(str(error)) from None
    return args


def render(payload: bytes) -> dict[str, Any]:
    """One dead letter as printed; a message that is not a DeadLetter is shown as such, never fatal."""
    try:
        schema, record = wire.decode(payload)
    except ValueError as error:
        return {"unreadable": str(error), "raw": payload[:RAW_PREVIEW].decode("utf-8", "backslashreplace")}
    if schema != "DeadLetter":
        return {"unreadable": f"a {schema} record, not a DeadLetter"}
    seen_at = record["seen_at"]
    return {
        "seen_at": seen_at.isoformat() if isinstance(seen_at, datetime) else str(seen_at),
        "reason": record["reason"],
        "source": record["source"],
        "raw": bytes(record["raw"][:RAW_PREVIEW]).decode("utf-8", "backslashreplace"),
    }


def latest(kafka: KafkaSettings | str, topic: str, last: int) -> Iterator[tuple[int, bytes]]:
    """(timestamp ms, value) of up to `last` latest messages of every partition, in time order."""
    try:
        found = [(m.timestamp, m.value) for m in read_to_end(kafka, topic, timeout_s=MAX_IDLE_S, last=last)]
    except ValueError as error:
        raise OptionError(f"--topic: {error}") from None
    yield from sorted(found, key=lambda item: item[0])[-last:]


def main(argv: list[str] | None = None) -> None:
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
        letters = [render(value) for _, value in latest(args.kafka, args.topic, args.last)]
    except OptionError as error:
        fail(str(error))
    for letter in letters:
        if args.reason in letter.get("reason", letter.get("unreadable", "")):
            print(json.dumps(letter, ensure_ascii=False))
    if not letters:
        print(f"no dead letters on {args.topic} at {datetime.now(UTC).isoformat(timespec='seconds')}", file=sys.stderr)


if __name__ == "__main__":
    main()
