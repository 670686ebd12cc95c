"""The Bluesky ingester: Jetstream's WebSocket -> SocialEvents (pipelines/model/bluesky.py) -> a sink.

    python -m pipelines.ingest bluesky (--kafka_bootstrap HOST:PORT | --output FILE.jsonl) [--state_file F] ...

Built to run for weeks: a dropped connection is retried with backoff and jitter; every `checkpoint_s` the sink
is flushed and then the last `time_us` delivered is written to the state file, so a restart resumes there.
Each connection asks Jetstream to replay from `overlap_s` before that cursor (its `cursor` query parameter),
so a frame in flight at the drop is not lost; the replayed events are dropped by event_id (the ids delivered
in the overlap are kept in memory, and in the state file for a restart).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from pipelines.io.social import Delivery, StateFile, Stop, backoff_s, log
from pipelines.model.bluesky import COLLECTIONS, MAX_BACKDATE_MS, map_frame

DEFAULT_ENDPOINT = "wss://jetstream2.us-east.bsky.network/subscribe"


@dataclass(frozen=True)
class JetstreamOptions:
    endpoint: str = DEFAULT_ENDPOINT
    collections: tuple[str, ...] = COLLECTIONS
    cursor: int | None = None  # an explicit start (microseconds); otherwise the state file's, otherwise live
    state_file: Path | None = None
    overlap_s: float = 3.0
    checkpoint_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_backdate_ms: int | None = MAX_BACKDATE_MS


def subscribe_url(endpoint: str, collections: tuple[str, ...], cursor: int | None) -> str:
    """Jetstream's subscribe URL: `wantedCollections` repeated, and `cursor` (time_us) to replay from."""
    params = [("wantedCollections", c) for c in collections]
    if cursor is not None:
        params.append(("cursor", str(cursor)))
    if not params:
        return endpoint
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


class _Checkpoints:
    """Flush the sink, then record the cursor: the state file never runs ahead of what was delivered."""

    def __init__(self, options: JetstreamOptions, delivery: Delivery) -> None:
        self._state = StateFile(options.state_file)
        self._delivery = delivery
        self._every_s = options.checkpoint_s
        self._overlap_us = int(options.overlap_s * 1_000_000)
        self._endpoint = options.endpoint
        self._last = time.monotonic()

    def resume(self, explicit: int | None) -> int | None:
        if explicit is not None:
            return explicit
        saved = self._state.load()
        cursor = saved.get("cursor")
        if cursor is not None and type(cursor) is not int:
            raise ValueError(f"--state_file: cursor must be an integer, got {cursor!r}")
        recent = saved.get("recent_ids") or {}
        self._delivery.remember({str(k): int(v) for k, v in recent.items()})
        return cursor

    def maybe(self) -> None:
        if time.monotonic() - self._last >= self._every_s:
            self.now()

    def now(self) -> None:
        self._delivery.sink.flush()
        self._last = time.monotonic()
        cursor = self._delivery.cursor
        if cursor is None:
            return
        recent = self._delivery.recent_since(cursor - self._overlap_us)
        self._state.save({"cursor": cursor, "endpoint": self._endpoint, "recent_ids": recent})


def ingest_bluesky(options: JetstreamOptions, delivery: Delivery, stop: Stop, rng: random.Random) -> None:
    """Reads Jetstream until `stop` (a signal, --idle_exit, --max_events); everything flushed on return."""
    from websockets.exceptions import InvalidStatus, WebSocketException
    from websockets.sync.client import connect

    checkpoints = _Checkpoints(options, delivery)
    delivery.cursor = checkpoints.resume(options.cursor)
    overlap_us = int(options.overlap_s * 1_000_000)
    first = options.cursor is not None  # an explicit --cursor is where the user asked to start, exactly
    failures, connections, received = 0, 0, 0

    try:
        while not stop.requested:
            cursor = delivery.cursor
            if cursor is not None and not first:
                cursor = max(0, cursor - overlap_us)
            first = False
            url = subscribe_url(options.endpoint, options.collections, cursor)
            try:
                with connect(url, open_timeout=10, max_size=1 << 22, ping_interval=20, close_timeout=2) as socket:
                    connections += 1
                    if connections > 1:
                        delivery.metrics.reconnects.labels(delivery.metrics.source).inc()
                    failures = 0
                    while not stop.requested:
                        try:
                            frame = socket.recv(timeout=0.5)
                        except TimeoutError:
                            stop.idle()
                            checkpoints.maybe()
                            continue
                        stop.frame()
                        received += 1
                        delivery.take(
                            map_frame(frame, options.max_backdate_ms), frame, f"{options.endpoint} frame {received}"
                        )
                        if delivery.done:
                            stop.set(f"{delivery.delivered} events delivered")
                        checkpoints.maybe()
            except (WebSocketException, OSError, TimeoutError) as error:
                status = error.response.status_code if isinstance(error, InvalidStatus) else 0
                if 400 <= status < 500 and status != 429:  # a wrong endpoint or request: retrying cannot help
                    raise ValueError(f"--endpoint: {options.endpoint} answered HTTP {status}") from None
                if stop.idle():
                    break
                failures += 1
                delay = backoff_s(failures, options.backoff_initial_s, options.backoff_max_s, rng)
                log(f"bluesky: connection lost ({type(error).__name__}: {error}); retrying in {delay:.1f}s")
                checkpoints.maybe()
                stop.sleep(delay)
                stop.idle()
    finally:
        checkpoints.now()
