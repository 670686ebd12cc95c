"""The Mastodon ingester against a local Mastodon (a real HTTP server: the SSE stream and the REST timeline):
every kind mapped, the token sent, a cut stream whose gap is filled from the timeline, options refused."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from pipelines.cli.ingest import main
from pipelines.model.events import event_from_record
from pipelines.model.mastodon import map_stream_event
from tests.fixtures.mastodon import EXPECTED_DEAD, STREAM_EVENTS, account, sse, status

pytestmark = pytest.mark.timeout(120)
TOKEN = "s3cret-token-value"


class LocalMastodon:
    """Streams `events` (name, data) as server-sent events; the first connection is cut after `cut` events and
    the next one resumes `gap` events later (what a real stream misses while disconnected). The public
    timeline serves `statuses` with Mastodon's min_id paging."""

    def __init__(self, events, statuses=(), cut=None, gap=0):
        self.events, self.statuses, self.cut, self.gap = list(events), list(statuses), cut, gap
        self.requests: list[tuple[str, str | None]] = []
        self.connections = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append((self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_error(401)
                    return
                url = urlsplit(self.path)
                if url.path == "/api/v1/streaming/public":
                    owner.stream(self)
                elif url.path == "/api/v1/timelines/public":
                    owner.timeline(self, parse_qs(url.query))
                else:
                    self.send_error(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stream(self, handler):
        self.connections += 1
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        first = self.connections == 1
        events = self.events[: self.cut] if first and self.cut is not None else self.events
        if not first:
            events = self.events[(self.cut or 0) + self.gap :]
        try:
            handler.wfile.write(b":)\n\n")
            for name, data in events:
                handler.wfile.write(sse(name, data).encode())
                handler.wfile.flush()
            if first and self.cut is not None:
                return  # the connection drops
            while True:  # quiet but alive: heartbeats until the client leaves
                time.sleep(0.2)
                handler.wfile.write(b":thump\n\n")
                handler.wfile.flush()
        except OSError:
            return

    def timeline(self, handler, query):
        since = int(query.get("min_id", ["0"])[0])
        limit = int(query.get("limit", ["20"])[0])
        newer = sorted((s for s in self.statuses if int(s["id"]) > since), key=lambda s: int(s["id"]))[:limit]
        body = json.dumps(list(reversed(newer))).encode()  # newest first, as Mastodon pages
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mastodon():
    servers = []

    def start(*args, **kwargs):
        servers.append(LocalMastodon(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def token(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def run(server, token, out, *extra):
    argv = ["mastodon", "--instance", server.url, "--token_file", token, "--output", str(out), "--idle_exit", "1.5"]
    assert main([*argv, *extra]) == 0


def events_in(path):
    return [event_from_record(json.loads(line)).to_record() for line in path.read_text().splitlines()]


def expected(events, host):
    # The local server's host (127.0.0.1:PORT) qualifies ids; times are bounded by "now", far after the fixtures.
    return {e.event_id: e for n, d in events for e in map_stream_event(n, d, host, 2**62).events}


def test_every_streamed_kind_is_mapped_with_the_token_and_dead_letters_beside(mastodon, token, tmp_path, capsys):
    server = mastodon(STREAM_EVENTS)
    out = tmp_path / "events.jsonl"
    run(server, token, out)
    host = urlsplit(server.url).netloc
    want = expected(STREAM_EVENTS, host)
    got = events_in(out)
    assert len(got) == len(want)
    for record in got:
        assert record["event_time"] == want[record["event_id"]].event_time or record["event_id"].endswith("/7")
        assert record == want[record["event_id"]].to_record() | {"event_time": record["event_time"]}
    assert {r["actor_id"] for r in got} >= {f"anna@{host}", "ben@other.social", f"chloe@{host}"}
    assert sum(r["client"] == "Buffer" for r in got) == 1
    dead = (tmp_path / "events.dead_letter.jsonl").read_text().splitlines()
    assert len(dead) == sum(EXPECTED_DEAD.values())
    assert all(auth == f"Bearer {TOKEN}" for _, auth in server.requests)
    assert TOKEN not in capsys.readouterr().err  # secrets never in logs


def test_a_cut_stream_is_reconnected_and_the_gap_filled_from_the_timeline(mastodon, token, tmp_path):
    statuses = [status(n, account(n % 5, f"user{n % 5}", n), f"<p>s{n}</p>") for n in range(1, 60)]
    events = [("update", json.dumps(s)) for s in statuses]
    server = mastodon(events, statuses=statuses, cut=20, gap=25)  # 25 statuses posted while disconnected
    out = tmp_path / "events.jsonl"
    run(server, token, out, "--state_file", str(tmp_path / "state.json"))
    ids = [r["event_id"] for r in events_in(out)]
    assert len(ids) == len(set(ids)) == len(statuses)  # every status once: 20 streamed, 25 filled, 14 streamed
    assert server.connections == 2
    fills = [path for path, _ in server.requests if path.startswith("/api/v1/timelines/public")]
    assert fills and f"min_id={statuses[19]['id']}" in fills[0]
    assert json.loads((tmp_path / "state.json").read_text())["last_status_id"] == int(statuses[-1]["id"])


def test_a_refused_token_stops_at_once_with_one_line_and_no_secret(mastodon, tmp_path, capsys):
    server = mastodon(STREAM_EVENTS)
    wrong = tmp_path / "wrong"
    wrong.write_text("nope-not-the-token")
    with pytest.raises(SystemExit) as stopped:
        main(["mastodon", "--instance", server.url, "--token_file", str(wrong), "--output", str(tmp_path / "o.jsonl")])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: --instance: /api/v1/streaming/public answered HTTP 401 (check --token_file)\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stream", "hashtag:"], "--stream must be public, public:local, hashtag:TAG or user, got 'hashtag:'"),
        (["--stream", "user"], "--stream user needs --token_file (the user stream is the token's account)"),
        (["--token_file", "/nonexistent"], "--token_file: cannot read '/nonexistent': No such file or directory"),
        (["--kafka_bootstrap", "h:1"], "--kafka_bootstrap and --output are two sinks: give one"),
        (["--max_events", "0"], "--max_events: must be at least 1, got 0"),
    ],
)
def test_bad_options_stop_with_one_exact_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        main(["mastodon", "--instance", "https://m.example", "--output", str(tmp_path / "o.jsonl"), *argv])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"error: {message}\n"
