"""Bench row: Jetstream frames per second the Bluesky ingester sustains into a real broker, on one core, and its RSS.

    python -m pipelines.bench.ingest --kafka_bootstrap 127.0.0.1:PORT [--frames 200000]

A local WebSocket server (a child process, so the ingester's core is its own) replays synthetic frames
shaped like Jetstream's public mix (mostly likes, then posts and replies, reposts, follows, a few profiles,
deletes and identity events) as fast as the ingester reads them; the ingester runs as
`python -m pipelines.ingest bluesky` pinned to one core and exits on --idle_exit once the replay is done.
`synthetic_frames` is also what the ingester's tests replay.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

BASE_US = 1_764_547_200_000_000  # 2025-12-01T00:00:00Z


def _iso(us: int) -> str:
    from pipelines.model.events import iso_utc

    return iso_utc(us // 1000)


def synthetic_frames(
    count: int, seed: int = 1, accounts: int = 2_000, start_us: int = BASE_US, step_us: int = 1000
) -> Iterator[str]:
    """`count` Jetstream frames, `step_us` apart, in the public stream's rough proportions."""
    rng = random.Random(seed)
    dids = [f"did:plc:{i:024x}" for i in range(accounts)]
    posts: list[str] = []
    for n in range(count):
        time_us = start_us + n * step_us
        did = rng.choice(dids)
        roll = rng.random()
        rkey = f"3lbz{n:09x}"
        if roll < 0.01:
            yield json.dumps({"did": did, "time_us": time_us, "kind": "identity", "identity": {"did": did}})
            continue
        if roll < 0.04 or not posts:
            collection, record = "app.bsky.feed.post", dict[str, Any](text=f"post {n} 💬", langs=["en"])
            if posts and rng.random() < 0.4:
                parent = rng.choice(posts)
                record["reply"] = {"root": {"uri": parent, "cid": "c"}, "parent": {"uri": parent, "cid": "c"}}
            if rng.random() < 0.1:
                record["facets"] = [
                    {
                        "index": {"byteStart": 0, "byteEnd": 4},
                        "features": [{"$type": "app.bsky.richtext.facet#mention", "did": rng.choice(dids)}],
                    }
                ]
            posts.append(f"at://{did}/{collection}/{rkey}")
            posts[:] = posts[-1000:]
        elif roll < 0.06:
            yield json.dumps(
                {
                    "did": did,
                    "time_us": time_us,
                    "kind": "commit",
                    "commit": {"rev": rkey, "operation": "delete", "collection": "app.bsky.feed.like", "rkey": rkey},
                }
            )
            continue
        elif roll < 0.70:
            collection, record = "app.bsky.feed.like", {"subject": {"uri": rng.choice(posts), "cid": "c"}}
        elif roll < 0.82:
            collection, record = "app.bsky.feed.repost", {"subject": {"uri": rng.choice(posts), "cid": "c"}}
        elif roll < 0.99:
            collection, record = "app.bsky.graph.follow", {"subject": rng.choice(dids)}
        else:
            collection, record, rkey = "app.bsky.actor.profile", {"description": f"bio {n}"}, "self"
        record = {"$type": collection, **record, "createdAt": _iso(time_us - 300_000)}
        commit: dict[str, Any] = {"rev": f"3lbz{n:09x}", "operation": "create", "collection": collection, "rkey": rkey}
        yield json.dumps({"did": did, "time_us": time_us, "kind": "commit", "commit": {**commit, "record": record}})


class JetstreamReplay:
    """A local Jetstream: replays `frames` from the `cursor` query parameter on (time_us >= cursor), then keeps
    the connection open and quiet. `drop_after` lists frame counts after which a connection is cut (one cut
    per entry, in order): the disconnect tests. `interval_s` paces the frames (0: as fast as the client reads),
    so a replay can stand in for a live stream over wall time (the dashboard's live test)."""

    def __init__(self, frames: list[str], drop_after: list[int] | None = None, interval_s: float = 0.0) -> None:
        from websockets.sync.server import serve

        self.frames = frames
        self.interval_s = interval_s
        self.positions = []
        last = 0
        for frame in frames:
            with contextlib.suppress(ValueError, KeyError, TypeError):  # a malformed frame stays where recorded
                last = int(json.loads(frame)["time_us"])
            self.positions.append(last)
        self.drops = list(drop_after or [])
        self.requests: list[str] = []
        self._server = serve(self._handle, "127.0.0.1", 0, max_size=None, process_request=self._only_subscribe)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/subscribe"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @staticmethod
    def _only_subscribe(connection: Any, request: Any) -> Any:
        """Jetstream serves /subscribe; any other path is a 404, as a wrong --endpoint would meet."""
        if not request.path.startswith("/subscribe"):
            return connection.respond(404, "not found\n")
        return None

    def _handle(self, socket: Any) -> None:
        from urllib.parse import parse_qs, urlsplit

        path = socket.request.path
        self.requests.append(path)
        cursor = parse_qs(urlsplit(path).query).get("cursor")
        start = 0
        if cursor:
            start = next((i for i, at in enumerate(self.positions) if at >= int(cursor[0])), len(self.frames))
        from websockets.exceptions import ConnectionClosed

        cut = self.drops.pop(0) if self.drops else None
        try:
            for sent, frame in enumerate(self.frames[start:]):
                if cut is not None and sent == cut:
                    socket.close(1011, "replay server cut the connection")
                    return
                socket.send(frame)
                if self.interval_s:
                    time.sleep(self.interval_s)
            for _ in socket:  # stay open, quiet, until the client leaves
                pass
        except ConnectionClosed:  # the client left mid-replay (a paced replay outlives its ingester)
            return

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


IDLE_EXIT_S = 2.0  # how the measured ingester ends: this long after the last frame, not counted


def _serve_forever(count: int) -> None:
    """The child process of the bench: prints its URL, replays until killed."""
    server = JetstreamReplay(list(synthetic_frames(count)))
    print(server.url, flush=True)
    threading.Event().wait()


def run_row(bootstrap: str, frames: int, topic: str = "bench-ingest") -> dict[str, Any]:
    """Frames/s and peak RSS of `python -m pipelines.ingest bluesky` (pinned to one core) into the broker."""
    from kafka.admin import KafkaAdminClient, NewTopic

    from pipelines.bench.__main__ import measure  # the bench's row runner (wall time, tree RSS)

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    if topic not in admin.list_topics():
        admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
    admin.close()
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines.bench.ingest", "--kafka_bootstrap", "-", "--serve", str(frames)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        command = [sys.executable, "-m", "pipelines.ingest", "bluesky", "--endpoint", url, "--cursor", "0"]
        command += ["--kafka_bootstrap", bootstrap, "--topic", topic, "--idle_exit", str(IDLE_EXIT_S)]
        pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
        row = measure([*pin, *command], f"Bluesky ingester, {frames:,} frames, 1 core")
    finally:
        server.kill()
        server.wait()
    seconds = row["seconds"] - IDLE_EXIT_S
    return {
        "frames": frames,
        "seconds": round(seconds, 2),
        "frames_per_s": round(frames / seconds),
        "peak_rss_mib": round(row["peak_rss_bytes"] / 2**20),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--kafka_bootstrap", required=True)
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--topic", default="bench-ingest")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve_forever(args.serve)
        return 0
    print(json.dumps(run_row(args.kafka_bootstrap, args.frames, args.topic)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
