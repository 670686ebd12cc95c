"""The SocialEvent contract (schemas/SocialEvent.avsc) as a Python type, and its validation.

Every input path (Avro files, JSON Lines, Kafka messages, the simulator) ends in `event_from_record`, so the
contract is checked in exactly one place; JSON text goes through `record_from_json` first. Invalid input
raises `ContractError` with a one-line reason that the callers put on the dead-letter output.

The bounds below are part of the contract because an event accepted here must never fail later, on a
worker, where one bad record would fail a bundle (and on Prism the whole job): an event_time outside them
cannot be written as ISO-8601 or Avro (year 0, > 2^63), a count above 2^63 does not fit Avro's long, a lone
UTF-16 surrogate from JSON cannot be encoded as UTF-8, and an id or text of megabytes would make an output
message larger than Kafka accepts (1 MiB by default).
"""

from __future__ import annotations

import json
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


EVENT_TIME_MIN_MS = 0  # 1970-01-01T00:00:00Z
EVENT_TIME_MAX_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z, exclusive
LONG_MAX = 2**63 - 1  # Avro long
MAX_ID_CHARS = 512  # ids: event_id, actor_id, target_account_id, post ids, lang, client
MAX_TEXT_CHARS = 100_000  # a post or a bio; the longest platforms allow ~25k characters
MAX_MESSAGE_BYTES = 1 << 20  # one event's message or line (Kafka's default message size limit)


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
    try:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return int(value.timestamp() * 1000)
        if isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isdigit() and len(text) < 30:  # longer is out of range anyway
                return int(text)
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return round(parsed.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):  # not ISO-8601, or beyond what a datetime can hold
        raise ContractError(f"event_time is not ISO-8601 nor epoch milliseconds: {_short(value)}") from None
    raise ContractError(f"event_time must be epoch milliseconds or ISO-8601, got {type(value).__name__}")


def _short(value: Any, size: int = 60) -> str:
    """repr(value), cut to `size` characters: a reason is one short line even for a megabyte of garbage."""
    text = (
        repr(value) if not isinstance(value, int) or abs(value) < 10**40 else f"an integer of {len(str(value))} digits"
    )
    return text if len(text) <= size else text[: size - 3] + "..."


def _shown_time(epoch_ms: int) -> str:
    try:
        return f"{iso_utc(epoch_ms)} ({epoch_ms})"
    except (ValueError, OverflowError, OSError):
        return _short(epoch_ms)


def _bad_string(name: str, value: Any) -> ContractError:
    return ContractError(f"{name} must be a non-empty string, got {_short(value)}")


def record_from_json(raw: bytes | str) -> Any:
    """One JSON value from a message or a line; ContractError for what no JSON reader should let through.

    Beyond invalid JSON and UTF-8: nesting deep enough to exhaust Python's recursion (the stdlib parser raises
    RecursionError, not ValueError), a line over MAX_MESSAGE_BYTES, and top-level strings holding lone
    surrogates (valid JSON escapes, e.g. "\\ud800", that no UTF-8 output can hold).
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ContractError(f"message of {len(raw)} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        record = json.loads(raw)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        raise ContractError(f"not valid JSON: {_short(str(error), 200)}") from None
    except RecursionError:
        raise ContractError("not valid JSON: nested too deeply") from None
    if type(record) is dict:
        for name, value in record.items():
            if type(value) is str and not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ContractError(f"{_short(name)} holds a lone UTF-16 surrogate, not valid Unicode") from None
    return record


def event_from_record(record: Any) -> SocialEvent:
    """Validates one decoded record (Avro or JSON) against the contract; raises ContractError.

    Written as straight-line code with exact type checks: it runs once per event on the hot path.
    """
    if type(record) is not dict:
        raise ContractError(f"expected a JSON object, got {type(record).__name__}")
    get = record.get
    event_type = get("event_type")
    if type(event_type) is not str or event_type not in EVENT_TYPES:  # a list is not even hashable
        raise ContractError(f"event_type must be one of {', '.join(EventType.__members__)}, got {_short(event_type)}")
    event_id, actor_id, event_time = get("event_id"), get("actor_id"), get("event_time")
    if type(event_id) is not str or not event_id:
        raise _bad_string("event_id", event_id)
    if type(actor_id) is not str or not actor_id:
        raise _bad_string("actor_id", actor_id)
    if event_time is None:
        raise ContractError("event_time is missing")
    if type(event_time) is not int:
        event_time = parse_event_time(event_time)
    if not EVENT_TIME_MIN_MS <= event_time < EVENT_TIME_MAX_MS:
        raise ContractError(f"event_time {_shown_time(event_time)} is outside [1970-01-01, 2100-01-01)")
    if len(event_id) > MAX_ID_CHARS or len(actor_id) > MAX_ID_CHARS:
        raise ContractError(f"event_id and actor_id must be at most {MAX_ID_CHARS} characters")
    strings: list[str | None] = []
    for name in _OPTIONAL_STRINGS:
        value = get(name)
        if value is not None:
            if type(value) is not str:
                raise ContractError(f"{name} must be a string or null, got {type(value).__name__}")
            if len(value) > (MAX_TEXT_CHARS if name == "text" else MAX_ID_CHARS):
                limit = MAX_TEXT_CHARS if name == "text" else MAX_ID_CHARS
                raise ContractError(f"{name} must be at most {limit} characters, got {len(value)}")
        strings.append(value or None)
    counts: list[int | None] = []
    for name in _OPTIONAL_COUNTS:
        value = get(name)
        if value is not None and (type(value) is not int or not 0 <= value <= LONG_MAX):
            raise ContractError(f"{name} must be a non-negative integer below 2^63 or null, got {_short(value)}")
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
