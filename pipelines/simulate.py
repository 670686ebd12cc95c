"""Entry point: `python -m pipelines.simulate --help` (see pipelines/cli/simulate.py)."""

from pipelines.cli import import_beam_quietly

if __name__ == "__main__":
    import_beam_quietly()
    from pipelines.cli.simulate import main

    raise SystemExit(main())
