"""Entry point: `python -m pipelines.load --help` (see pipelines/cli/load.py)."""

from pipelines.cli import import_beam_quietly

if __name__ == "__main__":
    import_beam_quietly()
    from pipelines.cli.load import main

    raise SystemExit(main())
