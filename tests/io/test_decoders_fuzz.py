"""Every decoder under garbage: Kafka messages (Avro single-object, the Confluent framing it refuses, JSON
events), JSON Lines files and Avro container files.

The property, for every input: it ends as exactly one parsed event or one dead letter with a reason (a corrupt
Avro block may end as one dead letter for its lost records), nothing raises, nothing hangs (hypothesis'
per-example deadline and pytest-timeout), and what comes out is safe downstream: an accepted event encodes to
Avro and to JSON, its windows' times format as ISO-8601, and a dead letter fits a Kafka message.

The catalogue of named cases (tests/garbage.py) pins the reason of each kind; hypothesis then mixes and
mutates. 10 MB inputs are catalogue cases only: generating them per example would make the suite slow.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import apache_beam as beam
import fastavro
import pytest
from apache_beam.utils.timestamp import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.io import wire
from pipelines.io.dead_letters import MAX_RAW_BYTES
from pipelines.io.files import DEAD_LETTER, ReadEventFileFn
from pipelines.io.jsonlines import to_json_line
from pipelines.io.kafka import ReadPartitionFn
from pipelines.model.events import MAX_MESSAGE_BYTES, SocialEvent, iso_utc
from pipelines.schemas import schema
from tests.garbage import ACCEPTED, bad_messages, bad_records, valid_record
from tests.io.test_kafka_io import Record

DAY = 86_400_000
FUZZ = settings(max_examples=150, deadline=2_000, suppress_health_check=[HealthCheck.too_slow])


def through_kafka(payload: bytes | None) -> SocialEvent | dict[str, Any]:
    """One message through the Kafka source's per-record decoder (json_ok: the widest path)."""
    fn = ReadPartitionFn("unused:9092", "group", json_ok=True)
    fn.setup()
    out = fn._to_output(Record("t", 0, 7, 1_000, payload))
    if isinstance(out, SocialEvent):
        return out
    assert isinstance(out, beam.pvalue.TaggedOutput) and out.tag == DEAD_LETTER
    return out.value.value  # TaggedOutput(TimestampedValue(letter))


def through_file(path: Path) -> list[SocialEvent | dict[str, Any]]:
    outputs = []
    for out in ReadEventFileFn().process(str(path)):
        if isinstance(out, SocialEvent):
            outputs.append(out)
        else:
            assert isinstance(out, beam.pvalue.TaggedOutput) and out.tag == DEAD_LETTER
            outputs.append(out.value)
    return outputs


def assert_safe(out: SocialEvent | dict[str, Any]) -> None:
    """What a worker does next with it must not fail."""
    if isinstance(out, SocialEvent):
        assert wire.decode_event(wire.encode(out.to_record(), "SocialEvent")) == out
        to_json_line(out.to_record()).encode("utf-8")
        for t in (out.event_time - 30 * DAY, out.event_time + 30 * DAY):
            iso_utc(t)
            Timestamp(micros=t * 1000)
        return
    reason = out["reason"]
    assert isinstance(reason, str) and reason.strip() and "\n" not in reason and len(reason) < 700
    assert isinstance(out["raw"], bytes) and len(out["raw"]) <= MAX_RAW_BYTES
    assert len(wire.encode(out, "DeadLetter")) < MAX_MESSAGE_BYTES
    to_json_line(out).encode("utf-8")


# --- the catalogue -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "payload", "reason"), bad_messages(), ids=[c[0] for c in bad_messages()])
def test_every_kind_of_bad_message_is_one_dead_letter_with_its_reason(name, payload, reason):
    out = through_kafka(payload)
    assert isinstance(out, dict), f"{name} was accepted"
    assert reason in out["reason"], out["reason"]
    assert out["source"] == "t/0/7"
    assert out["raw"] == payload[:MAX_RAW_BYTES]
    if len(payload) > MAX_RAW_BYTES:
        assert f"[raw: first {MAX_RAW_BYTES} of {len(payload)} bytes]" in out["reason"]
    assert_safe(out)


def test_a_tombstone_is_a_dead_letter():
    out = through_kafka(None)
    assert isinstance(out, dict) and out["reason"] == "empty message (tombstone)" and out["raw"] == b""


def test_a_self_interaction_is_a_valid_event():
    record = {**valid_record(), "actor_id": "guru", "target_account_id": "guru"}
    out = through_kafka(wire.encode(record, "SocialEvent"))
    assert isinstance(out, SocialEvent) and out.actor_id == out.target_account_id == "guru"


