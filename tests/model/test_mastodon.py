"""Mastodon statuses -> SocialEvents, on statuses written from the Status entity (tests/fixtures/mastodon.py)."""

from collections import Counter

import pytest

from pipelines.model.events import event_from_record
from pipelines.model.mastodon import html_to_text, map_status, map_stream_event, qualify
from tests.fixtures.mastodon import (
    BOOST,
    DELEGATED,
    DIRECT,
    EXPECTED_DEAD,
    EXPECTED_EVENT_COUNT,
    EXPECTED_SKIPPED,
    FUTURE,
    INSTANCE,
    POST,
    RECEIVED_MS,
    REPLY,
    STREAM_EVENTS,
    THREAD,
    UNKNOWN_PARENT,
)

ANNA, BEN, CHLOE = f"anna@{INSTANCE}", "ben@other.social", f"chloe@{INSTANCE}"


def mapped(status):
    result = map_status(status, INSTANCE, RECEIVED_MS)
    assert result.dead_reason is None, result.dead_reason
    return result


def test_post_text_is_the_html_reduced_to_what_a_reader_sees():
    (event,) = mapped(POST).events
    assert (event.event_type, event.actor_id, event.followers_count) == ("POST", ANNA, 120_000)
    assert event.text == "Always answer your audience! 💬 & more\n\nLine two\nline three https://x.example/a"
    assert event.event_id == POST["uri"] and event.post_id == f"{POST['id']}@{INSTANCE}"
    assert (event.lang, event.client, event.event_time) == ("en", "Web", 1_764_547_201_000)


def test_reply_targets_the_replied_account_by_its_mention_and_mentions_the_others():
    reply, mention = mapped(REPLY).events
    assert (reply.event_type, reply.actor_id, reply.target_account_id) == ("REPLY", BEN, ANNA)
    assert reply.parent_post_id == f"{POST['id']}@{INSTANCE}" and reply.client is None
    assert reply.text == "@anna @chloe d'accord 🙏 日本語" and reply.lang == "fr"
    assert (mention.event_type, mention.target_account_id) == ("MENTION", CHLOE)
    assert mention.event_id == f"{REPLY['uri']}#mention:{CHLOE}"


def test_a_reply_posted_through_a_scheduling_tool_carries_the_client():
    (event,) = mapped(DELEGATED).events
    assert (event.event_type, event.target_account_id, event.client) == ("REPLY", BEN, "Buffer")


def test_a_self_reply_targets_the_actor_and_an_unknown_author_keeps_its_qualified_id():
    assert mapped(THREAD).events[0].target_account_id == ANNA
    assert mapped(UNKNOWN_PARENT).events[0].target_account_id == f"id:777@{INSTANCE}"


def test_boost_is_a_share_of_the_original_author_with_both_audiences():
    (event,) = mapped(BOOST).events
    assert (event.event_type, event.actor_id, event.target_account_id) == ("SHARE", CHLOE, ANNA)
    assert (event.followers_count, event.target_followers_count) == (15, 120_000)
    assert event.parent_post_id == f"{POST['id']}@{INSTANCE}" and event.text is None


def test_a_status_stamped_after_it_was_received_is_clamped():
    result = mapped(FUTURE)
    assert (result.events[0].event_time, result.clamped) == (RECEIVED_MS, "future")


def test_direct_messages_are_not_public_conversation():
    assert map_status(DIRECT, INSTANCE, RECEIVED_MS).skipped == "private"


def test_ids_are_qualified_by_instance():
    assert qualify("anna", "a.example", "x") == "anna@a.example"
    assert qualify("anna@b.example", "a.example", "x") == "anna@b.example"
    assert qualify("@anna", "a.example", "x") == "anna@a.example"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a</p><p>b</p>", "a\n\nb"),
        ("x<br>y<br/>z", "x\ny\nz"),
        ("&lt;script&gt; &#128172; caf&eacute;", "<script> 💬 café"),
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("", ""),
    ],
)
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_the_stream_is_accounted_for_once_and_every_event_meets_the_contract():
    outcomes = [map_stream_event(name, data, INSTANCE, RECEIVED_MS) for name, data in STREAM_EVENTS]
    events = [e for m in outcomes for e in m.events]
    assert len(events) == EXPECTED_EVENT_COUNT
    assert Counter(m.skipped for m in outcomes if m.skipped) == EXPECTED_SKIPPED
    assert Counter(m.dead_kind for m in outcomes if m.dead_kind) == EXPECTED_DEAD
    assert all(m.dead_reason and "\n" not in m.dead_reason for m in outcomes if m.dead_kind)
    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        assert event_from_record(event.to_record()) == event


def test_dead_letter_reasons_name_the_fault():
    assert map_status({"id": "1", "account": {"acct": ""}}, INSTANCE, 0).dead_reason == (
        "account.acct must be a non-empty string, got ''"
    )
    assert map_status({"id": "1", "account": None}, INSTANCE, 0).dead_reason == (
        "status.account must be an object, got NoneType"
    )
