"""The DeadLetter record (schemas/DeadLetter.avsc), built in one place for every reader and ingester.

Kept apart from the Beam file reader so the live ingesters (pipelines/io/social.py) build the same record
without importing Beam.
"""

from __future__ import annotations

import time
from typing import Any

# A dead letter keeps at most this much of the original: it must itself fit in a Kafka message (1 MiB by
# default) and in a line a person can open.
MAX_RAW_BYTES = 64 << 10
MAX_REASON_CHARS = 500


def dead_letter(reason: str, source: str, raw: bytes | str) -> dict[str, Any]:
    """The DeadLetter record (schemas/DeadLetter.avsc): a one-line reason and the original bytes, the first
    MAX_RAW_BYTES of them only (the reason then says how many there were)."""
    data = raw.encode("utf-8", errors="surrogateescape") if isinstance(raw, str) else bytes(raw)
    line = reason.splitlines()[0] if reason and reason.strip() else "unknown"
    line = line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 3] + "..."
    if len(data) > MAX_RAW_BYTES:
        line += f" [raw: first {MAX_RAW_BYTES} of {len(data)} bytes]"
        data = data[:MAX_RAW_BYTES]
    return {"reason": line, "source": source, "raw": data, "seen_at": int(time.time() * 1000)}
