"""File IO: SocialEvent replay from Avro container files or JSON Lines (outputs: pipelines/io/jsonlines.py).

Reading never raises on data: an undecodable line, an Avro block that cannot be read, or a record that
breaks the contract becomes a dead letter carrying its reason, its source (file and line/record number) and
the original line or record, and the read goes on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, cast

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.io import wire
from pipelines.io.dead_letters import dead_letter
from pipelines.model.events import ContractError, event_from_record, record_from_json

NAMESPACE = "reciprocity"
DEAD_LETTER = "dead_letter"
SUPPORTED_SUFFIXES = (".avro", ".jsonl", ".json")


def expand_inputs(pattern: str) -> list[str]:
    """Every file the pattern (a path, a directory or a glob) names; ValueError with one line otherwise."""
    if os.path.isdir(pattern):
        pattern = os.path.join(pattern, "*")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception as error:  # the filesystem's own error type varies; its message is what matters
        raise ValueError(f"--input: cannot list {pattern!r}: {error}") from None
    files = sorted(m.path for m in matched if m.path.endswith(SUPPORTED_SUFFIXES))
    if not files:
        raise ValueError(f"--input: no .avro or .jsonl file matches {pattern!r}")
    return files


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)


class ReadEventFileFn(beam.DoFn):
    """A file path in, SocialEvents out (main output) and dead letters (tagged output)."""

    def __init__(self) -> None:
        self._dead = beam.metrics.Metrics.counter(NAMESPACE, "dead_letters")

    def process(self, path: str) -> Iterator[Any]:
        records = self.read_avro(path) if path.endswith(".avro") else self.read_jsonl(path)
        for source, record, raw in records:
            if isinstance(record, ContractError):  # unreadable input: the reader gives the bytes it read
                error = record
            else:
                try:
                    event = event_from_record(record)
                except ContractError as invalid:
                    error = invalid
                else:
                    yield event
                    continue
            self._dead.inc()
            shown = raw if raw is not None else json.dumps(record, default=_json_default)
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(str(error), source, shown))

    @staticmethod
    def read_jsonl(path: str) -> Iterator[tuple[str, Any, bytes | None]]:
        with FileSystems.open(path) as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                source, raw = f"{path}:{number}", line.rstrip(b"\r\n")
                try:
                    yield source, record_from_json(raw), raw
                except ContractError as error:
                    yield source, error, raw

    @staticmethod
    def read_avro(path: str) -> Iterator[tuple[str, Any, bytes | None]]:
        """Records of an Avro container file, as written (times as epoch-millisecond ints).

        Each record is decoded on its own with the writer schema stripped of logical types, so a value no
        datetime can hold (year 0, 10^17 ms) is one dead letter rather than an error that ends the file.
        Bytes that cannot be decoded at all lose the rest of their block (the next record's start is then
        unknown); the next block is read again. A broken header or sync marker ends the file.
        """
        import fastavro
        from fastavro import schemaless_reader

        number = 0
        with FileSystems.open(path) as handle:
            try:
                blocks = fastavro.block_reader(handle)
                plain = fastavro.parse_schema(wire.without_logical_types(blocks.writer_schema))
                for block in blocks:
                    data = cast(Any, block).bytes_  # the decompressed block (not in fastavro's type stubs)
                    for index in range(block.num_records):
                        try:
                            record = schemaless_reader(data, plain, None)
                        except Exception as error:  # fastavro raises many types on corrupt bytes
                            lost = block.num_records - index
                            reason = f"unreadable Avro record, {lost} record(s) of its block lost: {_what(error)}"
                            yield f"{path}#{number + 1}", ContractError(reason), b""
                            number += lost
                            break
                        number += 1
                        yield f"{path}#{number}", record, None
            except Exception as error:  # a broken header, sync marker or codec block: nothing after it is readable
                yield (
                    f"{path}#{number + 1}",
                    ContractError(f"unreadable Avro data after record {number}: {_what(error)}"),
                    b"",
                )


def _what(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class ReadEventFiles(beam.PTransform):
    """Replays SocialEvents from files. Output: {"events": ..., "dead_letter": ...}."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self._files = expand_inputs(pattern)

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        outputs = (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "Read" >> beam.ParDo(ReadEventFileFn()).with_outputs(DEAD_LETTER, main="events")
        )
        return {"events": outputs.events, "dead_letter": outputs[DEAD_LETTER]}
