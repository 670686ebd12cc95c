"""Avro single-object encoding (pipelines/io/wire.py): spec test vectors, round trips, and corrupt messages."""

from __future__ import annotations

import contextlib
import json

import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.io import wire
from pipelines.io.files import dead_letter
from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import ContractError, SocialEvent
from pipelines.model.reference import reference
from pipelines.schemas import SCHEMA_DIR
from pipelines.simulator import SimulationConfig, build_network, generate
from tests.strategies import social_events

# The Avro specification's fingerprint algorithm, transcribed independently of fastavro ("Schema
# Fingerprints": the 64-bit Rabin fingerprint, CRC-64-AVRO), so that fastavro's byte order is checked too.
_EMPTY64 = 0xC15D213AA4D7A795


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return table


_FP_TABLE = _table()


def rabin(data: bytes) -> int:
    fp = _EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ _FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


def as_signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# Inputs, canonical forms and fingerprints (Java longs) from the Avro repository's
# share/test/data/schema-tests.txt, which every Avro implementation tests against.
SPEC_VECTORS = [
    ('"null"', '"null"', 7195948357588979594),
    ('"int"', '"int"', 8247732601305521295),
    ('{"type":"int"}', '"int"', 8247732601305521295),
    ('"long"', '"long"', -3434872931120570953),
    ('"string"', '"string"', -8142146995180207161),
    (
        '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
        '{"name":"x.y.foo","type":"record","fields":[]}',
        5916914534497305771,
    ),
    (
        '{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}',
        '{"name":"foo","type":"record","fields":[]}',
        -4824392279771201922,
    ),
    (
        '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
        '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
        -4448647247586288245,
    ),
    (
        '{"name":"PigValue","type":"record","fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
        '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
        -1759257747318642341,
    ),
]


@pytest.mark.parametrize(("schema_json", "canonical", "expected"), SPEC_VECTORS)
def test_spec_fingerprint_vectors(schema_json, canonical, expected):
    assert to_parsing_canonical_form(json.loads(schema_json)) == canonical
    assert as_signed(rabin(canonical.encode())) == expected
    # On the wire the fingerprint is little-endian, and fastavro's hex is of those bytes.
    assert bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")) == expected.to_bytes(8, "little", signed=True)


def test_int_fingerprint_bytes_match_the_spec_example():
    """The 8 bytes after 0xC3 0x01 in a single-object message of schema "int"."""
    assert rabin(b'"int"').to_bytes(8, "little").hex() == "8f5c393f1ad57572"


def _raw(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())


def test_product_fingerprints_are_those_of_the_standalone_schemas():
    """EngagementAlert refers to AccountWindow by name; its canonical form must define it inline (first use),
    as a Java or Rust reader computing the fingerprint from the .avsc files would."""
    alert = _raw("EngagementAlert")
    for field in alert["fields"]:
        if field["name"] == "metrics":
            field["type"] = _raw("AccountWindow")
    standalone = {"EngagementAlert": alert} | {n: _raw(n) for n in ("SocialEvent", "AccountWindow", "DeadLetter")}
    for name, raw in standalone.items():
        expected = rabin(to_parsing_canonical_form(raw).encode()).to_bytes(8, "little")
        assert wire.fingerprint_of(name) == expected, name
        assert wire.header_of(name) == b"\xc3\x01" + expected


def test_fingerprints_are_pinned():
    """A change here means the wire contract changed: consumers running the old schema will reject the
    new messages (by design). Update deliberately, with the consumers."""
    assert {name: wire.fingerprint_of(name).hex() for name in wire.SCHEMA_NAMES} == {
        "SocialEvent": "9393e687bb0c6b02",
        "AccountWindow": "8386db7ffe1f58d8",
        "EngagementAlert": "1a006dc73635d299",
        "DeadLetter": "1c971c23632b7dd7",
    }


@pytest.fixture(scope="module")
def simulated() -> list[SocialEvent]:
    return list(generate(build_network(SimulationConfig(seed=7, gurus=4, fans=120, days=2))))


def test_round_trip_every_schema(simulated):
    windows, alerts = reference(simulated, ReciprocityConfig(min_inbound=5))
    assert windows and alerts
    samples = {
        "SocialEvent": [e.to_record() for e in simulated[:200]],
        "AccountWindow": windows[:50],
        "EngagementAlert": alerts,
        "DeadLetter": [dead_letter("bad", "topic/0/7", b"\x00\xff raw")],
    }
    for name, records in samples.items():
        for record in records:
            payload = wire.encode(record, name)
            assert payload.startswith(wire.header_of(name))
            assert wire.decode(payload) == (name, record)


