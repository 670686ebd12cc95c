"""Avro container files of SocialEvents (fastavro), the replay format of choice."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pipelines.model.events import SocialEvent
from pipelines.schemas import schema


def write_events(path: Path, events: Iterable[SocialEvent], codec: str = "deflate") -> int:
    """Writes the events in the SocialEvent schema; returns how many were written."""
    import fastavro

    count = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal count
        for event in events:
            count += 1
            yield event.to_record()

    with path.open("wb") as handle:
        fastavro.writer(handle, schema("SocialEvent"), records(), codec=codec)
    return count
