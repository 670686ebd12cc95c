"""Bluesky Jetstream frames -> SocialEvents: the mapping documented in the README ("Live sources").

Jetstream (github.com/bluesky-social/jetstream) turns the AT Protocol firehose into one JSON object per
WebSocket message: `{"did", "time_us", "kind": "commit"|"identity"|"account", "commit": {"rev", "operation":
"create"|"update"|"delete", "collection", "rkey", "record", "cid"}}`. Records follow the app.bsky lexicons
(feed.post, feed.repost, feed.like, graph.follow, actor.profile). Accounts are DIDs; posts are at:// URIs
whose authority is the author's DID, which is how a reply, repost or like names the account it engages.

Pure functions (no network, no Beam): the ingester (pipelines/io/bluesky.py) calls `map_frame` per message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pipelines.model.events import SocialEvent
from pipelines.model.mapped import FrameError, Mapped, bounded_time, dead, text_or_none

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
LIKE = "app.bsky.feed.like"
FOLLOW = "app.bsky.graph.follow"
PROFILE = "app.bsky.actor.profile"
COLLECTIONS = (POST, REPOST, LIKE, FOLLOW, PROFILE)
MENTION_FEATURE = "app.bsky.richtext.facet#mention"
QUOTE_EMBEDS = ("app.bsky.embed.record", "app.bsky.embed.recordWithMedia")
# A record created more than this before Jetstream saw its commit is backdated (an import): its event time
# becomes the commit time, so a live window does not drop it as late.
MAX_BACKDATE_MS = 15 * 60 * 1000
SKIP_REASONS = ("delete", "update", "identity", "account", "collection", "unknown_kind")


def author_of(uri: Any, where: str) -> str:
    """The DID (authority) of an at:// URI; FrameError when the value is not one."""
    if type(uri) is not str or not uri.startswith("at://"):
        raise FrameError("bad_record", f"{where} is not an at:// URI: {uri!r}")
    authority = uri[5:].split("/", 1)[0]
    if not authority:
        raise FrameError("bad_record", f"{where} has no authority: {uri!r}")
    return authority


def _strong_ref_uri(value: Any, where: str) -> str:
    if type(value) is not dict:
        raise FrameError("bad_record", f"{where} must be an object with a uri, got {type(value).__name__}")
    uri = value.get("uri")
    author_of(uri, f"{where}.uri")
    return str(uri)


def mentioned_dids(record: dict[str, Any]) -> list[str]:
    """Distinct DIDs of the post's mention facets, in order. A malformed facet is ignored: facets are
    decoration of the text, and losing one mention is better than losing the post."""
    facets = record.get("facets")
    found: list[str] = []
    if type(facets) is not list:
        return found
    for facet in facets:
        features = facet.get("features") if type(facet) is dict else None
        if type(features) is not list:
            continue
        for feature in features:
            if type(feature) is not dict or feature.get("$type") != MENTION_FEATURE:
                continue
            did = feature.get("did")
            if type(did) is str and did.startswith("did:") and did not in found:
                found.append(did)
    return found


def quoted_post(record: dict[str, Any]) -> str | None:
    """The at:// URI of the post a quote post embeds (record or recordWithMedia embeds of a feed.post)."""
    embed = record.get("embed")
    if type(embed) is not dict or embed.get("$type") not in QUOTE_EMBEDS:
        return None
    ref = embed.get("record")
    if embed.get("$type") == QUOTE_EMBEDS[1] and type(ref) is dict:
        ref = ref.get("record")  # recordWithMedia: {"record": {"record": strongRef}, "media": ...}
    uri = ref.get("uri") if type(ref) is dict else None
    if type(uri) is not str or f"/{POST}/" not in uri:
        return None  # an embedded list, feed or starter pack is not a quote of an account's post
    author_of(uri, "embed.record.uri")
    return uri


def _first_lang(record: dict[str, Any]) -> str | None:
    langs = record.get("langs")
    return text_or_none(langs[0]) if type(langs) is list and langs else None


def _post(did: str, uri: str, record: dict[str, Any], time_ms: int, _: str) -> list[SocialEvent]:
    text, lang = text_or_none(record.get("text")), _first_lang(record)
    reply = record.get("reply")
    events: list[SocialEvent] = []
    target = None
    if reply is not None:
        if type(reply) is not dict:
            raise FrameError("bad_record", f"reply must be an object, got {type(reply).__name__}")
        parent = _strong_ref_uri(reply.get("parent"), "reply.parent")
        root = _strong_ref_uri(reply.get("root"), "reply.root")
        target = author_of(parent, "reply.parent.uri")
        events.append(
            SocialEvent(
                uri,
                "REPLY",
                did,
                time_ms,
                target_account_id=target,
                post_id=uri,
                parent_post_id=parent,
                conversation_owner_id=author_of(root, "reply.root.uri"),
                text=text,
                lang=lang,
            )
        )
    else:
        events.append(SocialEvent(uri, "POST", did, time_ms, post_id=uri, text=text, lang=lang))
    quoted = quoted_post(record)
    if quoted is not None:
        events.append(
            SocialEvent(
                uri + "#quote",
                "SHARE",
                did,
                time_ms,
                target_account_id=author_of(quoted, "embed.record.uri"),
                post_id=uri,
                parent_post_id=quoted,
                lang=lang,
            )
        )
    for mentioned in mentioned_dids(record):
        if mentioned != target and mentioned != did:  # @-mentioning the parent's author is the same reply
            events.append(
                SocialEvent(
                    f"{uri}#mention:{mentioned}",
                    "MENTION",
                    did,
                    time_ms,
                    target_account_id=mentioned,
                    post_id=uri,
                    lang=lang,
                )
            )
    return events


