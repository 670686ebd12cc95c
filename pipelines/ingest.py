"""Entry point: `python -m pipelines.ingest bluesky|mastodon|snap --help` (see pipelines/cli/ingest.py).

No Beam import here: an ingester is a small long-running process, and Beam would only add start time and memory.
"""

if __name__ == "__main__":
    from pipelines.cli.ingest import main

    raise SystemExit(main())
