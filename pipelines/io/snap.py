"""The SNAP edge-list ingester: a `src dst unix_seconds` file (plain or .gz) -> SocialEvents -> a sink.

python -m pipelines.ingest snap --input sx-mathoverflow-a2q.txt.gz --as REPLY (--output F.jsonl | --kafka_bootstrap B)
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO

from pipelines.io.social import Delivery, Stop
from pipelines.model.snap import map_edge


def open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def ingest_snap(path: Path, event_type: str, id_prefix: str, delivery: Delivery, stop: Stop) -> None:
    """Every line once, in file order; stops early on a signal or --max_events, flushed either way."""
    stem = path.name.removesuffix(".gz").removesuffix(".txt")
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, 1):
                if stop.requested:
                    break
                mapped = map_edge(line, event_type, f"{stem}:{number}", id_prefix)
                delivery.take(mapped, line.rstrip("\n"), f"{path}:{number}")
                if delivery.done:
                    stop.set(f"{delivery.delivered} events delivered")
                    break
        stop.set("end of file")
    finally:
        delivery.sink.flush()
