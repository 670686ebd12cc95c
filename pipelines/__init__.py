"""Engagement reciprocity analytics: catch engagement preachers who go one-way, live, at scale."""

__version__ = "0.1.0"
