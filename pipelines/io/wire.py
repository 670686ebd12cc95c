"""Kafka message bodies: Avro single-object encoding of the schemas in schemas/, and JSON events on request.

Single-object encoding (Avro specification, "Single-object encoding") is

    0xC3 0x01 | CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, 8 bytes little-endian
              | the record in Avro binary encoding

It needs no schema registry: the fingerprint names the writer schema, and any Avro library (Java's
`BinaryMessageDecoder`, Rust's `apache-avro`, ...) computes the same fingerprint from the same .avsc. The
canonical form drops docs, defaults and logical types, so editing a doc string keeps the fingerprint,
while adding a field changes it (and old readers then reject new messages with a clear reason instead of
misreading them).

Times stay epoch milliseconds end to end: records are decoded with the logical types stripped, so a
`timestamp-millis` field comes back as the int that was written, not as a datetime.

Confluent Schema Registry framing (0x00 + 4-byte schema id) is recognised only to reject it with a
helpful reason: resolving its ids would need a registry client, which this product does not use.
"""

from __future__ import annotations

import io
from functools import cache
from typing import Any, cast

from pipelines.model.events import MAX_MESSAGE_BYTES, ContractError, SocialEvent, event_from_record, record_from_json
from pipelines.schemas import schema

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
SCHEMA_NAMES = ("SocialEvent", "AccountWindow", "EngagementAlert", "DeadLetter")
_NAMED_TYPES = frozenset({"record", "enum", "fixed", "error"})


def _standalone(parsed: Any) -> Any:
    """The schema as a self-contained JSON value: each named type it references by name is defined inline
    at its first use, as the Parsing Canonical Form requires ([FULLNAMES]/[STRIP] rules; later uses stay
    references).

    fastavro keeps a type parsed earlier (EngagementAlert's `metrics: AccountWindow`) as a bare name, and
    its canonical form of such a schema would leave the name undefined, giving a fingerprint that no other
    Avro implementation computes.
    """
    named: dict[str, Any] = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    defined: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            if node in named and node not in defined:
                return walk(named[node])
            return node
        if isinstance(node, list):
            return [walk(branch) for branch in node]
        if not isinstance(node, dict):
            return node
        out = {k: v for k, v in node.items() if not k.startswith("__")}
        if out.get("type") in _NAMED_TYPES and "name" in out:
            defined.add(out["name"])
        if "fields" in out:
            out["fields"] = [{**field, "type": walk(field["type"])} for field in out["fields"]]
        for key in ("items", "values"):
            if key in out:
                out[key] = walk(out[key])
        if isinstance(out.get("type"), (dict, list)) or (isinstance(out.get("type"), str) and out["type"] in named):
            out["type"] = walk(out["type"])
        return out

    return walk(parsed)


def without_logical_types(node: Any) -> Any:
    """The same schema with every logicalType removed: the binary encoding is identical, but fastavro then
    reads a timestamp-millis long as the int it is instead of building a datetime."""
    if isinstance(node, list):
        return [without_logical_types(branch) for branch in node]
    if not isinstance(node, dict):
        return node
    return {k: without_logical_types(v) for k, v in node.items() if k != "logicalType"}


@cache
def _codecs() -> tuple[dict[str, tuple[bytes, Any]], dict[bytes, tuple[str, Any]]]:
    """name -> (header, writer schema) and fingerprint -> (name, plain reader schema), computed once."""
    import fastavro
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    by_name: dict[str, tuple[bytes, Any]] = {}
    by_fingerprint: dict[bytes, tuple[str, Any]] = {}
    for name in SCHEMA_NAMES:
        standalone = _standalone(schema(name))
        canonical = to_parsing_canonical_form(standalone)
        # fastavro returns the fingerprint as hex of the little-endian bytes, the spec's byte order.
        digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        by_name[name] = (MAGIC + digest, schema(name))
        by_fingerprint[digest] = (name, fastavro.parse_schema(without_logical_types(standalone)))
    return by_name, by_fingerprint


def fingerprint_of(schema_name: str) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint (little-endian) of a product schema's Parsing Canonical Form."""
    return header_of(schema_name)[len(MAGIC) :]


