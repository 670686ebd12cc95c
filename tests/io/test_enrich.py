"""Followers counts from a local profile API (a real HTTP server): batches of at most 25, the request rate
bounded, the cache used, and the ingester never waiting for it."""

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from pipelines.bench.ingest import JetstreamReplay, synthetic_frames
from pipelines.cli.ingest import main
from pipelines.io.enrich import FollowersCache
from pipelines.model.events import SocialEvent
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def followers_of(did: str) -> int:
    return 1000 + sum(map(ord, did))


@pytest.fixture
def profile_api():
    calls: list[tuple[float, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urlsplit(self.path)
            actors = parse_qs(url.query).get("actors", [])
            calls.append((time.monotonic(), actors))
            if url.path != "/xrpc/app.bsky.actor.getProfiles" or len(actors) > 25:
                self.send_error(400)
                return
            profiles = [
                {"did": d, "handle": "h", "followersCount": followers_of(d)} for d in actors if d != "did:x:gone"
            ]
            body = json.dumps({"profiles": profiles}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", calls
    server.shutdown()
    server.server_close()


def test_unknown_accounts_are_looked_up_in_batches_at_the_bounded_rate_then_served_from_the_cache(profile_api):
    url, calls = profile_api
    cache = FollowersCache(url, rate_per_s=10)
    try:
        dids = [f"did:plc:{n:04d}" for n in range(60)] + ["did:x:gone"]
        assert [cache.count(d) for d in dids] == [None] * len(dids)  # never waits
        wait_for("the last account of the batches counted", lambda: cache.count(dids[59]) is not None, 10, 0.05)
        assert all(cache.count(d) == followers_of(d) for d in dids[:60])
        assert cache.count("did:x:gone") is None
        assert [len(actors) for _, actors in calls][:3] == [25, 25, 11]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(calls)]
        assert all(gap >= 0.09 for gap in gaps[:2])  # 10 requests a second at most
        event = SocialEvent("e", "LIKE", dids[0], 1, target_account_id=dids[1])
        cache.fill([event])
        assert (event.followers_count, event.target_followers_count) == (followers_of(dids[0]), followers_of(dids[1]))
    finally:
        cache.close()


def test_the_ingester_fills_counts_once_accounts_are_known(profile_api, tmp_path):
    url, calls = profile_api
    frames = list(synthetic_frames(400, seed=5, accounts=30, step_us=100_000))
    # The reconnections' backoffs (three cuts: about 0.5 + 1 + 2 s) give the lookups time even on a busy machine;
    # with a single cut, the last 100 frames overtook lookups still queued behind other processes (seen in CI).
    server = JetstreamReplay(frames, drop_after=[100, 110, 120])
    out = tmp_path / "events.jsonl"
    try:
        argv = ["bluesky", "--endpoint", server.url, "--output", str(out), "--idle_exit", "1.5"]
        assert main([*argv, "--followers_api", url, "--followers_rate", "20"]) == 0
    finally:
        server.close()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert events[0]["followers_count"] is None  # the first event did not wait for the API
    late = events[-100:]
    assert all(e["followers_count"] == followers_of(e["actor_id"]) for e in late)
    targets = [e for e in late if (e["target_account_id"] or "").startswith("did:")]
    assert targets and all(e["target_followers_count"] == followers_of(e["target_account_id"]) for e in targets)
    assert all(len(actors) <= 25 for _, actors in calls) and len(calls) <= 10  # 30 accounts: a few batches


def test_bad_followers_api_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["bluesky", "--output", str(tmp_path / "o.jsonl"), "--followers_api", "ftp://x"])
    assert capsys.readouterr().err == "error: --followers_api must be a http:// or https:// URL, got 'ftp://x'\n"
