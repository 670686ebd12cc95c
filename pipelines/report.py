"""Entry point: `python -m pipelines.report --output DIR` (see pipelines/cli/report.py)."""

from pipelines.cli.report import main

if __name__ == "__main__":
    raise SystemExit(main())