def header_of(schema_name: str) -> bytes:
    """The 10 bytes every single-object message of this schema starts with."""
    try:
        return _codecs()[0][schema_name][0]
    except KeyError:
        raise KeyError(f"unknown schema {schema_name!r}; known: {', '.join(SCHEMA_NAMES)}") from None


def encode(record: dict[str, Any], schema_name: str) -> bytes:
    """One record as an Avro single-object message. Raises ValueError if the record does not fit the schema."""
    from fastavro import schemaless_writer

    try:
        header, writer_schema = _codecs()[0][schema_name]
    except KeyError:
        raise KeyError(f"unknown schema {schema_name!r}; known: {', '.join(SCHEMA_NAMES)}") from None
    buffer = io.BytesIO()
    buffer.write(header)
    try:
        schemaless_writer(buffer, writer_schema, record)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"record does not fit schema {schema_name}: {type(error).__name__}: {error}") from None
    return buffer.getvalue()


def _preview(payload: bytes, size: int = 8) -> str:
    return payload[:size].hex(" ") + (" ..." if len(payload) > size else "")


def decode(payload: bytes) -> tuple[str, dict[str, Any]]:
    """(schema name, record) from a single-object message; ValueError with a one-line reason otherwise.

    The whole payload must be the record: trailing bytes mean the writer used another schema with the same
    prefix, or the message is corrupt, and are rejected rather than silently ignored.
    """
    from fastavro import schemaless_reader

    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ValueError(f"expected bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    if len(payload) < len(MAGIC) or payload[: len(MAGIC)] != MAGIC:
        if len(payload) >= 5 and payload[0] == 0:
            schema_id = int.from_bytes(payload[1:5], "big")
            raise ValueError(
                f"Confluent Schema Registry framing (schema id {schema_id}) is not supported; "
                "produce Avro single-object encoding (0xC3 0x01 + fingerprint)"
            )
        raise ValueError(f"not Avro single-object encoding: bad marker (first bytes {_preview(payload) or 'none'})")
    if len(payload) < HEADER_SIZE:
        raise ValueError(f"truncated single-object header: {len(payload)} bytes, need {HEADER_SIZE}")
    digest = payload[len(MAGIC) : HEADER_SIZE]
    known = _codecs()[1].get(digest)
    if known is None:
        raise ValueError(
            f"unknown schema fingerprint {digest.hex()} (known: "
            + ", ".join(f"{name}={fingerprint_of(name).hex()}" for name in SCHEMA_NAMES)
            + ")"
        )
    name, reader_schema = known
    body = io.BytesIO(payload)
    body.seek(HEADER_SIZE)
    try:
        record = schemaless_reader(body, reader_schema, None)
    except (EOFError, StopIteration, IndexError):  # the compiled reader raises IndexError on a short buffer
        # ... and on an enum or union index past the schema's symbols, which a short buffer can also look like.
        size = len(payload) - HEADER_SIZE
        raise ValueError(f"truncated or corrupt {name} body: cannot read a record from its {size} bytes") from None
    except Exception as error:  # fastavro raises many types on corrupt input (IndexError, UnicodeDecodeError...)
        raise ValueError(f"corrupt {name} body: {type(error).__name__}: {error}") from None
    left = len(payload) - body.tell()
    if left:
        raise ValueError(f"{left} unexpected trailing bytes after the {name} record")
    return name, cast(dict[str, Any], record)  # every schema in SCHEMA_NAMES is an Avro record: fastavro gives a dict


def decode_event(payload: bytes, json_ok: bool = False) -> SocialEvent:
    """A SocialEvent from a Kafka message body, or ContractError with the one-line dead-letter reason.

    Avro single-object messages are the contract. With `json_ok`, a message whose first non-blank byte is
    `{` is read as one JSON object instead (handy for hand-typed test messages); the contract check is the
    same either way.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ContractError(f"expected bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ContractError(f"message of {len(payload)} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")
    if json_ok and payload[:1] != MAGIC[:1] and payload.lstrip()[:1] == b"{":
        return event_from_record(record_from_json(payload))
    try:
        name, record = decode(payload)
    except ValueError as error:
        hint = "" if json_ok or payload.lstrip()[:1] != b"{" else " (looks like JSON; JSON input is not enabled)"
        raise ContractError(f"{error}{hint}") from None
    if name != "SocialEvent":
        raise ContractError(f"expected a SocialEvent message, got {name}")
    return event_from_record(record)
