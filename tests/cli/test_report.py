"""`python -m pipelines.report` on a real run, and its page opened in a real headless Chromium."""

import base64
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from pipelines.cli.reciprocity import run
from pipelines.cli.report import main, report

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "out" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    run(["--output", str(out), "--sim_events", "20000", "--sim_seed", "3", "--sim_days", "3", "--min_inbound", "10"])
    return out


@pytest.fixture(scope="module")
def page(run_folder) -> Path:
    files = report(["--output", str(run_folder), "--min_inbound", "10", "--drilldowns", "5"])
    assert files.drawn_drilldowns == 5
    return files.html


def _svgs(html: str) -> dict[str, str]:
    """The SVG text of each chart image, by element id."""
    found = re.findall(r'<img class="chart" id="([^"]+)" alt="[^"]*" src="data:image/svg\+xml;base64,([^"]+)"', html)
    return {chart_id: base64.b64decode(data).decode("utf-8") for chart_id, data in found}


def test_the_report_has_every_view_with_readable_labels(run_folder, page):
    png = Image.open(run_folder / "report.png").convert("RGB")
    assert png.width > 1000 and png.height > 2000
    counts = png.getcolors(maxcolors=1 << 20) or []
    assert (214, 39, 40) in {colour for _, colour in counts}  # the alert red: firing rings and spans are drawn
    # The leader blue (dots and boxes, blended with white): thousands of clearly blue pixels.
    assert sum(n for n, (r, g, b) in counts if b > r + 60 and b > g + 20) > 5000
    html = page.read_text(encoding="utf-8")
    svgs = _svgs(html)
    assert {"chart-scatter", "chart-tiers", "chart-response", "timeline-page-1", "drilldown-chart-0"} <= set(svgs)
    alerted = len(re.findall(r'<section class="drilldown"', html))
    assert alerted > 5  # every alerted account gets its section; 5 of them a chart
    assert len([k for k in svgs if k.startswith("drilldown-chart-")]) == 5
    # Labels are text with their spaces (the Pillow charts printed "Fansanswered").
    assert "One-way preachers: preach engagement," in svgs["chart-scatter"]
    assert "Fans answered (fan response rate)" in svgs["chart-tiers"]
    assert re.search(r"n=[\d,]+", svgs["chart-tiers"])
    assert "fired a one-way alert" in svgs["chart-scatter"]
    assert "Firing spans: accounts 1-" in svgs["timeline-page-1"]
    assert "fires below 10%" in svgs["drilldown-chart-0"]
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_the_same_data_gives_the_same_page(run_folder, page, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(run_folder, again)
    files = report(["--output", str(again), "--min_inbound", "10", "--drilldowns", "5"])
    assert files.html.read_text(encoding="utf-8").replace(str(again), str(run_folder)) == page.read_text(
        encoding="utf-8"
    )


def test_report_without_a_run_fails_with_one_line(tmp_path, capsys):
    assert main(["--output", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err
        == f"error: --output: {tmp_path / 'account_windows.jsonl'} is missing or empty; run the job first\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max_response_rate", "2"], "--max_response_rate: must be between 0 and 1, got 2"),
        (["--max_response_rate", "0.5"], "--resolve_response_rate (0.2) must be at least --max_response_rate (0.5)"),
        (["--windows_topic", " "], "--windows_topic must not be empty"),
        (["--drilldowns", "-1"], "--drilldowns: must be at least 0, got -1"),
    ],
)
def test_bad_options_fail_with_one_line(tmp_path, capsys, args, message):
    assert main(["--output", str(tmp_path), *args]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


@pytest.mark.timeout(180)
def test_the_page_works_in_headless_chromium(page):
    """Opened from disk in Debian's Chromium: no console error, no request leaves the page, every chart is
    drawn, and choosing an account in the drill-down shows its chart, alert changes and evidence."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(page.as_uri(), wait_until="load")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            top = ARTIFACTS / "report-page.png"
            tab.screenshot(path=str(top))
            charts = tab.eval_on_selector_all(
                "img.chart",
                "els => els.map(e => ({id: e.id, done: e.complete, w: e.naturalWidth, h: e.naturalHeight}))",
            )
            assert {c["id"] for c in charts} >= {"chart-scatter", "chart-tiers", "chart-response", "timeline-page-1"}
            assert all(c["done"] and c["w"] > 300 and c["h"] > 200 for c in charts), charts
            for chart_id in ("chart-scatter", "chart-tiers", "chart-response", "timeline-page-1"):
                box = tab.locator(f"#{chart_id}").bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 200, (chart_id, box)
            assert not tab.locator("#account-0").is_visible()  # drill-downs hidden until chosen
            first = tab.locator("#drilldown-select option").nth(1).get_attribute("value")
            assert first == "account-0"
            tab.select_option("#drilldown-select", first)
            tab.wait_for_function("location.hash === '#account-0'")
            section = tab.locator("#account-0")
            assert section.is_visible()
            assert section.locator("img.chart").evaluate("e => e.complete && e.naturalWidth > 300")
            assert section.locator("table.changes tr").count() >= 2  # header + at least one alert change
            assert "Engagers left unanswered" in section.inner_text()
            shot = ARTIFACTS / "report-drilldown.png"
            section.screenshot(path=str(shot))
            print(f"screenshots: {top} {shot}")
        finally:
            browser.close()
    assert errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert Image.open(top).size == (1400, 1000)
