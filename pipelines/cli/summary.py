"""The closing summary of a run, read back from its outputs (so it is the same whatever the runner)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pipelines.transforms.events import EVENTS_READ_PREFIX


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _window_counts(path: Path) -> dict[str, int]:
    """Reads the (possibly large) windows file back: only when the runner reported no metrics."""
    windows = _records(path)
    return {
        "account_windows": len(windows),
        "accounts_published": len({w["account_id"] for w in windows}),
        "preachers": len({w["account_id"] for w in windows if w["is_preacher"]}),
    }


def summarize(output: Path, counters: dict[str, int] | None, top: int = 10) -> dict[str, Any]:
    """counters: the job's Beam counters (reciprocity namespace), or None when the runner reports none."""
    if counters and "account_windows" in counters:
        counts = counters
    else:
        counts = _window_counts(output / "account_windows.jsonl")
    alerts = _records(output / "alerts.jsonl")
    dead = _records(output / "dead_letter.jsonl")
    firing = [a for a in alerts if a["status"] == "firing"]
    # A streaming job writes to Kafka, not to files: its counts come from the runner's counters.
    files = (output / "alerts.jsonl").exists()
    counters = counters or {}
    events_read = sum(v for k, v in counters.items() if k.startswith(EVENTS_READ_PREFIX)) if counters else None
    summary: dict[str, Any] = {
        "events_read": events_read,
        "dead_letters": len(dead)
        if files
        else counters.get("dead_letters", 0) + counters.get("late_events_dropped", 0),
        "dead_letter_reasons": dict(Counter(d["reason"].split(":")[0] for d in dead).most_common(5)),
        "accounts_published": counts.get("accounts_published", 0),
        "account_windows": counts.get("account_windows", 0),
        "preachers": counts.get("preachers", 0),
        "alerts_firing": len(firing) if files else counters.get("alerts_firing", 0),
        "alerts_resolved": len(alerts) - len(firing) if files else counters.get("alerts_resolved", 0),
        "one_way_accounts": sorted({a["account_id"] for a in firing}),
        "top": sorted(firing, key=lambda a: (-a["metrics"]["inbound_engagers"], a["account_id"]))[:top],
    }
    truth = _records(output / "ground_truth.jsonl")
    if truth:
        expected = {t["account_id"] for t in truth if t["expected_one_way"]}
        predicted = set(summary["one_way_accounts"])
        hits = len(expected & predicted)
        summary["precision"] = hits / len(predicted) if predicted else None
        summary["recall"] = hits / len(expected) if expected else None
    return summary


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"events read        {summary['events_read'] if summary['events_read'] is not None else 'n/a'}",
        f"dead letters       {summary['dead_letters']}"
        + (f"  {summary['dead_letter_reasons']}" if summary["dead_letters"] else ""),
        f"accounts published {summary['accounts_published']} ({summary['account_windows']} account windows)",
        f"preachers          {summary['preachers']}",
        f"one-way alerts     {summary['alerts_firing']} firing, {summary['alerts_resolved']} resolved, "
        f"{len(summary['one_way_accounts'])} accounts",
    ]
    if "precision" in summary:
        lines.append(f"vs ground truth    precision {_pct(summary['precision'])}, recall {_pct(summary['recall'])}")
    if summary["top"]:
        lines += [
            "",
            f"{'account':<14} {'tier':<10} {'window end':<21} {'inbound':>7} {'resp.':>6} {'fans':>6}"
            f" {'peers':>6} {'thanks/promo':>12} {'delegated':>9}",
        ]
        for alert in summary["top"]:
            m = alert["metrics"]
            lines.append(
                f"{alert['account_id']:<14} {m['tier']:<10} {alert['window_end']:<21} {m['inbound_engagers']:>7} "
                f"{_pct(m['response_rate']):>6} {_pct(m['fan_response_rate']):>6} {_pct(m['peer_share']):>6} "
                f"{_pct(m['self_serving_reply_share']):>12} {_pct(m['delegated_reply_share']):>9}"
            )
    return "\n".join(lines)
