"""The report's two files: `report.png` (every view in one picture) and `report.html` (self-contained).

Why this shape: reports are mailed and archived, so the page loads nothing from anywhere: each chart is the
matplotlib figure as an SVG data URI (vector, text kept as text), the drill-down is plain HTML sections
shown by a CSS :target rule (a few lines of inline script only move the selection into the address). Many
alerted accounts stay readable: the timeline is split into pages of TIMELINE_PAGE rows in a scrolling box,
and a drill-down chart is drawn for the `drilldowns` longest-firing accounts (each costs ~50 ms); every
alerted account still gets its alert changes and evidence.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from pipelines.model.events import iso_utc
from pipelines.model.report import AlertedAccount, ReportData
from pipelines.observability import charts

TIMELINE_PAGE = 30
DEFAULT_DRILLDOWNS = 40
STYLE = """
body{font-family:"DejaVu Sans",Verdana,sans-serif;margin:2em auto;padding:0 1.5em;max-width:1400px;color:#222}
body{line-height:1.4}
h1{margin-bottom:.2em} section{margin:2.5em 0} img.chart{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;margin:.8em 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.pages{max-height:80vh;overflow-y:auto;border:1px solid #ddd;padding:.5em}
.drilldown{display:none;border-top:2px solid #d62728;margin-top:1em} .drilldown:target{display:block}
.note{color:#555} blockquote{border-left:4px solid #ccc;margin:.5em 0;padding:.2em 1em;color:#333}
"""
SCRIPT = """
const pick = document.getElementById('drilldown-select');
pick.addEventListener('change', () => { if (pick.value) location.hash = pick.value; });
const sync = () => { if (location.hash) pick.value = location.hash.slice(1); };
window.addEventListener('hashchange', sync); sync();
"""


@dataclass(frozen=True)
class ReportFiles:
    png: Path
    html: Path
    drawn_drilldowns: int


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _svg_uri(fig: Figure) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(charts.save(fig, "svg")).decode("ascii")


def _img(fig: Figure, chart_id: str, alt: str) -> str:
    return f'<img class="chart" id="{chart_id}" alt="{html.escape(alt)}" src="{_svg_uri(fig)}">'


def _pages(alerted: Sequence[AlertedAccount]) -> list[Sequence[AlertedAccount]]:
    return [alerted[i : i + TIMELINE_PAGE] for i in range(0, len(alerted), TIMELINE_PAGE)]


def _page_title(number: int, page: Sequence[AlertedAccount], total: int) -> str:
    first = (number - 1) * TIMELINE_PAGE + 1
    return f"Firing spans: accounts {first}-{first + len(page) - 1} of {total}, longest firing first"


def _drilldown(index: int, account: AlertedAccount, data: ReportData, fig: Figure | None) -> str:
    chart = ""
    if fig is not None:
        top, bottom = fig.axes
        top.clear()
        bottom.clear()
        charts.draw_drilldown(top, bottom, account, data)
        chart = _img(fig, f"drilldown-chart-{index}", f"{account.account_id}: inbound engagers and response rate")
    else:
        chart = '<p class="note">Chart left out: only the longest-firing accounts are drawn (--drilldowns).</p>'
    rows = "".join(
        f"<tr><td>{html.escape(c.status)}</td><td>{iso_utc(c.window_end_ms)}</td>"
        f"<td>{c.inbound_engagers}</td><td>{_pct(c.response_rate)}</td></tr>"
        for c in account.changes
    )
    ignored = ", ".join(html.escape(e) for e in account.ignored_engagers) or "(none listed)"
    post = (
        f"<blockquote>{html.escape(account.preaching_post)}</blockquote>"
        if account.preaching_post
        else "<p>(no preaching text: on the watchlist)</p>"
    )
    hours = account.firing_ms / 3_600_000
    return f"""<section class="drilldown" id="account-{index}" data-account="{html.escape(account.account_id)}">
<h3>{html.escape(account.account_id)} ({html.escape(account.tier)}): firing {hours:,.0f} h over {len(account.spans)}
span(s), {len(account.series)} published windows{", watchlisted" if account.watchlisted else ""}</h3>
{chart}
<table class="changes"><tr><th>alert change</th><th>window end</th><th>inbound engagers</th><th>response rate</th></tr>
{rows}</table>
<p><b>Evidence</b> (latest firing alert). Engagers left unanswered: {ignored}. Preaching:</p>{post}
</section>"""


def _summary(data: ReportData, source: str, skipped: dict[str, int]) -> str:
    config = data.config
    lines = [
        f"<p>{data.windows:,} account windows of {len(data.points) + data.unplaced_accounts:,} accounts, window ends "
        f"{iso_utc(data.first_end_ms)} to {iso_utc(data.last_end_ms)}; {data.alert_changes:,} alert changes on "
        f"{len(data.alerted):,} accounts. Source: <code>{html.escape(source)}</code>.</p>",
        f'<p class="note">Thresholds drawn: --min_inbound {config.min_inbound}, --max_response_rate '
        f"{config.max_response_rate}, --resolve_response_rate {config.resolve_response_rate}, --min_preach_score "
        f"{config.min_preach_score}. Box plots use a uniform sample of at most {data.sample_size:,} windows per tier "
        "and figure; every count is exact.</p>",
    ]
    if skipped:
        reasons = "".join(f"<li>{html.escape(r)}: {n:,}</li>" for r, n in sorted(skipped.items()))
        lines.append(f'<p class="note">Unreadable records skipped: {sum(skipped.values()):,}</p><ul>{reasons}</ul>')
    return "\n".join(lines)


def _tier_table(data: ReportData) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(t)}</td><td>{s.windows:,}</td><td>{s.accounts:,}</td></tr>"
        for t, s in data.tiers.items()
    )
    return f'<table class="tiers"><tr><th>tier</th><th>windows</th><th>accounts</th></tr>{rows}</table>'


def write_report(
    data: ReportData, folder: Path, source: str, skipped: dict[str, int], drilldowns: int = DEFAULT_DRILLDOWNS
) -> ReportFiles:
    folder.mkdir(parents=True, exist_ok=True)
    pages = _pages(data.alerted)
    total = len(data.alerted)
    first = pages[0] if pages else []
    png = folder / "report.png"
    png.write_bytes(charts.save(charts.report_figure(data, first, _page_title(1, first, total)), "png", dpi=90))

    scatter = Figure(figsize=(12, 7), layout="constrained")
    charts.draw_scatter(scatter.subplots(), data)
    tiers = Figure(figsize=(13, 7.5), layout="constrained")
    charts.draw_tiers(tiers, data)
    response = Figure(figsize=(10, 4.5), layout="constrained")
    charts.draw_response(response.subplots(), data)
    timeline = []
    for number, page in enumerate(pages, 1):
        height = charts.timeline_height(len(page))
        fig = Figure(figsize=(13, height))  # fixed margins: constrained layout would double each page's time
        fig.subplots_adjust(left=0.15, right=0.88, top=1 - 0.45 / height, bottom=0.75 / height)
        charts.draw_timeline(fig.subplots(), page, data, _page_title(number, page, total))
        timeline.append(_img(fig, f"timeline-page-{number}", f"firing spans, page {number}"))
    # One figure for every drill-down, with fixed margins: constrained layout would cost half of each drawing.
    drill_fig = Figure(figsize=(12, 5.5))
    drill_fig.subplots(2, 1, sharex=True)
    drill_fig.subplots_adjust(left=0.07, right=0.98, top=0.93, bottom=0.1, hspace=0.12)
    sections = [
        _drilldown(i, account, data, drill_fig if i < drilldowns else None) for i, account in enumerate(data.alerted)
    ]
    options = "".join(
        f'<option value="account-{i}">{html.escape(a.account_id)} ({html.escape(a.tier)})</option>'
        for i, a in enumerate(data.alerted)
    )
    alerts_body = (
        f'<div class="pages" id="timeline">{"".join(timeline)}</div>'
        '<h3>Drill-down</h3><p><label>Alerted account: <select id="drilldown-select">'
        f'<option value="">choose an account</option>{options}</select></label></p>{"".join(sections)}'
        if data.alerted
        else '<p id="timeline">No account fired a one-way alert.</p><select id="drilldown-select" hidden></select>'
    )
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Engagement reciprocity report</title>
<style>{STYLE}</style></head><body>
<h1>Engagement reciprocity</h1>
{_summary(data, source, skipped)}
<section id="preaching"><h2>1. Preaching versus practice</h2>
<p>Each dot is an account: how much it preaches engagement against how often it answers the fans who engage with
it. Red rings: accounts that fired a one-way alert. The shaded corner holds the one-way preachers.</p>
{_img(scatter, "chart-scatter", "preaching versus practice scatter")}</section>
<section id="tiers"><h2>2. The tiers</h2>
<p>Celebrity, leader, rising and normal accounts compared: whom they answer and how they use their replies.</p>
{_img(tiers, "chart-tiers", "figures by tier")}{_tier_table(data)}</section>
<section id="response"><h2>3. Response time</h2>
{_img(response, "chart-response", "median response time by tier")}</section>
<section id="alerts"><h2>4. Alerts over time</h2>
{alerts_body}</section>
<script>{SCRIPT}</script>
</body></html>
"""
    page_path = folder / "report.html"
    page_path.write_text(text, encoding="utf-8")
    return ReportFiles(png, page_path, min(drilldowns, total))
