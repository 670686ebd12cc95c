"""The SocialEvent contract (schemas/SocialEvent.avsc) as a Python type, and its validation.

Every input path (Avro files, JSON Lines, Kafka messages, the simulator) ends in `event_from_record`, so the
contract is checked in exactly one place. Invalid input raises `ContractError` with a one-line reason that
the callers put on the dead-letter output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any


class EventType(StrEnum):
    POST = "POST"
    REPLY = "REPLY"
    MENTION = "MENTION"
    SHARE = "SHARE"
    LIKE = "LIKE"
    FOLLOW = "FOLLOW"
    PROFILE = "PROFILE"


EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)
# These name another account by definition; without a target they say nothing.
TARGETED_TYPES: frozenset[str] = frozenset({"REPLY", "MENTION", "SHARE", "LIKE", "FOLLOW"})


class ContractError(ValueError):
    """A record that does not satisfy the SocialEvent contract. The message is the dead-letter reason."""


@dataclass(slots=True)
class SocialEvent:
    event_id: str
    event_type: str
    actor_id: str
    event_time: int  # epoch milliseconds, UTC
    target_account_id: str | None = None
    post_id: str | None = None
    parent_post_id: str | None = None
    conversation_owner_id: str | None = None
    text: str | None = None
    lang: str | None = None
    client: str | None = None
    followers_count: int | None = None
    target_followers_count: int | None = None

    def to_record(self) -> dict[str, Any]:
        """The Avro/JSON record (event_time in epoch milliseconds)."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "actor_id": self.actor_id,
            "target_account_id": self.target_account_id,
            "post_id": self.post_id,
            "parent_post_id": self.parent_post_id,
            "conversation_owner_id": self.conversation_owner_id,
            "text": self.text,
            "lang": self.lang,
            "client": self.client,
            "followers_count": self.followers_count,
            "target_followers_count": self.target_followers_count,
            "event_time": self.event_time,
        }


# Order matters: SocialEvent's positional fields after event_time.
_OPTIONAL_STRINGS = (
    "target_account_id",
    "post_id",
    "parent_post_id",
    "conversation_owner_id",
    "text",
    "lang",
    "client",
)
_OPTIONAL_COUNTS = ("followers_count", "target_followers_count")


def parse_event_time(value: Any) -> int:
    """Epoch milliseconds from an int, a datetime (fastavro's timestamp-millis) or an ISO-8601 string."""
    if isinstance(value, bool):
        raise ContractError(f"event_time must be epoch milliseconds or ISO-8601, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ContractError(f"event_time is not ISO-8601 nor epoch milliseconds: {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return round(parsed.timestamp() * 1000)
    raise ContractError(f"event_time must be epoch milliseconds or ISO-8601, got {type(value).__name__}")


def _bad_string(name: str, value: Any) -> ContractError:
    return ContractError(f"{name} must be a non-empty string, got {value!r}")


def event_from_record(record: Any) -> SocialEvent:
    """Validates one decoded record (Avro or JSON) against the contract; raises ContractError.

    Written as straight-line code with exact type checks: it runs once per event on the hot path.
    """
    if type(record) is not dict:
        raise ContractError(f"expected a JSON object, got {type(record).__name__}")
    get = record.get
    event_type = get("event_type")
    if event_type not in EVENT_TYPES:
        raise ContractError(f"event_type must be one of {', '.join(EventType.__members__)}, got {event_type!r}")
    event_id, actor_id, event_time = get("event_id"), get("actor_id"), get("event_time")
    if type(event_id) is not str or not event_id:
        raise _bad_string("event_id", event_id)
    if type(actor_id) is not str or not actor_id:
        raise _bad_string("actor_id", actor_id)
    if event_time is None:
        raise ContractError("event_time is missing")
    if type(event_time) is not int:
        event_time = parse_event_time(event_time)
    strings: list[str | None] = []
    for name in _OPTIONAL_STRINGS:
        value = get(name)
        if value is not None and type(value) is not str:
            raise ContractError(f"{name} must be a string or null, got {type(value).__name__}")
        strings.append(value or None)
    counts: list[int | None] = []
    for name in _OPTIONAL_COUNTS:
        value = get(name)
        if value is not None and (type(value) is not int or value < 0):
            raise ContractError(f"{name} must be a non-negative integer or null, got {value!r}")
        counts.append(value)
    target_account_id, post_id, parent_post_id, conversation_owner_id, text, lang, client = strings
    followers_count, target_followers_count = counts
    if target_account_id is None and event_type in TARGETED_TYPES:
        raise ContractError(f"{event_type} needs target_account_id")
    return SocialEvent(
        event_id,
        event_type,
        actor_id,
        event_time,
        target_account_id,
        post_id,
        parent_post_id,
        conversation_owner_id,
        text,
        lang,
        client,
        followers_count,
        target_followers_count,
    )


@lru_cache(maxsize=1 << 14)  # window bounds repeat across accounts: format each instant once
def iso_utc(epoch_ms: int) -> str:
    """ISO-8601 UTC with a Z, the format of every timestamp this product writes to JSON."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
