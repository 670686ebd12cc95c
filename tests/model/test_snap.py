"""SNAP edge-list lines -> SocialEvents."""

import pytest

from pipelines.model.snap import map_edge


@pytest.mark.parametrize("kind", ["REPLY", "MENTION", "SHARE"])
def test_an_edge_is_one_event_of_the_asked_type_from_src_to_dst(kind):
    (event,) = map_edge("1 4 1254192988\n", kind, "a2q:1", "mo").events
    assert (event.event_type, event.actor_id, event.target_account_id) == (kind, "mo1", "mo4")
    assert (event.event_id, event.event_time) == ("a2q:1", 1_254_192_988_000)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1 4", "expected 'src dst unix_seconds', got 2 fields"),
        ("1 4 5 6", "expected 'src dst unix_seconds', got 4 fields"),
        ("1 4 yesterday", "unix_seconds must be a whole number, got 'yesterday'"),
    ],
)
def test_malformed_lines_are_dead_letters(line, reason):
    mapped = map_edge(line, "REPLY", "x:1")
    assert (mapped.events, mapped.dead_kind, mapped.dead_reason) == ([], "bad_line", reason)


@pytest.mark.parametrize("line", ["", "   \n", "# comment", "% FromNodeId ToNodeId"])
def test_blank_and_comment_lines_are_skipped(line):
    assert map_edge(line, "REPLY", "x:1").skipped == "comment"
