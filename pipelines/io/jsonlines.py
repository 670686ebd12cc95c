"""JSON Lines outputs: DIR/account_windows.jsonl, DIR/alerts.jsonl, DIR/dead_letter.jsonl.

Times are written as ISO-8601 UTC and bytes as text. Every record goes through `to_json_line`, except an
account's windows, which `account_window_lines` writes to the same text faster: at P=5min the windows file
is the largest thing a replay produces (1.9M lines for 1M events), so its encoder is the replay's hot path.
"""

from __future__ import annotations

import base64
import functools
import json
import operator
import os
import shutil
from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.model.engine import WindowRuns
from pipelines.model.events import iso_utc
from pipelines.model.metrics import WINDOW_FIELDS
from pipelines.schemas import schema

_TIME_FIELDS = frozenset({"window_start", "window_end", "seen_at", "event_time"})


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


def _for_json(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for key in _TIME_FIELDS:
        value = out.get(key)
        if type(value) is int:
            out[key] = iso_utc(value)
    metrics = out.get("metrics")
    if type(metrics) is dict:
        out["metrics"] = _for_json(metrics)
    raw = out.get("raw")
    if type(raw) is bytes:
        out["raw"] = _text(raw)
    return out


def to_json_line(record: dict[str, Any]) -> str:
    """One output line: epoch-millisecond times become ISO-8601 UTC, bytes become text."""
    return json.dumps(_for_json(record), ensure_ascii=False)


# ---- account windows -------------------------------------------------------------------------------
# A window line is '{"account_id": ..., "window_start": ..., "window_end": ..., <figures>}'. The figures
# (every other field) repeat from one window to the next while no pane enters or leaves, so they are encoded
# once per change, by a template built from the AccountWindow contract: one conversion per Avro type.

_FIGURES = WINDOW_FIELDS[3:]
_figures_of = operator.itemgetter(*_FIGURES)
_CACHE_LIMIT = 100_000


@functools.lru_cache(maxsize=_CACHE_LIMIT)
def _window_times(start_ms: int, end_ms: int) -> str:
    """'<start>", "window_end": "<end>': one lookup per line (every account shares the window ends)."""
    return iso_utc(start_ms) + '", "window_end": "' + iso_utc(end_ms)


_double_texts: dict[float, str] = {}
_string = functools.lru_cache(maxsize=_CACHE_LIMIT)(functools.partial(json.dumps, ensure_ascii=False))


def _double_or_null(value: float | None) -> str:
    """The hottest conversion (nine per window), so a plain dict rather than lru_cache(typed=True)."""
    if value is None:
        return "null"
    text = _double_texts.get(value) if type(value) is float else None  # 1 == 1.0 == True as dict keys
    if text is None:
        if len(_double_texts) >= _CACHE_LIMIT:
            _double_texts.clear()
        text = json.dumps(value)
        if type(value) is float:
            _double_texts[value] = text
    return text


def _boolean(value: bool) -> str:
    return "true" if value else "false"


def _figures_template() -> tuple[str, tuple[tuple[int, Callable[[Any], str]], ...]]:
    """('"tier": %s, "inbound_engagers": %d, ...}', the conversions by position) from AccountWindow.avsc."""
    types = {field["name"]: field["type"] for field in schema("AccountWindow")["fields"]}
    parts: list[str] = []
    conversions: list[tuple[int, Callable[[Any], str]]] = []
    conversion: Callable[[Any], str]
    for position, name in enumerate(_FIGURES):
        kind = types[name]
        if kind in ("long", "int"):
            parts.append(f'"{name}": %d')
            continue
        if kind == "string":
            conversion = _string
        elif kind == "boolean":
            conversion = _boolean
        elif kind == ["null", "double"]:
            conversion = _double_or_null
        else:
            raise TypeError(f"AccountWindow.{name}: no JSON conversion for Avro type {kind!r}")
        parts.append(f'"{name}": %s')
        conversions.append((position, conversion))
    return ", ".join(parts) + "}", tuple(conversions)


_FIGURES_TEMPLATE, _FIGURE_CONVERSIONS = _figures_template()


def _figures_json(values: tuple[Any, ...]) -> str:
    out = list(values)
    for position, conversion in _FIGURE_CONVERSIONS:
        out[position] = conversion(out[position])
    return _FIGURES_TEMPLATE % tuple(out)


def account_window_lines(account: WindowRuns) -> str:
    """An account's windows (ComputeReciprocity's `batch_windows`) as JSON Lines: the same text as
    `to_json_line` gives each window.

    A run's figures are encoded once; its lines differ only in their times. A record of another shape
    is written by `to_json_line`. The lines are gathered as pieces and joined once: at P=5min an account's
    text is megabytes, and joining each line first would copy it twice.
    """
    pieces: list[str] = []
    extend = pieces.extend
    period = account.period_ms
    name: str | None = None
    figures: tuple[Any, ...] | None = None
    prefix = figures_json = ""  # both set at the first window (its account and figures differ from None)
    for first, count in account.runs:
        if len(first) != len(WINDOW_FIELDS):
            for window in WindowRuns(period, [(first, count)]).windows():
                extend((to_json_line(window), "\n"))
            continue
        if first["account_id"] != name:
            name = first["account_id"]
            prefix = '{"account_id": ' + _string(name) + ', "window_start": "'
        values = _figures_of(first)
        if values != figures:
            figures = values
            figures_json = '", ' + _figures_json(values) + "\n"
        start, end = first["window_start"], first["window_end"]
        for offset in range(0, count * period, period):
            extend((prefix, _window_times(start + offset, end + offset), figures_json))
    if pieces:
        pieces[-1] = pieces[-1][:-1]  # lines are separated, not terminated: the writer ends the element
    return "".join(pieces)


# ---- files -----------------------------------------------------------------------------------------
_MOVE_CHUNK = 16 << 20
INCOMPLETE = ".incomplete"  # the suffix of an output file still being assembled


def concatenate(parts: list[str], path: str) -> str:
    """Writes the parts, in name order, into one file at `path` and deletes them; returns `path`.

    On a local disk the first part becomes the file and the others are moved in by the kernel, see
    `_move_tail`: the windows file of a P=5min replay is a gigabyte, and this runs once, after every
    worker is done. The file is built under `path + INCOMPLETE` and renamed when whole, so a failure (a full
    disk) never leaves a partial file under the name users read.
    """
    ordered = sorted(parts)
    building = path + INCOMPLETE
    if ordered and all("://" not in name for name in [*ordered, path]):
        sizes = [os.path.getsize(part) for part in ordered]
        offset = sum(sizes)
        os.replace(ordered[0], building)
        with open(building, "r+b") as target:
            os.ftruncate(target.fileno(), offset)
            for part, size in reversed(list(zip(ordered[1:], sizes[1:], strict=True))):
                offset -= size
                _move_tail(part, size, target.fileno(), offset)
        os.replace(building, path)
        return path
    with FileSystems.create(building) as target:
        for part in ordered:
            with FileSystems.open(part) as source:
                shutil.copyfileobj(source, target, 1 << 20)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([building], [path])
    if ordered:
        FileSystems.delete(ordered)
    return path


def _move_tail(part: str, size: int, target: int, offset: int) -> None:
    """Copies `part` to `offset` in `target` from its end backwards, truncating it behind the copy.

    Each chunk's cached pages are freed as soon as they are copied (dirty ones are never written back), so
    the move needs one chunk of memory rather than a second copy of the part.
    """
    with open(part, "r+b") as handle:
        source = handle.fileno()
        end = size
        while end > 0:
            start = max(0, end - _MOVE_CHUNK)
            position = start
            while position < end:
                position += _copy_range(source, target, position, end - position, offset + position)
            os.ftruncate(source, start)
            end = start
    os.remove(part)


def _copy_range(source: int, target: int, position: int, count: int, at: int) -> int:
    """Copies up to `count` bytes in the kernel; returns how many (a plain read and write where it refuses)."""
    try:
        copied = os.copy_file_range(source, target, count, position, at)
    except OSError:  # e.g. a filesystem without it
        copied = 0
    if copied > 0:
        return copied
    data = os.pread(source, min(count, 1 << 20), position)
    if not data:
        raise OSError(f"{position}: unexpected end of a part file while concatenating")
    return os.pwrite(target, data, at)


class WriteJsonLines(beam.PTransform):
    """One JSON Lines file at exactly `path`, so users find DIR/alerts.jsonl.

    Every bundle writes its own part file next to `path` and the parts are concatenated once all are
    final. Asking Beam for a single shard instead routes every record through one GroupByKey, which the
    local runner holds in memory: at P=5min that is gigabytes of windows.

    `encode` turns an element into its line(s): `to_json_line` for one record per element, or
    `account_window_lines` for an account's `WindowRuns` (ComputeReciprocity's `batch_windows`).
    """

    def __init__(self, path: str, encode: Callable[[Any], str] = to_json_line) -> None:
        super().__init__()
        self._path = path
        self._encode = encode

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        parts = (
            records
            | "ToJson" >> beam.Map(self._encode)
            | "WriteParts" >> beam.io.WriteToText(self._path + ".part", num_shards=0)
        )
        return parts | "AllParts" >> beam.combiners.ToList() | "Concatenate" >> beam.Map(concatenate, self._path)
