"""Garbage of every kind the reliability issue names, as Kafka message bodies, JSON Lines and Avro records.

Shared by the decoder fuzz suite (tests/io/test_decoders_fuzz.py) and the end-to-end garbage run through the
real broker, so both feed the product the same catalogue. Each entry is (name, what the product must do):
a substring of the dead-letter reason, or ACCEPTED for input that is odd but valid (a self-interaction).
"""

from __future__ import annotations

import io
import json
from typing import Any

from pipelines.io import wire
from pipelines.schemas import schema

ACCEPTED = "<accepted>"
MB10 = 10 * 1024 * 1024
DEEP = 100_000  # nesting levels: far past Python's recursion limit


def valid_record(i: int = 0, t: int = 1_764_547_200_000) -> dict[str, Any]:
    """A contract-valid REPLY record (event_time 2025-12-01)."""
    return {
        "event_id": f"g{i}",
        "event_type": "REPLY",
        "actor_id": f"fan{i % 7}",
        "target_account_id": "guru",
        "text": "thanks!",
        "followers_count": 10,
        "event_time": t,
    }


def bad_records() -> list[tuple[str, dict[str, Any], str]]:
    """Records whose fields break the contract (or are odd but valid): (name, record, expected)."""
    base = valid_record()
    return [
        ("null event_id", {**base, "event_id": None}, "event_id must be a non-empty string"),
        ("empty event_id", {**base, "event_id": ""}, "event_id must be a non-empty string"),
        ("empty actor_id", {**base, "actor_id": ""}, "actor_id must be a non-empty string"),
        ("numeric event_id", {**base, "event_id": 17}, "event_id must be a non-empty string"),
        ("list actor_id", {**base, "actor_id": ["a"]}, "actor_id must be a non-empty string"),
        ("unknown enum symbol", {**base, "event_type": "REPOST"}, "event_type must be one of"),
        ("NaN followers", {**base, "followers_count": float("nan")}, "followers_count must be"),
        ("infinite followers", {**base, "followers_count": float("inf")}, "followers_count must be"),
        ("huge followers", {**base, "followers_count": 10**30}, "followers_count must be"),
        ("negative followers", {**base, "followers_count": -1}, "followers_count must be"),
        ("year 1 ISO", {**base, "event_time": "0001-01-01T00:00:00Z"}, "is outside [1970-01-01, 2100-01-01)"),
        ("year 9999 ISO", {**base, "event_time": "9999-12-31T23:59:59Z"}, "is outside [1970-01-01, 2100-01-01)"),
        ("year 9999 ms", {**base, "event_time": 253_402_300_799_000}, "is outside [1970-01-01, 2100-01-01)"),
        ("huge event_time", {**base, "event_time": 10**30}, "is outside [1970-01-01, 2100-01-01)"),
        ("negative event_time", {**base, "event_time": -1}, "is outside [1970-01-01, 2100-01-01)"),
        ("NaN event_time", {**base, "event_time": float("nan")}, "event_time must be epoch milliseconds"),
        ("4301-digit event_time", {**base, "event_time": "9" * 4301}, "event_time is not ISO-8601"),
        ("garbage event_time", {**base, "event_time": "yesterday"}, "event_time is not ISO-8601"),
        ("missing event_time", {k: v for k, v in base.items() if k != "event_time"}, "event_time is missing"),
        ("reply without target", {**base, "target_account_id": None}, "REPLY needs target_account_id"),
        ("numeric text", {**base, "text": 3.5}, "text must be a string or null"),
        ("lone surrogate", {**base, "text": "bad \ud800 text"}, "lone UTF-16 surrogate"),
        ("10 MB text", {**base, "text": "x" * MB10}, "text must be at most"),
        ("10 kB actor_id", {**base, "actor_id": "a" * 10_000}, "at most 512 characters"),
        ("self-interaction", {**base, "actor_id": "guru", "target_account_id": "guru"}, ACCEPTED),
    ]


