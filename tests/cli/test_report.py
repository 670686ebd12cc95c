import json
import re

from PIL import Image

from pipelines.cli.reciprocity import run
from pipelines.cli.report import main, render


def test_report_draws_the_run(tmp_path):
    out = tmp_path / "run"
    run(["--output", str(out), "--sim_events", "20000", "--sim_seed", "3", "--sim_days", "3", "--min_inbound", "10"])
    png, page = render(out)
    image = Image.open(png)
    assert image.size == (1100, 1000)
    # The charts are not blank: the response-rate lines and the red alert spans are drawn.
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 16)}
    assert (214, 39, 40) in colours  # alert spans / second series
    assert (31, 119, 180) in colours  # first series
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    text = page.read_text()
    assert text.count("<tr><td>") == len(alerts) > 0
    assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', text)


def test_report_without_a_run_fails_with_one_line(tmp_path, capsys):
    assert main(["--output", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err
        == f"error: --output: {tmp_path / 'account_windows.jsonl'} is missing or empty; run the job first\n"
    )


def test_the_timeline_keeps_the_longest_firing_accounts():
    from pipelines.cli.report import MAX_TIMELINE_ROWS, _longest_firing

    spans = {f"a{i:02d}": [(0.0, float(i))] for i in range(MAX_TIMELINE_ROWS + 6)}
    shown = _longest_firing(spans)
    assert list(shown) == sorted(f"a{i:02d}" for i in range(6, MAX_TIMELINE_ROWS + 6))
