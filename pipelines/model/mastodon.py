"""Mastodon statuses -> SocialEvents: the mapping documented in the README ("Live sources").

The streaming API (docs.joinmastodon.org/methods/streaming) sends server-sent events: `event: update` with a
Status entity as JSON, `event: status.update` (an edit), `event: delete` (a status id), and others for the user
stream (notification, conversation, ...). The REST timelines that fill a reconnection gap return the same
Status entities. Account and status ids are local to the instance that serves them, so every account is
qualified as `user@domain` (the `acct` of a remote account already is) and every post as `id@instance`;
event ids are the status's own `uri`, the same on every instance, so one status streamed by two instances is
one event.

Pure functions (no network, no Beam): the ingester (pipelines/io/mastodon.py) calls them.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

from pipelines.model.events import SocialEvent
from pipelines.model.mapped import FrameError, Mapped, bounded_time, count_or_none, dead, text_or_none

SKIP_REASONS = ("delete", "edit", "private", "other_event")
_BLOCKS = frozenset({"p", "div", "blockquote", "li", "pre"})


class _TextOf(HTMLParser):
    """Visible text of a status's HTML: <br> is a line break, a paragraph ends with a blank line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """The text a reader sees: tags dropped, entities decoded, paragraphs kept as blank lines."""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    lines = "".join(parser.parts).split("\n")
    text = "\n".join(line.rstrip() for line in lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def qualify(acct: Any, instance: str, where: str) -> str:
    """`user@domain` for an account's `acct` ("user" on its own instance, "user@domain" elsewhere)."""
    if type(acct) is not str or not acct.strip("@"):
        raise FrameError("bad_status", f"{where} must be a non-empty string, got {acct!r}")
    acct = acct.lstrip("@")
    return acct if "@" in acct else f"{acct}@{instance}"


def _account(status: dict[str, Any], where: str) -> dict[str, Any]:
    account = status.get("account")
    if type(account) is not dict:
        raise FrameError("bad_status", f"{where}.account must be an object, got {type(account).__name__}")
    return account


def _local_id(value: Any, where: str) -> str:
    if type(value) is int and not isinstance(value, bool):
        return str(value)
    if type(value) is not str or not value:
        raise FrameError("bad_status", f"{where} must be an id, got {value!r}")
    return value


def reply_target(status: dict[str, Any], actor: str, instance: str) -> str:
    """`user@domain` of the account replied to. The status names it only by its instance-local id; Mastodon
    mentions the parent's author in a reply, so the mention with that id gives its acct. A self-reply (a
    thread) is the actor; an author not among the mentions keeps its id, as `id:N@instance`."""
    wanted = _local_id(status.get("in_reply_to_account_id"), "in_reply_to_account_id")
    if wanted == str(_account(status, "status").get("id")):
        return actor
    mentions = status.get("mentions")
    for mention in mentions if type(mentions) is list else ():
        if type(mention) is dict and str(mention.get("id")) == wanted:
            return qualify(mention.get("acct"), instance, "mentions[].acct")
    return f"id:{wanted}@{instance}"


def map_status(status: Any, instance: str, received_ms: int) -> Mapped:
    """One Status entity -> events (or a skip/dead letter). `instance` is the host that served it;
    `received_ms` bounds event times stamped in the future by a skewed server clock."""
    try:
        mapped = _map_status(status, instance, received_ms)
    except FrameError as error:
        return dead(error)
    # Status ids are sortable numbers on Mastodon: the newest one delivered is where a REST gap fill resumes.
    status_id = status.get("id")
    mapped.cursor = int(status_id) if type(status_id) is str and status_id.isdigit() else None
    return mapped


def _map_status(status: Any, instance: str, received_ms: int) -> Mapped:
    if type(status) is not dict:
        raise FrameError("bad_status", f"expected a Status object, got {type(status).__name__}")
    if status.get("visibility") == "direct":
        return Mapped(skipped="private")  # a direct message is not the public conversation
    status_id = _local_id(status.get("id"), "id")
    account = _account(status, "status")
    actor = qualify(account.get("acct"), instance, "account.acct")
    followers = count_or_none(account.get("followers_count"))
    time_ms, clamped = bounded_time(status.get("created_at"), received_ms, None)
    uri = status.get("uri")
    event_id = uri if type(uri) is str and uri else f"https://{instance}/statuses/{status_id}"
    post_id = f"{status_id}@{instance}"
    reblog = status.get("reblog")
    if reblog is not None:
        if type(reblog) is not dict:
            raise FrameError("bad_status", f"reblog must be a Status object, got {type(reblog).__name__}")
        original = _account(reblog, "reblog")
        return Mapped(
            events=[
                SocialEvent(
                    event_id,
                    "SHARE",
                    actor,
                    time_ms,
                    target_account_id=qualify(original.get("acct"), instance, "reblog.account.acct"),
                    post_id=post_id,
                    parent_post_id=f"{_local_id(reblog.get('id'), 'reblog.id')}@{instance}",
                    followers_count=followers,
                    target_followers_count=count_or_none(original.get("followers_count")),
                )
            ],
            clamped=clamped,
        )
    content = status.get("content")
    text = text_or_none(html_to_text(content)) if type(content) is str else None
    lang = text_or_none(status.get("language"))
    application = status.get("application")
    client = text_or_none(application.get("name")) if type(application) is dict else None
    target = None
    if status.get("in_reply_to_id") is not None or status.get("in_reply_to_account_id") is not None:
        target = reply_target(status, actor, instance)
        parent = status.get("in_reply_to_id")
        primary = SocialEvent(
            event_id,
            "REPLY",
            actor,
            time_ms,
            target_account_id=target,
            parent_post_id=None if parent is None else f"{_local_id(parent, 'in_reply_to_id')}@{instance}",
            text=text,
            post_id=post_id,
            lang=lang,
            client=client,
            followers_count=followers,
        )
    else:
        primary = SocialEvent(
            event_id,
            "POST",
            actor,
            time_ms,
            text=text,
            post_id=post_id,
            lang=lang,
            client=client,
            followers_count=followers,
        )
    events = [primary]
    mentions = status.get("mentions")
    seen = {target, actor}
    for mention in mentions if type(mentions) is list else ():
        if type(mention) is not dict:
            continue
        mentioned = qualify(mention.get("acct"), instance, "mentions[].acct")
        if mentioned not in seen:
            seen.add(mentioned)
            events.append(
                SocialEvent(
                    f"{event_id}#mention:{mentioned}",
                    "MENTION",
                    actor,
                    time_ms,
                    target_account_id=mentioned,
                    post_id=post_id,
                    lang=lang,
                    client=client,
                    followers_count=followers,
                )
            )
    return Mapped(events=events, clamped=clamped)


def map_stream_event(event: str, data: str, instance: str, received_ms: int) -> Mapped:
    """One server-sent event of the streaming API (its `event:` name and `data:` payload)."""
    if event == "delete":
        return Mapped(skipped="delete")
    if event == "status.update":
        return Mapped(skipped="edit")
    if event != "update":
        return Mapped(skipped="other_event")
    try:
        status = json.loads(data)
    except ValueError as error:
        return dead(FrameError("invalid_json", f"not valid JSON: {error}"))
    return map_status(status, instance, received_ms)
