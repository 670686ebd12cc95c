"""The floor: the same metrics in one plain Python pass, no Beam (read, validate, route, roll up).

python -m pipelines.bench.floor --input DIR --window 24h --period 1h
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import fastavro

from pipelines.io.files import expand_inputs
from pipelines.model.config import ReciprocityConfig
from pipelines.model.contributions import route
from pipelines.model.engine import evaluate_account
from pipelines.model.events import event_from_record
from pipelines.model.windows import parse_duration


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench.floor")
    parser.add_argument("--input", required=True)
    parser.add_argument("--window", default="24h")
    parser.add_argument("--period", default="1h")
    args = parser.parse_args()
    config = ReciprocityConfig(window_ms=parse_duration(args.window), period_ms=parse_duration(args.period))
    started = time.perf_counter()
    by_account: dict[str, list] = defaultdict(list)
    events = 0
    for path in expand_inputs(args.input):
        with open(path, "rb") as handle:
            for record in fastavro.reader(handle):
                events += 1
                for account, contribution in route(event_from_record(record), config):
                    by_account[account].append(contribution)
    windows = alerts = 0
    for account, contributions in by_account.items():
        w, a = evaluate_account(account, contributions, config)
        windows += len(w)
        alerts += len(a)
    seconds = time.perf_counter() - started
    print(json.dumps({"events": events, "windows": windows, "alerts": alerts, "seconds": seconds}))


if __name__ == "__main__":
    main()
