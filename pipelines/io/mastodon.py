"""The Mastodon ingester: the streaming API's server-sent events -> SocialEvents (pipelines/model/mastodon.py).

    python -m pipelines.ingest mastodon --instance https://mastodon.social --token_file F \
        (--kafka_bootstrap HOST:PORT | --output FILE.jsonl) [--stream public|public:local|hashtag:TAG|user]

The stream is read by a thread into a queue, so the main loop can honour SIGTERM and `--idle_exit` while the
connection waits for the next event (the server's heartbeat comes every 15 s or so). A dropped connection is
retried with backoff and jitter; on reconnection the gap is filled from the matching REST timeline, paging
forward with `min_id` from the newest status id delivered (statuses the stream then repeats are dropped by
event_id). Since Mastodon 4.2 streaming needs an access token (`--token_file`); it is sent as a bearer token
and never logged.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipelines.io.social import Delivery, StateFile, Stop, backoff_s, log
from pipelines.model.mastodon import map_status, map_stream_event

MAX_GAP_PAGES = 25  # at most 1,000 statuses (40 a page) fetched to fill one reconnection gap


@dataclass(frozen=True)
class MastodonOptions:
    instance: str  # https://host[:port]
    stream: str = "public"
    token: str | None = None
    state_file: Path | None = None
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0

    @property
    def host(self) -> str:
        return urlsplit(self.instance).netloc


def stream_endpoints(stream: str) -> tuple[str, dict[str, str], str, dict[str, str]]:
    """(streaming path, its params, REST timeline path, its params) of a stream name."""
    if stream == "public":
        return "/api/v1/streaming/public", {}, "/api/v1/timelines/public", {}
    if stream == "public:local":
        return "/api/v1/streaming/public/local", {}, "/api/v1/timelines/public", {"local": "true"}
    if stream == "user":
        return "/api/v1/streaming/user", {}, "/api/v1/timelines/home", {}
    if stream.startswith("hashtag:") and stream[8:]:
        tag = stream[8:]
        return "/api/v1/streaming/hashtag", {"tag": tag}, f"/api/v1/timelines/tag/{tag}", {}
    raise ValueError(f"--stream must be public, public:local, hashtag:TAG or user, got {stream!r}")


def _read_stream(client: Any, url: str, params: dict[str, str], out: queue.Queue[tuple[Any, ...]]) -> None:
    """Server-sent events -> ("event", name, data, received_ms) on `out`; ("end", reason) when it stops."""
    import httpx

    try:
        with client.stream("GET", url, params=params, headers={"Accept": "text/event-stream"}) as response:
            if response.status_code in (401, 403, 404):  # a wrong token or stream: retrying cannot help
                out.put(("fatal", f"{url} answered HTTP {response.status_code}"))
                return
            if response.status_code != 200:
                out.put(("end", f"HTTP {response.status_code}"))
                return
            out.put(("open",))
            name, data = "message", list[str]()
            for line in response.iter_lines():
                if line == "":
                    if data:
                        out.put(("event", name, "\n".join(data), int(time.time() * 1000)))
                    name, data = "message", list[str]()
                elif not line.startswith(":"):  # a line starting with ':' is a comment (the heartbeat)
                    key, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if key == "event":
                        name = value
                    elif key == "data":
                        data.append(value)
        out.put(("end", "the server closed the stream"))
    except (httpx.HTTPError, OSError, RuntimeError) as error:  # RuntimeError: the client was closed under us
        out.put(("end", f"{type(error).__name__}: {error}"))


def _status_id(status: Any) -> int | None:
    value = status.get("id") if isinstance(status, dict) else None
    return int(value) if isinstance(value, str) and value.isdigit() else None


def fill_gap(client: Any, options: MastodonOptions, since_id: int, delivery: Delivery) -> int:
    """Statuses after `since_id` from the REST timeline, oldest page first; returns the newest id seen."""
    import httpx

    _, _, path, params = stream_endpoints(options.stream)
    newest = since_id
    for _ in range(MAX_GAP_PAGES):
        try:
            response = client.get(path, params={**params, "min_id": str(newest), "limit": "40"})
            response.raise_for_status()
            page = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log(f"mastodon: cannot fill the gap from {path} ({type(error).__name__}: {error})")
            return newest
        if not isinstance(page, list) or not page:
            return newest
        received_ms = int(time.time() * 1000)
        for status in sorted(page, key=lambda s: _status_id(s) or 0):
            delivery.take(map_status(status, options.host, received_ms), _json(status), f"{options.instance}{path}")
        newest = max(newest, *(_status_id(s) or 0 for s in page))
        if delivery.done:
            return newest
    return newest


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def ingest_mastodon(options: MastodonOptions, delivery: Delivery, stop: Stop, rng: random.Random) -> None:
    """Reads the stream until `stop` (a signal, --idle_exit, --max_events); everything flushed on return."""
    import httpx

    state = StateFile(options.state_file)
    saved = state.load().get("last_status_id")
    delivery.cursor = saved if type(saved) is int else None
    path, params, _, _ = stream_endpoints(options.stream)
    headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
    timeout = httpx.Timeout(10.0, read=None)  # the stream may be quiet for long; idleness is ours to judge
    failures, connections = 0, 0

    def checkpoint() -> None:
        delivery.sink.flush()  # first: the state file never runs ahead of what was delivered
        if delivery.cursor is not None:
            state.save({"last_status_id": delivery.cursor})

    try:
        while not stop.requested:
            with httpx.Client(
                base_url=options.instance, headers=headers, timeout=timeout, follow_redirects=True
            ) as client:
                if delivery.cursor is not None:
                    delivery.cursor = fill_gap(client, options, delivery.cursor, delivery)
                events: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=10_000)
                reader = threading.Thread(target=_read_stream, args=(client, path, params, events), daemon=True)
                reader.start()
                ended = ""
                while not stop.requested and not ended:
                    try:
                        item = events.get(timeout=0.5)
                    except queue.Empty:
                        stop.idle()
                        continue
                    if item[0] == "open":
                        connections += 1
                        failures = 0
                        if connections > 1:
                            delivery.metrics.reconnects.labels(delivery.metrics.source).inc()
                    elif item[0] == "event":
                        _, name, data, received_ms = item
                        stop.frame()
                        mapped = map_stream_event(name, data, options.host, received_ms)
                        delivery.take(mapped, data, f"{options.instance}{path} event {name}")
                        if delivery.done:
                            stop.set(f"{delivery.delivered} events delivered")
                    elif item[0] == "fatal":
                        hint = " (check --token_file)" if "HTTP 40" in item[1] and "404" not in item[1] else ""
                        raise ValueError(f"--instance: {item[1]}{hint}")
                    else:
                        ended = item[1]
            checkpoint()
            if stop.requested or stop.idle():
                break
            failures += 1
            delay = backoff_s(failures, options.backoff_initial_s, options.backoff_max_s, rng)
            log(f"mastodon: stream ended ({ended}); reconnecting in {delay:.1f}s")
            stop.sleep(delay)
    finally:
        checkpoint()
