"""Loads the Avro contracts in schemas/ once, in dependency order, for fastavro."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
# EngagementAlert embeds AccountWindow by name, so AccountWindow is parsed first.
_ORDER = ("SocialEvent", "AccountWindow", "EngagementAlert", "DeadLetter")


@cache
def _all() -> dict[str, Any]:
    import fastavro

    named: dict[str, Any] = {}
    parsed: dict[str, Any] = {}
    for name in _ORDER:
        raw = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
        parsed[name] = fastavro.parse_schema(raw, named_schemas=named)
    return parsed


def schema(name: str) -> Any:
    """The parsed fastavro schema called `name` (e.g. "SocialEvent")."""
    try:
        return _all()[name]
    except KeyError:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(_ORDER)}") from None