def _avro_body(record: dict[str, Any], extra_symbol: bool = False) -> bytes:
    """The Avro binary body of a SocialEvent record; with `extra_symbol`, written by a schema whose enum has an
    eighth symbol, so REPOST becomes index 7, which the product's schema does not have."""
    import fastavro

    writer = schema("SocialEvent")
    if extra_symbol:
        writer = json.loads(json.dumps(writer))
        for field in writer["fields"]:
            if field["name"] == "event_type":
                field["type"]["symbols"] = [*field["type"]["symbols"], "REPOST"]
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(writer), record)
    return buffer.getvalue()


def _json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, allow_nan=True).encode("utf-8")


def bad_messages() -> list[tuple[str, bytes, str]]:
    """Kafka message bodies the source must turn into dead letters (json_ok=True): (name, payload, reason)."""
    good = wire.encode(valid_record(), "SocialEvent")
    header = wire.header_of("SocialEvent")
    base = valid_record()
    utf8_body = _avro_body({**base, "actor_id": "ABCD"}).replace(b"ABCD", b"\xff\xfe\xfd\xfc")
    out: list[tuple[str, bytes, str]] = [
        ("empty message", b"", "bad marker"),
        ("one byte", b"\xc3", "bad marker"),
        ("truncated header", good[:6], "truncated single-object header"),
        ("truncated body", good[:-3], "truncated or corrupt SocialEvent body"),
        ("trailing bytes", good + b"\x00\x00", "unexpected trailing bytes"),
        ("unknown fingerprint", wire.MAGIC + b"\x01" * 8 + good[10:], "unknown schema fingerprint"),
        ("Confluent framing", b"\x00\x00\x00\x00\x2a" + good[10:], "Confluent Schema Registry framing"),
        ("invalid UTF-8 in Avro", header + utf8_body, "corrupt SocialEvent body"),
        ("unknown enum index", header + _avro_body({**base, "event_type": "REPOST"}, True), "SocialEvent body"),
        ("an alert, not an event", wire.encode(_alert(), "EngagementAlert"), "expected a SocialEvent message"),
        ("oversized 10 MB", header + b"\x00" * MB10, "over the 1048576-byte limit"),
        ("random bytes", bytes(range(16, 256)) * 4, "bad marker"),
        ("invalid JSON", b'{"event_id": ', "not valid JSON"),
        ("invalid UTF-8 JSON", b'{"event_id": "\xff\xfe"}', "not valid JSON"),
        ("JSON array", b"[1, 2, 3]", "bad marker"),
        ("deeply nested JSON", b'{"a": ' + b"[" * DEEP + b"]" * DEEP + b"}", "nested too deeply"),
        ("year 9999 in Avro", wire.encode({**base, "event_time": 253_402_300_799_000}, "SocialEvent"), "outside"),
        ("empty id in Avro", wire.encode({**base, "event_id": ""}, "SocialEvent"), "event_id must be"),
    ]
    for name, record, reason in bad_records():
        if reason != ACCEPTED and name != "10 MB text":  # 10 MB of JSON: the size limit, covered above
            out.append((f"JSON {name}", _json(record), reason))
    return out


def _alert() -> dict[str, Any]:
    window = {field["name"]: _zero(field["type"]) for field in schema("AccountWindow")["fields"]}
    window.update(account_id="guru", tier="rising", window_start=0, window_end=3_600_000)
    return {
        "alert_id": "a1",
        "account_id": "guru",
        "status": "firing",
        "window_start": 0,
        "window_end": 3_600_000,
        "metrics": window,
        "evidence": {"ignored_engagers": [], "preaching_post": None, "watchlisted": False},
    }


def _zero(kind: Any) -> Any:
    if isinstance(kind, list):
        return None
    if isinstance(kind, dict):
        return 0
    return {"string": "", "boolean": False, "double": 0.0}.get(kind, 0)
