"""Jetstream frames -> SocialEvents, on frames written from the app.bsky lexicons (tests/fixtures/jetstream.py)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.model.bluesky import map_frame
from pipelines.model.events import event_from_record
from tests.fixtures.jetstream import (
    ALICE,
    BASE_US,
    BOB,
    CAROL,
    DAVE,
    DEAD,
    EVENT_FRAMES,
    EXPECTED_EVENT_COUNT,
    FRAMES,
    SKIPPED,
)

POST_URI = f"at://{ALICE}/app.bsky.feed.post/3lbzpost0001"
REPLY_URI = f"at://{BOB}/app.bsky.feed.post/3lbzreply001"


def events_of(name):
    mapped = map_frame(FRAMES[name])
    assert mapped.dead_reason is None and mapped.skipped is None, mapped
    return [(e.event_type, e.actor_id, e.target_account_id) for e in mapped.events], mapped


def ms(n, lag_ms=400):
    return (BASE_US + n * 1_000_000) // 1000 - lag_ms


def test_plain_post_keeps_text_emoji_and_first_language():
    kinds, mapped = events_of("post")
    assert kinds == [("POST", ALICE, None)]
    event = mapped.events[0]
    assert event.text == "Répondez à tout le monde 💬 engagement is everything"
    assert (event.lang, event.event_id, event.post_id, event.event_time) == ("fr", POST_URI, POST_URI, ms(1))
    assert mapped.cursor == BASE_US + 1_000_000 and mapped.clamped is None


def test_reply_targets_the_parent_author_with_the_root_as_conversation_owner_and_mentions_apart():
    kinds, mapped = events_of("reply")
    assert kinds == [("REPLY", BOB, ALICE), ("MENTION", BOB, CAROL)]
    reply, mention = mapped.events
    assert reply.parent_post_id == POST_URI and reply.conversation_owner_id == ALICE
    assert reply.text == "Merci 🙏 @carol.bsky.social d'accord" and reply.lang == "fr"
    assert mention.event_id == f"{REPLY_URI}#mention:{CAROL}" and mention.post_id == REPLY_URI


def test_a_reply_deep_in_a_thread_keeps_the_root_owner_and_drops_redundant_mentions():
    kinds, mapped = events_of("reply_in_thread")
    # Bob (the parent's author) is the REPLY already; Carol is the actor; Dave once; the malformed facets ignored.
    assert kinds == [("REPLY", CAROL, BOB), ("MENTION", CAROL, DAVE)]
    assert mapped.events[0].conversation_owner_id == ALICE
    assert mapped.events[0].text == "日本語でも👩‍👩‍👧 e\u0301" and mapped.events[0].lang is None


def test_quote_post_is_a_post_and_a_share_of_the_quoted_author():
    kinds, mapped = events_of("quote")
    assert kinds == [("POST", DAVE, None), ("SHARE", DAVE, BOB)]
    assert mapped.events[1].parent_post_id == REPLY_URI and mapped.events[1].event_id.endswith("#quote")


def test_embedding_a_list_is_not_a_quote():
    kinds, _ = events_of("list_embed")
    assert kinds == [("POST", CAROL, None)]


@pytest.mark.parametrize(
    ("name", "kind", "actor", "target"),
    [
        ("repost", "SHARE", DAVE, ALICE),
        ("like", "LIKE", CAROL, ALICE),
        ("follow", "FOLLOW", BOB, ALICE),
    ],
)
def test_subject_records(name, kind, actor, target):
    kinds, mapped = events_of(name)
    assert kinds == [(kind, actor, target)]
    event = mapped.events[0]
    assert event.event_id.startswith(f"at://{actor}/") and event.event_time < mapped.cursor // 1000
    if kind != "FOLLOW":
        assert event.parent_post_id == POST_URI


def test_profile_versions_are_distinct_events_with_the_description_as_text():
    (_, first), (_, second) = events_of("profile"), events_of("profile_update")
    assert [e.event_type for e in first.events + second.events] == ["PROFILE", "PROFILE"]
    assert first.events[0].text == "Engagement coach. Always reply to your audience! 🚀"
    assert second.events[0].text == "Talk WITH people, not AT them."
    assert first.events[0].event_id != second.events[0].event_id
    assert second.clamped == "missing_time" and second.events[0].event_time == ms(9, 0)


def test_clock_skew_is_clamped_to_the_commit_time_and_said():
    _, future = events_of("future_like")
    assert (future.events[0].event_time, future.clamped) == (ms(15, 0), "future")
    _, backdated = events_of("backdated_post")
    assert (backdated.events[0].event_time, backdated.clamped) == (ms(16, 0), "backdated")
    assert map_frame(FRAMES["backdated_post"], max_backdate_ms=None).events[0].event_time == 1_588_334_400_000


@pytest.mark.parametrize(("name", "reason"), sorted(SKIPPED.items()))
def test_deletes_identity_account_edits_and_other_collections_are_skipped(name, reason):
    mapped = map_frame(FRAMES[name])
    assert (mapped.events, mapped.skipped, mapped.dead_reason) == ([], reason, None)
    assert mapped.cursor == json.loads(FRAMES[name])["time_us"]


@pytest.mark.parametrize(("name", "kind"), sorted(DEAD.items()))
def test_malformed_frames_are_dead_letters_with_a_one_line_reason(name, kind):
    mapped = map_frame(FRAMES[name])
    assert mapped.events == [] and mapped.dead_kind == kind
    assert mapped.dead_reason and "\n" not in mapped.dead_reason


def test_dead_letter_reasons_name_the_fault():
    assert map_frame(FRAMES["bad_parent"]).dead_reason == "reply.parent.uri is not an at:// URI: 'https://bsky.app/x'"
    assert map_frame(FRAMES["bad_follow"]).dead_reason == "follow subject must be a DID, got 42"
    assert map_frame(FRAMES["no_time"]).dead_reason == "time_us must be a positive integer, got None"
    assert map_frame(b"\xff\xfe").dead_reason.startswith("not valid JSON")


def test_every_fixture_is_accounted_for_once_and_every_event_meets_the_contract():
    outcomes = [map_frame(frame) for frame in FRAMES.values()]
    assert sum(len(m.events) for m in outcomes) == EXPECTED_EVENT_COUNT
    assert sum(bool(m.events) for m in outcomes) == len(EVENT_FRAMES)
    assert sum(m.skipped is not None for m in outcomes) == len(SKIPPED)
    assert sum(m.dead_reason is not None for m in outcomes) == len(DEAD)
    events = [e for m in outcomes for e in m.events]
    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        assert event_from_record(event.to_record()) == event


def test_event_ids_are_stable_across_replays():
    first = [e.event_id for frame in FRAMES.values() for e in map_frame(frame).events]
    assert first == [e.event_id for frame in FRAMES.values() for e in map_frame(frame).events]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_arbitrary_json_never_raises(value):
    mapped = map_frame(json.dumps(value))
    assert (mapped.dead_reason is None) != (mapped.events == [] and mapped.skipped is None)


@given(
    st.dictionaries(
        st.sampled_from(["text", "reply", "facets", "embed", "langs", "createdAt"]),
        st.recursive(
            st.none() | st.integers() | st.text(max_size=5),
            lambda c: (
                st.lists(c, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["uri", "root", "parent", "record", "$type", "features", "did"]), c, max_size=3
                )
            ),
        ),
    )
)
def test_arbitrary_post_records_never_raise(record):
    frame = json.dumps(
        {
            "did": ALICE,
            "time_us": BASE_US,
            "kind": "commit",
            "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": "k", "record": record},
        }
    )
    mapped = map_frame(frame)
    assert mapped.events or mapped.dead_reason