def test_times_come_back_as_epoch_milliseconds(simulated):
    _, record = wire.decode(wire.encode(simulated[0].to_record(), "SocialEvent"))
    assert type(record["event_time"]) is int and record["event_time"] == simulated[0].event_time


@settings(max_examples=50, deadline=None)
@given(events=social_events(max_size=5))
def test_decode_event_round_trip(events):
    for event in events:
        assert wire.decode_event(wire.encode(event.to_record(), "SocialEvent")) == event


def test_encode_rejects_a_record_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit schema SocialEvent"):
        wire.encode({"event_id": "x", "event_type": "NOPE", "actor_id": "a", "event_time": 1}, "SocialEvent")
    with pytest.raises(KeyError, match="unknown schema"):
        wire.encode({}, "Nope")


def _event_payload() -> bytes:
    event = SocialEvent("e1", "REPLY", "fan", 1_700_000_000_000, target_account_id="guru", text="merci 🙏")
    return wire.encode(event.to_record(), "SocialEvent")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "bad marker"),
        (b"garbage", "bad marker"),
        (b"\xc3\x02" + bytes(8), "bad marker"),
        (b"\xc3\x01\x93\x93", "truncated single-object header"),
        (b"\xc3\x01" + bytes(8) + b"\x02", "unknown schema fingerprint 0000000000000000"),
        (_event_payload()[:-3], "truncated or corrupt SocialEvent body"),
        (wire.header_of("SocialEvent"), "truncated or corrupt SocialEvent body"),
        (_event_payload() + b"\x00", "1 unexpected trailing bytes"),
        (b"\x00\x00\x00\x00\x2a" + b"\x02", "Confluent Schema Registry framing (schema id 42)"),
    ],
)
def test_decode_rejects_corrupt_messages_with_one_line(payload, reason):
    with pytest.raises(ValueError) as error:
        wire.decode(payload)
    assert reason in str(error.value)
    assert "\n" not in str(error.value)


def test_decode_rejects_a_corrupt_body():
    payload = bytearray(_event_payload())
    payload[wire.HEADER_SIZE + 4] = 0x7F  # inside event_id: a string length far beyond the message
    with pytest.raises(ValueError, match="SocialEvent body"):
        wire.decode(bytes(payload))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64) | st.builds(lambda cut: _event_payload()[:cut], st.integers(0, 80)))
def test_decode_event_never_raises_anything_but_contract_error(data):
    try:
        wire.decode_event(data, json_ok=True)
    except ContractError as error:
        assert "\n" not in str(error)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(wire.HEADER_SIZE, 60), value=st.integers(0, 255))
def test_flipped_body_bytes_decode_or_fail_cleanly(position, value):
    payload = bytearray(_event_payload())
    if position < len(payload):
        payload[position] = value
    with contextlib.suppress(ContractError):
        wire.decode_event(bytes(payload))


def test_decode_event_contract_and_schema_checks():
    no_target = {**SocialEvent("e2", "POST", "guru", 5).to_record(), "event_type": "REPLY"}
    with pytest.raises(ContractError, match="REPLY needs target_account_id"):
        wire.decode_event(wire.encode(no_target, "SocialEvent"))
    letter = wire.encode(dead_letter("x", "y", b"z"), "DeadLetter")
    with pytest.raises(ContractError, match="expected a SocialEvent message, got DeadLetter"):
        wire.decode_event(letter)


def test_json_only_when_enabled():
    event = SocialEvent("e4", "LIKE", "fan", 1_700_000_000_000, target_account_id="guru")
    body = json.dumps({**event.to_record(), "event_time": "2023-11-14T22:13:20Z"}).encode()
    assert wire.decode_event(body, json_ok=True) == event
    with pytest.raises(ContractError, match="looks like JSON; JSON input is not enabled"):
        wire.decode_event(body, json_ok=False)
    with pytest.raises(ContractError, match="not valid JSON"):
        wire.decode_event(b'{"event_id": ', json_ok=True)
    with pytest.raises(ContractError, match="event_type must be one of"):
        wire.decode_event(b'{"event_id": "x"}', json_ok=True)
    # An Avro message is still Avro with JSON enabled.
    assert wire.decode_event(_event_payload(), json_ok=True).event_id == "e1"


def test_decode_event_rejects_non_bytes():
    with pytest.raises(ContractError, match="expected bytes"):
        wire.decode_event(None)  # type: ignore[arg-type]
