"""What one event contributes to the accounts it touches.

An interaction U->A is seen twice: as inbound on A's side and as outbound on U's side, so every per-account
figure can be computed by one key (the account) without a join. Text is classified here, once per event, and
only flags cross the shuffle; the text itself travels only when it is preaching (alert evidence).

A contribution is a plain tuple (cheap to encode at a GroupByKey):
    (event_time_ms, kind, counterpart, counterpart_followers, own_followers, flags, text, event_id)
An interaction's INBOUND copy is the echo of its OUTBOUND one: count events on the other kinds only.
"""

from __future__ import annotations

from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import SocialEvent
from pipelines.model.lexicon import is_self_serving
from pipelines.model.preach_classifier import verdict

# kinds
INBOUND = 0  # counterpart engaged the account
OUTBOUND = 1  # the account engaged counterpart
POST = 2  # the account's own post
PROFILE = 3  # the account's bio
OTHER = 4  # anything else the account did (follows, likes, self-replies): tells its audience only

# flags
REPLY = 1
SHARE = 2
SELF_SERVING = 4
PROACTIVE = 8
DELEGATED = 16
PREACHING = 32
EXPERT = 64  # a bio of a self-proclaimed (social-media or community) expert

INTERACTION_TYPES = frozenset({"REPLY", "MENTION", "SHARE"})


Contribution = tuple[int, int, str | None, int | None, int | None, int, str | None, str]


def is_interaction(event: SocialEvent, config: ReciprocityConfig) -> bool:
    """REPLY, MENTION or SHARE (LIKE with count_likes) aimed at another account."""
    kind = event.event_type
    counts = kind in INTERACTION_TYPES or (config.count_likes and kind == "LIKE")
    return counts and event.target_account_id is not None and event.target_account_id != event.actor_id


def reply_flags(event: SocialEvent, config: ReciprocityConfig) -> int:
    flags = REPLY
    if is_self_serving(event.text):
        flags |= SELF_SERVING
    owner = event.conversation_owner_id
    if owner is not None and owner != event.actor_id:
        flags |= PROACTIVE
    if event.client is not None and event.client.strip().lower() in config.delegation_clients:
        flags |= DELEGATED
    return flags


def text_flags(kind: str, text: str | None, config: ReciprocityConfig) -> int:
    """PREACHING (and EXPERT for a bio) of a post or bio. A self-proclaimed expert's bio counts as preaching:
    selling engagement expertise is preaching it, whatever the classifier's probability."""
    probability, expert = verdict(text)
    expert = expert and kind == "PROFILE"
    if expert:
        return PREACHING | EXPERT
    return PREACHING if probability >= config.min_preach_probability else 0


def route(event: SocialEvent, config: ReciprocityConfig) -> list[tuple[str, Contribution]]:
    """(account_id, contribution) pairs for one event; an interaction yields two."""
    t = event.event_time
    eid = event.event_id
    actor = event.actor_id
    kind = event.event_type
    if is_interaction(event, config):
        target = event.target_account_id
        assert target is not None
        if kind == "REPLY":
            flags = reply_flags(event, config)
        elif kind == "SHARE":
            flags = SHARE
        else:
            flags = 0
        return [
            (target, (t, INBOUND, actor, event.followers_count, event.target_followers_count, 0, None, eid)),
            (
                actor,
                (t, OUTBOUND, target, event.target_followers_count, event.followers_count, flags, None, eid),
            ),
        ]
    if kind == "POST" or kind == "PROFILE":
        flags = text_flags(kind, event.text, config)
        return [
            (
                actor,
                (
                    t,
                    POST if kind == "POST" else PROFILE,
                    None,
                    None,
                    event.followers_count,
                    flags,
                    event.text if flags else None,
                    eid,
                ),
            )
        ]
    # A self-share still counts as a share (amplification's denominator); the rest only tells the audience.
    flags = SHARE if kind == "SHARE" else 0
    return [(actor, (t, OTHER, None, None, event.followers_count, flags, None, eid))]
