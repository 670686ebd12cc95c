"""The report's charts, drawn with matplotlib (Agg, no display) from pipelines/model/report.py's ReportData.

Why matplotlib: proper fonts, axes and legends for the PNG that gets mailed, and the very same figures as SVG
for the HTML page, so the page needs no JavaScript library and stays self-contained. Each view is a function
drawing into axes it is given, so the PNG (one tall figure of every view) and the page (one figure per view)
share the drawing code.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import matplotlib
import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from pipelines.model.alerts import FIRING
from pipelines.model.report import (
    RESPONSE_SECONDS,
    TIER_FIGURES,
    AlertedAccount,
    ReportData,
)

TIER_COLOURS = {
    "celebrity": "#9467bd",
    "leader": "#1f77b4",
    "rising": "#2ca02c",
    "normal": "#7f7f7f",
    "unknown": "#bcbd22",
}
_DAY_MS = 86_400_000  # matplotlib's date unit is the day
ALERT_RED, RESOLVED_GREEN, THRESHOLD_GREY = "#d62728", "#2ca02c", "#555555"
STYLE = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same letters everywhere
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # text stays text in the SVG: readable, searchable, selectable
    "svg.hashsalt": "engagement-reciprocity",  # stable ids: the same data gives the same page
}
matplotlib.use("Agg")  # never a display: figures are only ever saved (pyplot is not used)
cast(Any, matplotlib.rcParams).update(STYLE)  # rcParams' stub types every key as a literal


_EPOCH = float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))  # matplotlib's dates are days from its epoch


def _dates(ms: Sequence[int]) -> list[float]:
    """Epoch milliseconds as matplotlib date numbers (the date locators and formatters read them)."""
    return [_EPOCH + t / _DAY_MS for t in ms]


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))


def draw_scatter(ax: Axes, data: ReportData) -> None:
    """Preaching versus practice: one dot per account, the one-way-preacher corner shaded and named."""
    config = data.config
    corner = Rectangle(
        (config.min_preach_score, -0.02),
        1.02 - config.min_preach_score,
        config.max_response_rate + 0.02,
        facecolor=ALERT_RED,
        alpha=0.08,
        edgecolor="none",
        zorder=0,
    )
    ax.add_patch(corner)
    ax.text(
        1.0,
        config.max_response_rate + 0.015,
        "One-way preachers: preach engagement,\nrarely answer their fans",
        ha="right",
        va="bottom",
        color=ALERT_RED,
        fontsize=9,
    )
    biggest = max((p.inbound_engagers for p in data.points), default=1.0) or 1.0
    for tier, colour in TIER_COLOURS.items():
        points = [p for p in data.points if p.tier == tier]
        if not points:
            continue
        ax.scatter(
            [p.preach_score for p in points],
            [p.fan_response_rate for p in points],
            s=[12 + 400 * p.inbound_engagers / biggest for p in points],
            color=colour,
            alpha=0.6,
            edgecolors="white",
            linewidths=0.5,
            label=f"{tier} ({len(points)})",
        )
    firing = [p for p in data.points if p.firing]
    ax.scatter(
        [p.preach_score for p in firing],
        [p.fan_response_rate for p in firing],
        s=[40 + 400 * p.inbound_engagers / biggest for p in firing],
        facecolors="none",
        edgecolors=ALERT_RED,
        linewidths=1.4,
        label=f"fired a one-way alert ({len(firing)})",
    )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Preaching: share of posts and bios that preach engagement (mean over windows)")
    ax.set_ylabel("Practice: fan response rate (mean over windows)")
    ax.set_title(f"Preaching versus practice: {len(data.points)} accounts (dot size: inbound engagers)")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)


def _tick_labels(data: ReportData, counts: list[tuple[str, int]]) -> list[str]:
    return [f"{tier}\nn={count:,}" for tier, count in counts]


def _boxes(ax: Axes, data: ReportData, figure: str, scale: float = 1.0) -> None:
    shown = [(tier, summary.figures[figure]) for tier, summary in data.tiers.items() if summary.figures[figure].sample]
    if not shown:
        ax.text(0.5, 0.5, "no windows with a value", ha="center", va="center", transform=ax.transAxes)
        return
    boxes = ax.boxplot(
        [[v * scale for v in sample.sample] for _, sample in shown],
        patch_artist=True,
        widths=0.6,
        flierprops={"markersize": 2, "alpha": 0.3},
        medianprops={"color": "black"},
        showmeans=True,  # a figure that is mostly 0 has a flat box: the mean shows how much is not
        meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black", "markersize": 5},
    )
    for patch, (tier, _) in zip(boxes["boxes"], shown, strict=True):
        patch.set_facecolor(TIER_COLOURS.get(tier, "#cccccc"))
        patch.set_alpha(0.6)
    ax.set_xticks(range(1, len(shown) + 1), _tick_labels(data, [(tier, s.count) for tier, s in shown]))


def draw_tiers(fig: Figure | SubFigure, data: ReportData) -> None:
    """The essay's tiers: one box plot per figure, a box per tier, the windows counted under each box."""
    axes = fig.subplots(2, 3)
    for ax, (figure, label) in zip(axes.flat, TIER_FIGURES, strict=True):
        _boxes(ax, data, figure)
        ax.set_title(label, fontsize=10)
        ax.set_ylim(-0.03, 1.03)
    fig.suptitle(
        "The tiers: distributions over account windows (n = windows with a value; diamond = mean)", fontweight="bold"
    )


