"""The JSON Lines writers: the fast account-window encoder writes exactly what the generic one writes."""

import errno
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.io import jsonlines
from pipelines.io.jsonlines import account_window_lines, concatenate, to_json_line
from pipelines.model.config import ReciprocityConfig
from pipelines.model.engine import WindowRuns
from pipelines.model.metrics import WindowCounts, window_record

CONFIG = ReciprocityConfig(watchlist=frozenset({"watched"}))
HOUR = 3_600_000

counts = st.builds(
    WindowCounts,
    inbound=st.integers(0, 60),
    responded=st.integers(0, 60),
    median_response_seconds=st.none() | st.floats(0, 1e7, allow_nan=False) | st.integers(0, 10).map(float),
    outbound=st.integers(0, 60),
    fan_inbound=st.integers(0, 60),
    fan_responded=st.integers(0, 60),
    peer_outbound=st.integers(0, 60),
    replies=st.integers(0, 9),
    self_serving_replies=st.integers(0, 9),
    proactive_replies=st.integers(0, 9),
    delegated_replies=st.integers(0, 9),
    shares=st.integers(0, 9),
    shares_of_others=st.integers(0, 9),
    posts=st.integers(0, 9),
    bios=st.integers(0, 2),
    preaching_texts=st.integers(0, 9),
    own_followers=st.none() | st.integers(0, 3_000_000),
)
accounts = st.sampled_from(["guru", "watched", 'quo"te\\', "émile 🙏", "tab\tnew\nline", ""]) | st.text(max_size=8)


@st.composite
def account_runs(draw: st.DrawFn) -> WindowRuns:
    """One account's windows as runs; consecutive runs often share figures, and gaps between them vary."""
    account = draw(accounts)
    end = draw(st.integers(0, 1_000)) * HOUR
    runs, current = [], draw(counts)
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            current = draw(counts)
        count = draw(st.integers(1, 4))
        runs.append((window_record(account, end, current, CONFIG), count))
        end += HOUR * (count - 1 + draw(st.integers(1, 3)))
    return WindowRuns(HOUR, runs)


def generic_lines(account: WindowRuns) -> str:
    return "\n".join(to_json_line(window) for window in account.windows())


@settings(max_examples=300, deadline=None)
@given(account=account_runs())
def test_account_window_lines_are_the_generic_lines(account):
    assert account_window_lines(account) == generic_lines(account)


def test_the_lines_parse_back_with_iso_times_and_json_literals():
    record = window_record("guru", 2 * 86_400_000, WindowCounts(inbound=3, responded=1, posts=2), CONFIG)
    first, second = account_window_lines(WindowRuns(HOUR, [(record, 2)])).split("\n")
    parsed = json.loads(first)
    assert parsed["window_start"] == "1970-01-02T00:00:00.000Z"
    assert parsed["window_end"] == "1970-01-03T00:00:00.000Z"
    assert parsed["response_rate"] == 1 / 3
    assert parsed["median_response_seconds"] is None
    assert parsed["is_preacher"] is False
    assert list(parsed) == list(record)
    later = {"window_start": "1970-01-02T01:00:00.000Z", "window_end": "1970-01-03T01:00:00.000Z"}
    assert json.loads(second) == parsed | later


def test_a_record_of_another_shape_falls_back_to_the_generic_encoder():
    odd = {"account_id": "guru", "window_end": HOUR, "raw": b"\xff"}
    window = window_record("guru", 2 * 86_400_000, WindowCounts(inbound=3), CONFIG)
    assert account_window_lines(WindowRuns(HOUR, [(odd, 1)])) == to_json_line(odd)
    assert json.loads(to_json_line(odd))["raw"] == "base64:/w=="
    for mixed in ([(odd, 1), (window, 2)], [(window, 3), (odd, 1)], [(window, 1), (odd, 1), (window, 2)]):
        account = WindowRuns(HOUR, mixed)
        assert account_window_lines(account) == generic_lines(account)


def test_concatenate_joins_the_parts_in_name_order_and_removes_them(tmp_path):
    target = tmp_path / "alerts.jsonl"
    target.write_text("stale content of an earlier run\n")
    parts = []
    for name, text in [("p-2", "c\n"), ("p-0", "a\n" * 70_000), ("p-1", "")]:
        (tmp_path / name).write_text(text)
        parts.append(str(tmp_path / name))
    assert concatenate(parts, str(target)) == str(target)
    assert target.read_text() == "a\n" * 70_000 + "c\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.jsonl"]


@pytest.mark.parametrize("kernel_copy", [True, False], ids=["copy_file_range", "read-write fallback"])
def test_concatenate_moves_parts_in_chunks_from_their_end(tmp_path, monkeypatch, kernel_copy):
    monkeypatch.setattr(jsonlines, "_MOVE_CHUNK", 1_000)  # several chunks per part, none aligned
    if not kernel_copy:

        def refuse(*args):
            raise OSError(errno.EXDEV, "refused")

        monkeypatch.setattr(jsonlines.os, "copy_file_range", refuse)
    texts = [f"{index}:".encode() + bytes(range(256)) * (index * 7) + b"\n" for index in range(5)]
    parts = []
    for index, text in enumerate(texts):
        part = tmp_path / f"part-{index}"
        part.write_bytes(text)
        parts.append(str(part))
    target = tmp_path / "account_windows.jsonl"
    concatenate(list(reversed(parts)), str(target))
    assert target.read_bytes() == b"".join(texts)
    assert [p.name for p in tmp_path.iterdir()] == ["account_windows.jsonl"]


def test_concatenate_without_parts_writes_an_empty_file(tmp_path):
    target = tmp_path / "dead_letter.jsonl"
    concatenate([], str(target))
    assert target.read_text() == ""
