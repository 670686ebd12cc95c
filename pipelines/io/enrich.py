"""Optional followers counts for Bluesky accounts, from the public profile API (off by default).

    python -m pipelines.ingest bluesky ... --followers_api https://public.api.bsky.app [--followers_rate 5]

Jetstream carries no audience sizes, so without this every Bluesky account's tier is `unknown`. With it, each
event's actor and target DIDs are looked up in a cache; a DID not cached (or cached longer than `ttl_s` ago)
is queued, and a background thread resolves the queue with `app.bsky.actor.getProfiles` (25 DIDs a request,
at most `rate_per_s` requests a second). The ingester never waits for the API: an event whose accounts are not
known yet goes out without counts, and later events of the same accounts carry them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from pipelines.io.social import log
from pipelines.model.events import SocialEvent

BATCH = 25  # app.bsky.actor.getProfiles takes at most 25 actors
PENDING_CAP = 50_000  # DIDs waiting for a lookup; beyond this new ones wait for a later event


class FollowersCache:
    """DID -> followers count, filled in the background from the profile API at a bounded request rate."""

    def __init__(
        self,
        api: str,
        rate_per_s: float = 5.0,
        ttl_s: float = 6 * 3600,
        capacity: int = 500_000,
        client: Any = None,
    ) -> None:
        import httpx

        self._client = client or httpx.Client(base_url=api.rstrip("/"), timeout=10.0)
        self._interval_s = 1.0 / rate_per_s
        self._ttl_s = ttl_s
        self._capacity = capacity
        self._known: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._pending: dict[str, None] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self.requests = 0
        self._thread = threading.Thread(target=self._run, name="followers-cache", daemon=True)
        self._thread.start()

    def count(self, did: str) -> int | None:
        """The cached count (possibly stale); queues a lookup when missing or older than the TTL."""
        with self._lock:
            known = self._known.get(did)
            stale = known is None or time.monotonic() - known[1] > self._ttl_s
            if stale and did not in self._pending and len(self._pending) < PENDING_CAP:
                self._pending[did] = None
                self._wake.set()
            return None if known is None else known[0]

    def fill(self, events: list[SocialEvent]) -> None:
        """Sets followers_count/target_followers_count on events that lack them, from the cache."""
        for event in events:
            if event.followers_count is None:
                event.followers_count = self.count(event.actor_id)
            target = event.target_account_id
            if target is not None and event.target_followers_count is None and target.startswith("did:"):
                event.target_followers_count = self.count(target)

    def _take_batch(self) -> list[str]:
        with self._lock:
            batch = list(self._pending)[:BATCH]
            for did in batch:
                del self._pending[did]
            if not self._pending:
                self._wake.clear()
            return batch

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(0.5)
            batch = self._take_batch()
            if not batch:
                continue
            started = time.monotonic()
            self._lookup(batch)
            self._stopped.wait(max(0.0, self._interval_s - (time.monotonic() - started)))

    def _lookup(self, batch: list[str]) -> None:
        import httpx

        self.requests += 1
        try:
            response = self._client.get("/xrpc/app.bsky.actor.getProfiles", params=[("actors", d) for d in batch])
            response.raise_for_status()
            profiles = response.json().get("profiles", [])
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            log(f"followers: profile lookup failed ({type(error).__name__}: {error}); those accounts stay unknown")
            return
        now = time.monotonic()
        with self._lock:
            for profile in profiles if isinstance(profiles, list) else ():
                did, followers = profile.get("did"), profile.get("followersCount")
                if isinstance(did, str) and type(followers) is int and followers >= 0:
                    self._known[did] = (followers, now)
                    self._known.move_to_end(did)
            while len(self._known) > self._capacity:
                self._known.popitem(last=False)

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._client.close()
