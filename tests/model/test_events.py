import pytest

from pipelines.model.events import ContractError, event_from_record, iso_utc

BASE = {
    "event_id": "e1",
    "event_type": "REPLY",
    "actor_id": "u1",
    "target_account_id": "g1",
    "event_time": 1000,
}


def test_valid_record_round_trips():
    event = event_from_record(dict(BASE, text="hi", followers_count=5))
    assert event.to_record() | {} == {
        **{k: None for k in event.to_record()},
        **BASE,
        "text": "hi",
        "followers_count": 5,
    }


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (1_700_000_000_123, 1_700_000_000_123),
        ("2023-11-14T22:13:20.123Z", 1_700_000_000_123),
        ("2023-11-14T23:13:20.123+01:00", 1_700_000_000_123),
        ("2023-11-14T22:13:20.123", 1_700_000_000_123),
        ("1700000000123", 1_700_000_000_123),
    ],
)
def test_event_time_accepts_millis_and_iso(value, ms):
    assert event_from_record(dict(BASE, event_time=value)).event_time == ms


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"event_type": "TWEET"},
            "event_type must be one of POST, REPLY, MENTION, SHARE, LIKE, FOLLOW, PROFILE",
        ),
        ({"event_id": ""}, "event_id must be a non-empty string, got ''"),
        ({"actor_id": 7}, "actor_id must be a non-empty string, got 7"),
        ({"event_time": "yesterday"}, "event_time is not ISO-8601 nor epoch milliseconds: 'yesterday'"),
        ({"event_time": None}, "event_time is missing"),
        ({"target_account_id": None}, "REPLY needs target_account_id"),
        ({"followers_count": -3}, "followers_count must be a non-negative integer below 2^63 or null, got -3"),
        ({"followers_count": True}, "followers_count must be a non-negative integer below 2^63 or null, got True"),
        ({"text": 12}, "text must be a string or null, got int"),
    ],
)
def test_contract_violations_have_one_line_reasons(change, reason):
    with pytest.raises(ContractError) as error:
        event_from_record(dict(BASE, **change))
    assert str(error.value).startswith(reason)
    assert "\n" not in str(error.value)


def test_not_an_object():
    with pytest.raises(ContractError, match="expected a JSON object, got list"):
        event_from_record([1, 2])


def test_iso_utc():
    assert iso_utc(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
