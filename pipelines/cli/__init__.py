"""Command-line entry points: the reciprocity job and the simulator."""

import logging


def import_beam_quietly() -> None:
    """Beam's import warns on stderr about optional Google Cloud clients we never use; keep the CLI clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        import apache_beam  # noqa: F401
    finally:
        root.setLevel(level)
