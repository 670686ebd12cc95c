"""A picture of a run: `python -m pipelines.report --output DIR` (or `make report`).

Reads DIR/account_windows.jsonl and DIR/alerts.jsonl and writes DIR/report.png and a self-contained
DIR/report.html (the picture inlined, plus the alerts table): response rate by tier over time, fans answered
versus peers targeted, and the alert timeline of each preacher.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from statistics import mean
from typing import Any

from pipelines.observability.charts import Frame, canvas, line_chart, timeline

TIER_ORDER = ("celebrity", "leader", "rising", "normal", "unknown")
MAX_TIMELINE_ROWS = 24
STYLE = (
    "body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:4px}"
)


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def _means_over_time(windows: list[dict], field: str, key: str | None) -> dict[str, list[tuple[float, float]]]:
    grouped: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for window in windows:
        if window[field] is not None:
            grouped[window[key] if key else field][_ms(window["window_end"])].append(window[field])
    return {name: sorted((t, mean(values)) for t, values in by_time.items()) for name, by_time in grouped.items()}


def _alert_spans(alerts: list[dict], end: float) -> dict[str, list[tuple[float, float]]]:
    spans: dict[str, list[tuple[float, float]]] = {}
    opened: dict[str, float] = {}
    for alert in sorted(alerts, key=lambda a: (a["window_end"], a["status"] == "firing")):
        t = _ms(alert["window_end"])
        if alert["status"] == "firing":
            opened[alert["account_id"]] = t
        elif alert["account_id"] in opened:
            spans.setdefault(alert["account_id"], []).append((opened.pop(alert["account_id"]), t))
    for account, t in opened.items():
        spans.setdefault(account, []).append((t, end))
    return spans


def _longest_firing(spans: dict[str, list[tuple[float, float]]]) -> dict[str, list[tuple[float, float]]]:
    """The MAX_TIMELINE_ROWS accounts that fired longest (a picture holds only so many rows), by id."""
    longest = sorted(spans, key=lambda a: (-sum(stop - start for start, stop in spans[a]), a))[:MAX_TIMELINE_ROWS]
    return {account: spans[account] for account in sorted(longest)}


def render(output: Path) -> tuple[Path, Path]:
    windows = _read(output / "account_windows.jsonl")
    alerts = _read(output / "alerts.jsonl")
    if not windows:
        raise ValueError(f"--output: {output / 'account_windows.jsonl'} is missing or empty; run the job first")
    ends = [_ms(w["window_end"]) for w in windows]
    span = (min(ends), max(ends))
    by_tier = _means_over_time(windows, "response_rate", "tier")
    by_tier = {tier: by_tier[tier] for tier in TIER_ORDER if tier in by_tier}
    preachers = [w for w in windows if w["is_preacher"]]
    fans_vs_peers = {
        "fans answered (preachers)": _means_over_time(preachers, "fan_response_rate", None).get(
            "fan_response_rate", []
        ),
        "peer share (preachers)": _means_over_time(preachers, "peer_share", None).get("peer_share", []),
    }
    image, draw = canvas(1100, 1000)
    line_chart(draw, Frame(0, 0, 1100, 300), "Response rate by tier (mean over published windows)", by_tier, span)
    line_chart(draw, Frame(0, 310, 1100, 300), "Fans answered vs peers targeted", fans_vs_peers, span)
    spans = _alert_spans(alerts, span[1])
    shown = _longest_firing(spans)
    title = "One-way alerts per preacher (firing spans)"
    if len(shown) < len(spans):
        title += f": the {len(shown)} longest-firing of {len(spans)}"
    timeline(draw, Frame(0, 620, 1100, 370), title, shown, span)
    png = output / "report.png"
    image.save(png)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                a["account_id"],
                a["status"],
                a["window_end"],
                a["metrics"]["tier"],
                a["metrics"]["inbound_engagers"],
                f"{a['metrics']['response_rate']:.0%}",
                a["evidence"]["preaching_post"] or "(watchlist)",
            )
        )
        + "</tr>"
        for a in sorted(alerts, key=lambda a: (a["window_end"], a["account_id"]))
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Engagement reciprocity report</title>
<style>{STYLE}</style>
</head><body><h1>Engagement reciprocity</h1>
<p>{len(windows)} account windows, {len(alerts)} alert changes, from <code>{html.escape(str(output))}</code>.</p>
<img alt="charts" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">
<h2>Alerts</h2><table><tr><th>account</th><th>status</th><th>window end</th><th>tier</th><th>engagers</th>
<th>response rate</th><th>preaching post</th></tr>{rows}</table></body></html>
"""
    page_path = output / "report.html"
    page_path.write_text(page, encoding="utf-8")
    return png, page_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="the job's output directory")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        png, page = render(Path(args.output))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {png} and {page}")
    return 0
