"""Where a report's records come from: a batch run's output folder or the pipeline's Kafka topics.

Both sources yield records in wire form (times in epoch milliseconds), alerts first, so that
pipelines/model/report.py sees the same thing whichever way the run was published. The windows file of a
1M-event run is ~1 GB: it is read line by line with orjson (~8x faster than the json module on these lines,
which is most of the report's time), never loaded whole. Topics are read from their beginning to the end
offsets seen at start (assign + end_offsets, no consumer group, nothing committed), so a report of a live
pipeline is a snapshot and always finishes.

A record that cannot be read (bad JSON, an undecodable message, a missing field) is skipped and counted;
the report says how many and why, and goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from pipelines.io import wire
from pipelines.io.kafka.security import KafkaSettings
from pipelines.io.topics import read_to_end
from pipelines.model.events import ContractError, parse_event_time
from pipelines.model.report import ReportBuilder

WINDOWS_FILE = "account_windows.jsonl"
ALERTS_FILE = "alerts.jsonl"
_TIME_FIELDS = ("window_start", "window_end")


@lru_cache(maxsize=1 << 16)  # window bounds repeat across accounts: parse each instant once
def _ms(value: str | int) -> int:
    return parse_event_time(value)


def _wire_times(record: dict[str, Any]) -> dict[str, Any]:
    for name in _TIME_FIELDS:
        if name in record:
            record[name] = _ms(record[name])
    metrics = record.get("metrics")
    if type(metrics) is dict:
        _wire_times(metrics)
    return record


class Skipped(Counter[str]):
    """Unreadable records by reason (first line of the error)."""

    def note(self, where: str, error: BaseException) -> None:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        self[f"{where}: {type(error).__name__}: {detail}"[:200]] += 1


def read_jsonl(path: Path, skipped: Skipped) -> Iterator[dict[str, Any]]:
    """The records of a JSON Lines output file in wire form; a missing file is empty."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                if type(record) is not dict:
                    raise ValueError(f"expected a JSON object, got {type(record).__name__}")
                yield _wire_times(record)
            except (orjson.JSONDecodeError, ValueError, ContractError, TypeError) as error:
                skipped.note(f"{path.name}:{number}", error)


def read_topic(
    kafka: KafkaSettings | str, topic: str, skipped: Skipped, timeout_s: float = 30.0
) -> Iterator[dict[str, Any]]:
    """The decoded records of every partition of `topic`, from the beginning to the end offsets seen at start."""
    for message in read_to_end(kafka, topic, timeout_s):
        try:
            yield wire.decode(message.value)[1]
        except ValueError as error:
            skipped.note(f"{topic}[{message.partition}]@{message.offset}", error)


def build_report(
    builder: ReportBuilder, alerts: Iterable[dict[str, Any]], windows: Iterable[dict[str, Any]], skipped: Skipped
) -> None:
    """Feeds the alerts, then the windows; a record missing a field is skipped with its reason."""
    for alert in alerts:
        try:
            builder.add_alert(alert)
        except (KeyError, TypeError) as error:
            skipped.note("alert", error)
    add = builder.add_window
    for window in windows:
        try:
            add(window)
        except (KeyError, TypeError) as error:
            skipped.note("account window", error)


def from_folder(builder: ReportBuilder, folder: Path) -> Skipped:
    windows = folder / WINDOWS_FILE
    if not windows.exists() or windows.stat().st_size == 0:
        raise ValueError(f"--output: {windows} is missing or empty; run the job first")
    skipped = Skipped()
    build_report(builder, read_jsonl(folder / ALERTS_FILE, skipped), read_jsonl(windows, skipped), skipped)
    return skipped


def from_topics(builder: ReportBuilder, kafka: KafkaSettings | str, windows_topic: str, alerts_topic: str) -> Skipped:
    skipped = Skipped()
    alerts = list(read_topic(kafka, alerts_topic, skipped))
    build_report(builder, alerts, read_topic(kafka, windows_topic, skipped), skipped)
    return skipped
