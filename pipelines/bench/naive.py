"""The baseline a typical Beam user would write: SlidingWindows + GroupByKey + a per-window Python loop.

Each interaction is copied into W/P windows (24 at 24h/1h, 288 at 24h/5min) and every window is grouped
and scanned on its own. It computes the same response rate as the product, for the speed comparison only.

    python -m pipelines.bench.naive --input DIR --window 24h --period 1h
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import SlidingWindows, TimestampedValue

from pipelines.io.files import ReadEventFiles
from pipelines.model.config import ReciprocityConfig
from pipelines.model.contributions import is_interaction
from pipelines.model.events import SocialEvent
from pipelines.model.windows import parse_duration


def _both_sides(event: SocialEvent, config: ReciprocityConfig) -> Iterator[Any]:
    if is_interaction(event, config):
        t = event.event_time
        yield TimestampedValue((event.target_account_id, ("in", event.actor_id, t)), t / 1000)
        yield TimestampedValue((event.actor_id, ("out", event.target_account_id, t)), t / 1000)


class ResponseRatePerWindow(beam.DoFn):
    def process(self, element: tuple[str, Any], window: Any = beam.DoFn.WindowParam) -> Iterator[dict]:
        account, items = element
        first_in: dict[str, int] = {}
        outs: dict[str, list[int]] = {}
        for direction, counterpart, t in items:
            if direction == "in":
                first_in[counterpart] = min(t, first_in.get(counterpart, t))
            else:
                outs.setdefault(counterpart, []).append(t)
        responded = sum(1 for u, t in first_in.items() if any(o >= t for o in outs.get(u, ())))
        if first_in:
            yield {
                "account_id": account,
                "window_end": window.end.micros // 1000,
                "inbound_engagers": len(first_in),
                "response_rate": responded / len(first_in),
            }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench.naive")
    parser.add_argument("--input", required=True)
    parser.add_argument("--window", default="24h")
    parser.add_argument("--period", default="1h")
    args, beam_args = parser.parse_known_args()
    config = ReciprocityConfig(window_ms=parse_duration(args.window), period_ms=parse_duration(args.period))
    started = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        events = (pipeline | ReadEventFiles(args.input))["events"]
        (
            events
            | "BothSides" >> beam.FlatMap(_both_sides, config)
            | "Slide" >> beam.WindowInto(SlidingWindows(config.window_ms / 1000, config.period_ms / 1000))
            | "PerWindow" >> beam.GroupByKey()
            | "ResponseRate" >> beam.ParDo(ResponseRatePerWindow())
            | "Count" >> beam.combiners.Count.Globally().without_defaults()
            | "Print" >> beam.Map(lambda n: print(json.dumps({"windows": n})))
        )
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
