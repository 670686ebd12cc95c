"""What every live ingester shares: the sink (Kafka or JSON Lines), delivery (dedupe, counting, stop
conditions), the resume state file, backoff with jitter, and a clean stop on SIGTERM.

The sources (pipelines/io/bluesky.py, pipelines/io/mastodon.py, pipelines/io/snap.py) only read frames and
map them (pipelines/model/); everything a frame's outcome does happens here, once, the same way for each.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from pipelines.io.dead_letters import dead_letter
from pipelines.io.kafka.security import KafkaSettings
from pipelines.model.events import SocialEvent, iso_utc
from pipelines.model.mapped import Mapped
from pipelines.observability.metrics import IngestMetrics

DEDUPE_CAPACITY = 200_000  # recent event ids kept to drop reconnection overlaps (minutes at Jetstream's rate)


class Sink(Protocol):
    def events(self, events: list[SocialEvent]) -> None: ...
    def dead_letter(self, reason: str, source: str, raw: str | bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def dead_letter_path(path: Path) -> Path:
    """FILE.jsonl -> FILE.dead_letter.jsonl, beside it."""
    stem = path.name.removesuffix(".jsonl")
    return path.with_name(f"{stem}.dead_letter.jsonl")


class JsonlSink:
    """SocialEvent JSON Lines the job reads with --input (ISO-8601 times), dead letters beside them. Appends,
    so a resumed ingester continues the same files."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._events = path.open("a", encoding="utf-8")
        self._dead = dead_letter_path(path).open("a", encoding="utf-8")

    def events(self, events: list[SocialEvent]) -> None:
        for event in events:
            record = event.to_record()
            record["event_time"] = iso_utc(event.event_time)
            self._events.write(json.dumps(record, ensure_ascii=False) + "\n")

    def dead_letter(self, reason: str, source: str, raw: str | bytes) -> None:
        record = dead_letter(reason, source, raw)
        text = record["raw"].decode("utf-8", errors="backslashreplace")
        line = {**record, "raw": text, "seen_at": iso_utc(record["seen_at"])}
        self._dead.write(json.dumps(line, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        for handle in (self._events, self._dead):
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        self.flush()
        self._events.close()
        self._dead.close()


class KafkaSink:
    """Events to the events topic (pipelines/io/producer.py: Avro single-object, keyed by actor), dead letters
    to the dead-letter topic as DeadLetter records. `flush` returns once the broker acknowledged everything."""

    def __init__(self, kafka: KafkaSettings | str, topic: str, dead_letter_topic: str) -> None:
        from pipelines.io.producer import new_producer

        self._producer = new_producer(kafka)
        self._topic = topic
        self._dead_topic = dead_letter_topic

    def events(self, events: list[SocialEvent]) -> None:
        from pipelines.io.producer import send_event

        for event in events:
            send_event(self._producer, self._topic, event)

    def dead_letter(self, reason: str, source: str, raw: str | bytes) -> None:
        from pipelines.io import wire

        self._producer.send(self._dead_topic, value=wire.encode(dead_letter(reason, source, raw), "DeadLetter"))

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        try:
            self._producer.flush()
        finally:
            self._producer.close()


@dataclass
class Delivery:
    """Takes each frame's outcome: drops events already delivered (by event_id), writes the rest and dead
    letters to the sink, counts everything, and says when `max_events` is reached."""

    sink: Sink
    metrics: IngestMetrics
    max_events: int | None = None
    enrich: Callable[[list[SocialEvent]], None] | None = None  # e.g. followers counts (pipelines/io/enrich.py)
    delivered: int = 0
    cursor: int | None = None  # the latest source position taken (Jetstream time_us)
    _recent: dict[str, int] = field(default_factory=dict)  # event_id -> its frame's position, oldest first

    @property
    def done(self) -> bool:
        return self.max_events is not None and self.delivered >= self.max_events

    def remember(self, ids: dict[str, int]) -> None:
        """Ids delivered before a restart (from the state file): their replay is dropped too."""
        self._recent.update(ids)

    def take(self, mapped: Mapped, raw: str | bytes, origin: str) -> None:
        m, source = self.metrics, self.metrics.source
        m.frames.labels(source).inc()
        position = mapped.cursor if mapped.cursor is not None else 0
        if mapped.cursor is not None and (self.cursor is None or mapped.cursor > self.cursor):
            self.cursor = mapped.cursor
        if mapped.dead_reason is not None:
            if mapped.cursor is not None:  # a replayed malformed frame is dropped like a replayed event
                key = f"dead:{mapped.cursor}:{zlib.crc32(raw.encode() if isinstance(raw, str) else raw)}"
                if key in self._recent:
                    return
                self._recent[key] = position
            m.dead_letters.labels(source, mapped.dead_kind or "other").inc()
            self.sink.dead_letter(mapped.dead_reason, origin, raw)
            return
        if mapped.skipped is not None:
            m.skipped.labels(source, mapped.skipped).inc()
            return
        if mapped.clamped is not None:
            m.clamped.labels(source, mapped.clamped).inc()
        fresh = []
        for event in mapped.events:
            if event.event_id in self._recent:
                m.duplicates.labels(source).inc()
                continue
            self._recent[event.event_id] = position
            fresh.append(event)
        if len(self._recent) > DEDUPE_CAPACITY + DEDUPE_CAPACITY // 4:  # trim in batches: amortised O(1)
            oldest = iter(self._recent)
            for old in [next(oldest) for _ in range(len(self._recent) - DEDUPE_CAPACITY)]:
                del self._recent[old]
        if self.max_events is not None:
            fresh = fresh[: max(0, self.max_events - self.delivered)]
        if not fresh:
            return
        if self.enrich is not None:
            self.enrich(fresh)
        self.sink.events(fresh)
        self.delivered += len(fresh)
        for event in fresh:
            m.events.labels(source, event.event_type).inc()
        m.lag.labels(source).set(max(0.0, time.time() - fresh[-1].event_time / 1000))

    def recent_since(self, position: int) -> dict[str, int]:
        """Event ids delivered at or after a source position (newest last): what a restart must not resend."""
        ids: dict[str, int] = {}
        for event_id, at in reversed(self._recent.items()):
            if at < position:
                break
            ids[event_id] = at
        return dict(reversed(ids.items()))


class StateFile:
    """The resume state, a small JSON object written atomically (temp file + rename)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"--state_file: cannot read {str(self.path)!r}: {error}") from None
        if not isinstance(state, dict):
            raise ValueError(f"--state_file: {str(self.path)!r} is not a JSON object")
        return state

    def save(self, state: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.path)


def backoff_s(failures: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: half to all of initial * 2^(failures-1), capped. The jitter spreads
    the reconnections of many ingesters after an outage of the service they share."""
    ceiling = min(max_s, initial_s * 2 ** max(0, failures - 1))
    return ceiling * rng.uniform(0.5, 1.0)


class Stop:
    """Set by SIGTERM/SIGINT (or `--idle_exit`/`--max_events`); the read loops check it between frames."""

    def __init__(self, idle_exit_s: float | None = None) -> None:
        self.requested = False
        self.why = ""
        self.idle_exit_s = idle_exit_s
        self.last_frame = time.monotonic()

    def frame(self) -> None:
        """A frame arrived: the idle clock starts again."""
        self.last_frame = time.monotonic()

    def idle(self) -> bool:
        """Requests the stop once no frame came for `idle_exit_s` (--idle_exit); True when stopping."""
        if self.idle_exit_s is not None and time.monotonic() - self.last_frame >= self.idle_exit_s:
            self.set(f"no frame for {self.idle_exit_s:g}s")
        return self.requested

    def set(self, why: str) -> None:
        if not self.requested:
            self.requested, self.why = True, why

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[Stop]:
        def handler(signum: int, _frame: FrameType | None) -> None:
            self.set(signal.Signals(signum).name)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def sleep(self, seconds: float) -> None:
        """Sleeps, waking early when a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.requested and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def serve_metrics(metrics: IngestMetrics, port: int | None, bind: str = "127.0.0.1") -> Any:
    """Serves /metrics on bind:port; returns the server (shut it down at the end) or None."""
    if port is None:
        return None
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=bind, registry=metrics.registry)
    return server


def summary(metrics: IngestMetrics, delivered: int, why: str) -> str:
    """The one line an ingester prints when it stops."""
    frames = int(metrics.value("reciprocity_ingest_frames_total"))
    skipped, dead = _total(metrics.skipped), _total(metrics.dead_letters)
    return (
        f"{metrics.source}: {frames:,} frames, {delivered:,} events delivered, {skipped:,} skipped, "
        f"{dead:,} dead letters, {int(metrics.value('reciprocity_ingest_duplicates_dropped_total')):,} duplicates "
        f"dropped, {int(metrics.value('reciprocity_ingest_reconnects_total')):,} reconnects ({why})"
    )


def _total(counter: Any) -> int:
    """The sum of a labelled counter over all its labels."""
    return int(sum(s.value for metric in counter.collect() for s in metric.samples if s.name.endswith("_total")))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
