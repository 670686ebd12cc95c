"""The report of a run, for the people who read it: `make report`, or

    python -m pipelines.report --output out/run                  # a batch run's output folder
    python -m pipelines.report --output out/stream --kafka_bootstrap 127.0.0.1:9092 \
        [--windows_topic account-windows] [--alerts_topic engagement-alerts]   # the topics, to their end offsets

writes DIR/report.png and a self-contained DIR/report.html: preaching versus practice per account, the tiers'
distributions, response time by tier, and the alerts over time with a drill-down per alerted account. The
thresholds drawn are the job's defaults unless given (--min_inbound, --max_response_rate, ...), since neither
the files nor the topics record them. Why the numbers are computed in one streaming pass: see
pipelines/model/report.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipelines.cli.kafka_args import add_kafka_security_arguments, kafka_settings
from pipelines.cli.options import OptionError, OptionParser, _count, _fraction
from pipelines.io import reports
from pipelines.model.config import ReciprocityConfig
from pipelines.model.report import DEFAULT_SAMPLE_SIZE, ReportBuilder
from pipelines.observability.report_page import DEFAULT_DRILLDOWNS, ReportFiles, write_report


def _parser() -> OptionParser:
    parser = OptionParser(prog="python -m pipelines.report", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--output", required=True, help="the run's output folder; the report is written there")
    parser.add_argument("--kafka_bootstrap", help="read the windows and alerts topics instead of the folder's files")
    parser.add_argument("--windows_topic", default="account-windows")
    parser.add_argument("--alerts_topic", default="engagement-alerts")
    add_kafka_security_arguments(parser)
    defaults = ReciprocityConfig()
    parser.add_argument("--min_inbound", type=_count(1), default=defaults.min_inbound)
    parser.add_argument("--max_response_rate", type=_fraction, default=defaults.max_response_rate)
    parser.add_argument("--resolve_response_rate", type=_fraction, default=defaults.resolve_response_rate)
    parser.add_argument("--min_preach_score", type=_fraction, default=defaults.min_preach_score)
    parser.add_argument("--sample_size", type=_count(10), default=DEFAULT_SAMPLE_SIZE, help="box-plot sample size")
    parser.add_argument("--drilldowns", type=_count(0), default=DEFAULT_DRILLDOWNS, help="drill-down charts drawn")
    return parser


def report(argv: list[str]) -> ReportFiles:
    """Parses, reads, draws; OptionError/ValueError carry the one-line reason."""
    args = _parser().parse_args(argv)
    for topic in ("windows_topic", "alerts_topic"):
        if not getattr(args, topic).strip():
            raise OptionError(f"--{topic} must not be empty")
    try:
        config = ReciprocityConfig(
            min_inbound=args.min_inbound,
            max_response_rate=args.max_response_rate,
            resolve_response_rate=args.resolve_response_rate,
            min_preach_score=args.min_preach_score,
        )
    except ValueError as error:
        raise OptionError(str(error)) from None
    builder = ReportBuilder(config, sample_size=args.sample_size)
    folder = Path(args.output)
    kafka = kafka_settings(args, args.kafka_bootstrap)
    if kafka is not None:
        skipped = reports.from_topics(builder, kafka, args.windows_topic, args.alerts_topic)
        source = f"Kafka {args.kafka_bootstrap}: {args.windows_topic}, {args.alerts_topic}"
    else:
        skipped = reports.from_folder(builder, folder)
        source = str(folder)
    return write_report(builder.build(), folder, source, dict(skipped), drilldowns=args.drilldowns)


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    try:
        files = report(sys.argv[1:] if argv is None else argv)
    except ValueError as error:  # OptionError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {files.png} and {files.html} in {time.monotonic() - started:.1f} s")
    return 0