def test_json_lines_catalogue_line_by_line(tmp_path):
    cases = bad_records()
    lines = [json.dumps(record, allow_nan=True).encode() for _, record, _ in cases]
    lines += [b"{not json", b'{"event_id": "\xff"}', b"[" * 100_000, b"\x00\x01garbage"]
    # A 10 MB line meets the message size limit before the text length rule.
    expected = [("over the 1048576-byte limit" if name == "10 MB text" else reason) for name, _, reason in cases]
    expected += ["not valid JSON"] * 2 + ["nested too deeply", "not valid JSON"]
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n\n   \n")  # blank lines are skipped, not dead letters
    outputs = through_file(path)
    assert len(outputs) == len(expected)
    for number, (out, reason) in enumerate(zip(outputs, expected, strict=True), 1):
        assert_safe(out)
        if reason == ACCEPTED:
            assert isinstance(out, SocialEvent)
        else:
            assert isinstance(out, dict) and reason in out["reason"], (number, out)
            assert out["source"] == f"{path}:{number}"
            assert out["raw"] == lines[number - 1][:MAX_RAW_BYTES]


# --- Avro container files -------------------------------------------------------------------------------------------

ANY = ["null", "boolean", "long", "double", "string", {"type": "array", "items": "string"}]
LOOSE_SCHEMA = {
    "type": "record",
    "name": "Loose",
    "fields": [{"name": field["name"], "type": ANY} for field in schema("SocialEvent")["fields"]],
}


def _fits_avro(record: dict[str, Any]) -> bool:
    """What the loose schema can hold: 64-bit ints, UTF-8 strings (no lone surrogates), lists of strings."""

    def fits(value: Any) -> bool:
        if isinstance(value, int):
            return -(2**63) <= value < 2**63
        if isinstance(value, str):
            return value.encode("utf-8", errors="replace").decode("utf-8") == value
        if isinstance(value, list):
            return all(isinstance(item, str) and fits(item) for item in value)
        return True

    return all(fits(value) for value in record.values())


def write_avro(path: Path, records: list[dict[str, Any]], writer: Any = None, sync_interval: int = 16000) -> Path:
    with path.open("wb") as handle:
        fastavro.writer(handle, writer or LOOSE_SCHEMA, records, codec="null", sync_interval=sync_interval)
    return path


def test_avro_file_catalogue_record_by_record(tmp_path):
    cases = [(n, r, e) for n, r, e in bad_records() if _fits_avro(r)]
    records = [{k: record.get(k) for k in record} for _, record, _ in cases]
    outputs = through_file(write_avro(tmp_path / "garbage.avro", records))
    assert len(outputs) == len(cases)
    for (name, _, reason), out in zip(cases, outputs, strict=True):
        assert_safe(out)
        if reason == ACCEPTED:
            assert isinstance(out, SocialEvent), name
        else:
            assert isinstance(out, dict) and reason in out["reason"], (name, out)


def test_an_out_of_range_timestamp_in_an_avro_file_costs_one_record_not_the_rest(tmp_path):
    # timestamp-millis values no datetime can hold: fastavro's own reader raises on them and stops the file.
    times = [1_764_547_200_000] * 10
    times[3], times[5] = 10**17, -(10**17)
    records = [valid_record(i, t) for i, t in enumerate(times)]
    outputs = through_file(write_avro(tmp_path / "times.avro", records, schema("SocialEvent")))
    assert [isinstance(o, SocialEvent) for o in outputs] == [i not in (3, 5) for i in range(10)]
    assert "outside [1970-01-01, 2100-01-01)" in outputs[3]["reason"]


def test_undecodable_bytes_cost_the_rest_of_their_block_only(tmp_path):
    records = [{**valid_record(i), "actor_id": "ABCD" if i == 2 else f"fan{i}"} for i in range(6)]
    path = write_avro(tmp_path / "utf8.avro", records, schema("SocialEvent"), sync_interval=100)
    path.write_bytes(path.read_bytes().replace(b"ABCD", b"\xff\xfe\xfd\xfc"))
    outputs = through_file(path)
    letters = [o for o in outputs if isinstance(o, dict)]
    assert len(letters) == 1 and "record(s) of its block lost" in letters[0]["reason"]
    lost = int(letters[0]["reason"].split("unreadable Avro record, ")[1].split(" ")[0])
    assert len(outputs) - 1 + lost == 6 and any(
        isinstance(o, SocialEvent) for o in outputs[outputs.index(letters[0]) :]
    )


# --- hypothesis -----------------------------------------------------------------------------------------------------

