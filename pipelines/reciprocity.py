"""Entry point: `python -m pipelines.reciprocity --help` (see pipelines/cli/reciprocity.py)."""

from pipelines.cli import import_beam_quietly

if __name__ == "__main__":
    import_beam_quietly()
    from pipelines.cli.reciprocity import main

    main()