def draw_response(ax: Axes, data: ReportData) -> None:
    """How fast accounts answer, by tier: the distribution of each window's median response time, in hours."""
    _boxes(ax, data, RESPONSE_SECONDS, scale=1 / 3600)
    ax.set_yscale("log")
    ax.set_ylabel("Median response time (hours, log scale)")
    ax.set_title("Response time by tier (windows with an answered engager)")


def draw_timeline(ax: Axes, accounts: Sequence[AlertedAccount], data: ReportData, title: str) -> None:
    """Alerts over time: one row per account, its firing spans as red bars, its resolutions as green ticks."""
    for row, account in enumerate(accounts):
        ax.broken_barh(
            [(_dates([start])[0], max(stop - start, 1) / _DAY_MS) for start, stop in account.spans],
            (row - 0.35, 0.7),
            facecolors=ALERT_RED,
            alpha=0.8,
        )
        resolved = [c.window_end_ms for c in account.changes if c.status != FIRING]
        if resolved:
            ax.plot(_dates(resolved), [row] * len(resolved), "|", color=RESOLVED_GREEN, markersize=12, mew=2)
    ax.set_yticks(range(len(accounts)), [f"{a.account_id} ({a.tier})" for a in accounts], fontsize=8)
    ax.set_ylim(len(accounts) - 0.5, -0.5)
    ax.set_xlim(*_dates([data.first_end_ms, max(data.last_end_ms, data.first_end_ms + 1)]))
    _time_axis(ax)
    ax.set_xlabel("Window end (UTC)")
    ax.set_title(title)
    ax.legend(
        handles=[
            Rectangle((0, 0), 1, 1, color=ALERT_RED, alpha=0.8, label="firing"),
            Line2D([], [], color=RESOLVED_GREEN, marker="|", linestyle="none", markersize=10, mew=2, label="resolved"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
    )


def draw_drilldown(top: Axes, bottom: Axes, account: AlertedAccount, data: ReportData) -> None:
    """One alerted account over its windows: inbound engagers, response rate against the alert thresholds."""
    config = data.config
    ends = _dates([w[0] for w in account.series])
    top.plot(ends, [w[1] for w in account.series], color="#1f77b4", linewidth=1.2, label="inbound engagers")
    top.axhline(config.min_inbound, color=THRESHOLD_GREY, linestyle=":", label=f"--min_inbound {config.min_inbound}")
    rated = [(end, w[2]) for end, w in zip(ends, account.series, strict=True) if w[2] is not None]
    bottom.plot([e for e, _ in rated], [r for _, r in rated], color="#1f77b4", linewidth=1.2, label="response rate")
    bottom.axhline(
        config.max_response_rate, color=ALERT_RED, linestyle="--", label=f"fires below {config.max_response_rate:.0%}"
    )
    bottom.axhline(
        config.resolve_response_rate,
        color=RESOLVED_GREEN,
        linestyle="--",
        label=f"resolves at {config.resolve_response_rate:.0%}",
    )
    for ax in (top, bottom):
        for start, stop in account.spans:
            ax.axvspan(*_dates([start, stop]), color=ALERT_RED, alpha=0.08)
        for change in account.changes:
            colour = ALERT_RED if change.status == FIRING else RESOLVED_GREEN
            ax.axvline(_dates([change.window_end_ms])[0], color=colour, linewidth=1)
        _time_axis(ax)
    top.set_ylabel("Inbound engagers")
    top.set_title(f"{account.account_id} ({account.tier}): its windows; alert changes as vertical lines")
    top.legend(loc="upper left", fontsize=8)
    bottom.set_ylabel("Response rate")
    bottom.set_ylim(-0.03, 1.03)
    bottom.set_xlabel("Window end (UTC)")
    bottom.legend(loc="upper left", fontsize=8)


def timeline_height(rows: int) -> float:
    return 1.2 + 0.28 * max(rows, 1)


def report_figure(data: ReportData, first_page: Sequence[AlertedAccount], timeline_title: str) -> Figure:
    """Every view in one tall figure (the PNG)."""
    heights = [6.0, 7.0, 4.5, timeline_height(len(first_page))]
    fig = Figure(figsize=(13, sum(heights)), layout="constrained")
    scatter, tiers, response, timeline = cast(Sequence[SubFigure], fig.subfigures(4, 1, height_ratios=heights))
    draw_scatter(scatter.subplots(), data)
    draw_tiers(tiers, data)
    draw_response(response.subplots(), data)
    ax = timeline.subplots()
    if first_page:
        draw_timeline(ax, first_page, data, timeline_title)
    else:
        ax.set_axis_off()
        ax.set_title("Alerts over time: no account fired")
    return fig


def save(fig: Figure, fmt: str, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()