NASTY_STRINGS = st.sampled_from(["", " ", "guru", "fan1", "\ud800", "é", "\x00", "a" * 600, "9" * 40, "NaN"])
NASTY_NUMBERS = st.sampled_from([0, -1, 2**63, 2**63 - 1, 10**30, -(10**20), float("nan"), float("inf"), 1.5, True])
TIMES = st.sampled_from(
    [
        1_764_547_200_000,
        0,
        -1,
        4_102_444_800_000,
        4_102_444_799_999,
        253_402_300_799_000,
        -62_135_596_800_000,
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "2025-12-01T00:00:00Z",
        "2025-12-01",
        "1764547200000",
        "-5",
        None,
    ]
)
VALUES = st.one_of(
    st.none(), NASTY_STRINGS, NASTY_NUMBERS, st.text(max_size=20), st.lists(st.integers() | st.text(), max_size=2)
)
FIELDS = [field["name"] for field in schema("SocialEvent")["fields"]]


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record with a few fields replaced by nasty values; sometimes a field dropped or a key added."""
    record: dict[str, Any] = valid_record(draw(st.integers(0, 20)))
    record["event_type"] = draw(st.sampled_from(["REPLY", "POST", "LIKE", "REPOST", "", "reply"]))
    record["event_time"] = draw(TIMES)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        record[name] = draw(VALUES)
    if draw(st.booleans()):
        record.pop(draw(st.sampled_from(FIELDS)), None)
    if draw(st.booleans()):
        record["target_account_id"] = record.get("actor_id")  # a self-interaction
    return record


@FUZZ
@given(payload=st.binary(max_size=300))
def test_arbitrary_bytes_are_one_event_or_one_dead_letter(payload):
    assert_safe(through_kafka(payload))


@FUZZ
@given(
    record=records().filter(lambda r: all(type(r.get(f)) in (str, type(None)) for f in FIELDS[:1])),
    cut=st.integers(0, 400),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3),
)
def test_mutated_avro_messages_are_one_event_or_one_dead_letter(record, cut, flips):
    try:
        payload = bytearray(wire.encode(record, "SocialEvent"))
    except (ValueError, KeyError):
        payload = bytearray(wire.encode(valid_record(), "SocialEvent"))
    for position, value in flips:
        if position < len(payload):
            payload[position] = value
    assert_safe(through_kafka(bytes(payload[: max(cut, 0)] if cut < len(payload) else payload)))


@FUZZ
@given(record=records(), framing=st.sampled_from([b"", b"  ", b"\x00\x00\x00\x00\x01"]))
def test_json_events_are_one_event_or_one_dead_letter(record, framing):
    out = through_kafka(framing + json.dumps(record, allow_nan=True).encode())
    assert_safe(out)
    if framing.startswith(b"\x00"):
        assert isinstance(out, dict) and "Confluent" in out["reason"]


@FUZZ
@given(recs=st.lists(records(), min_size=1, max_size=20), junk=st.lists(st.binary(max_size=40), max_size=5))
def test_json_lines_files_give_one_output_per_line(tmp_path_factory, recs, junk):
    lines = [json.dumps(r, allow_nan=True).encode() for r in recs]
    lines += [line.replace(b"\n", b" ") for line in junk if line.replace(b"\n", b" ").strip()]
    path = tmp_path_factory.mktemp("jsonl") / "events.jsonl"
    path.write_bytes(b"\n".join(lines))
    outputs = through_file(path)
    assert len(outputs) == len(lines)
    for out in outputs:
        assert_safe(out)


@FUZZ
@given(recs=st.lists(records().filter(_fits_avro), min_size=1, max_size=20))
def test_avro_files_give_one_output_per_record(tmp_path_factory, recs):
    outputs = through_file(write_avro(tmp_path_factory.mktemp("avro") / "events.avro", recs))
    assert len(outputs) == len(recs)
    for out in outputs:
        assert_safe(out)


@FUZZ
@given(
    cut=st.integers(0, 5000),
    flips=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=4),
)
def test_corrupt_avro_files_never_raise(tmp_path_factory, cut, flips):
    buffer = io.BytesIO()
    fastavro.writer(buffer, schema("SocialEvent"), [valid_record(i) for i in range(60)], sync_interval=500)
    data = bytearray(buffer.getvalue())
    for position, value in flips:
        if position < len(data):
            data[position] = value
    path = tmp_path_factory.mktemp("bad") / "events.avro"
    path.write_bytes(bytes(data[:cut]) if cut < len(data) else bytes(data))
    outputs = through_file(path)
    for out in outputs:
        assert_safe(out)
    assert sum(isinstance(o, SocialEvent) for o in outputs) <= 60