def _subject_event(event_type: str) -> Callable[[str, str, dict[str, Any], int, str], list[SocialEvent]]:
    def mapper(did: str, uri: str, record: dict[str, Any], time_ms: int, _: str) -> list[SocialEvent]:
        subject = _strong_ref_uri(record.get("subject"), "subject")
        target = author_of(subject, "subject.uri")
        return [
            SocialEvent(uri, event_type, did, time_ms, target_account_id=target, post_id=uri, parent_post_id=subject)
        ]

    return mapper


def _follow(did: str, uri: str, record: dict[str, Any], time_ms: int, _: str) -> list[SocialEvent]:
    subject = record.get("subject")
    if type(subject) is not str or not subject.startswith("did:"):
        raise FrameError("bad_record", f"follow subject must be a DID, got {subject!r}")
    return [SocialEvent(uri, "FOLLOW", did, time_ms, target_account_id=subject)]


def _profile(did: str, uri: str, record: dict[str, Any], time_ms: int, version: str) -> list[SocialEvent]:
    # One profile record per account (rkey "self"), rewritten at every edit: each version is its own event.
    description = record.get("description")
    return [SocialEvent(f"{uri}#{version}", "PROFILE", did, time_ms, text=text_or_none(description))]


_MAPPERS: dict[str, Callable[[str, str, dict[str, Any], int, str], list[SocialEvent]]] = {
    POST: _post,
    REPOST: _subject_event("SHARE"),
    LIKE: _subject_event("LIKE"),
    FOLLOW: _follow,
    PROFILE: _profile,
}


def _string(value: Any, where: str) -> str:
    if type(value) is not str or not value:
        raise FrameError("bad_frame", f"{where} must be a non-empty string, got {value!r}")
    return value


def map_frame(frame: str | bytes, max_backdate_ms: int | None = MAX_BACKDATE_MS) -> Mapped:
    """One Jetstream message -> events, a skip reason or a dead letter. Never raises on data."""
    try:
        doc = json.loads(frame)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        return dead(FrameError("invalid_json", f"not valid JSON: {error}"))
    if type(doc) is not dict:
        return dead(FrameError("bad_frame", f"expected a JSON object, got {type(doc).__name__}"))
    time_us = doc.get("time_us")
    if type(time_us) is not int or time_us <= 0:
        return dead(FrameError("bad_frame", f"time_us must be a positive integer, got {time_us!r}"))
    try:
        return _map_doc(doc, time_us, max_backdate_ms)
    except FrameError as error:
        return dead(error, cursor=time_us)


def _map_doc(doc: dict[str, Any], time_us: int, max_backdate_ms: int | None) -> Mapped:
    did = _string(doc.get("did"), "did")
    if not did.startswith("did:"):
        raise FrameError("bad_frame", f"did must start with 'did:', got {did!r}")
    kind = doc.get("kind")
    if kind in ("identity", "account"):
        return Mapped(skipped=kind, cursor=time_us)
    if kind != "commit":
        return Mapped(skipped="unknown_kind", cursor=time_us)
    commit = doc.get("commit")
    if type(commit) is not dict:
        raise FrameError("bad_frame", f"commit must be an object, got {type(commit).__name__}")
    operation = commit.get("operation")
    collection = _string(commit.get("collection"), "commit.collection")
    rkey = _string(commit.get("rkey"), "commit.rkey")
    if operation == "delete":
        return Mapped(skipped="delete", cursor=time_us)
    if operation not in ("create", "update"):
        raise FrameError("bad_frame", f"commit.operation must be create, update or delete, got {operation!r}")
    mapper = _MAPPERS.get(collection)
    if mapper is None:
        return Mapped(skipped="collection", cursor=time_us)
    if operation == "update" and collection != PROFILE:
        return Mapped(skipped="update", cursor=time_us)  # an edit is not a second interaction
    record = commit.get("record")
    if type(record) is not dict:
        raise FrameError("bad_record", f"commit.record must be an object, got {type(record).__name__}")
    time_ms, clamped = bounded_time(record.get("createdAt"), time_us // 1000, max_backdate_ms)
    version = str(commit.get("rev") or commit.get("cid") or time_us)
    events = mapper(did, f"at://{did}/{collection}/{rkey}", record, time_ms, version)
    return Mapped(events=events, clamped=clamped, cursor=time_us)
