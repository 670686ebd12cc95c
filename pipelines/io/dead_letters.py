"""The DeadLetter record (schemas/DeadLetter.avsc), built in one place for every reader and ingester.

Kept apart from the Beam file reader so the live ingesters (pipelines/io/social.py) build the same record
without importing Beam.
"""

from __future__ import annotations

import time
from typing import Any


def dead_letter(reason: str, source: str, raw: bytes | str) -> dict[str, Any]:
    """The DeadLetter record (schemas/DeadLetter.avsc)."""
    return {
        "reason": reason.splitlines()[0] if reason else "unknown",
        "source": source,
        "raw": raw.encode("utf-8") if isinstance(raw, str) else bytes(raw),
        "seen_at": int(time.time() * 1000),
    }
