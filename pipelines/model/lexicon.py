"""Text classifiers behind preach_score and self_serving_reply_share, driven by the data files in lexicons/."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

LEXICON_DIR = Path(__file__).resolve().parent.parent / "lexicons"
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00a0": " "})
_MENTION_OR_TAG = re.compile(r"[@#]\w+")
_WORD = re.compile(r"[a-z0-9']+")


def normalize(text: str) -> str:
    """Lower case, accents stripped, quotes straightened: the form every lexicon pattern is written for."""
    text = text.lower()
    if text.isascii():  # the common case needs no Unicode decomposition
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _rows(name: str) -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate((LEXICON_DIR / name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        kind, sep, value = line.partition("\t")
        if not sep or not value.strip():
            raise ValueError(f"{name}:{number}: expected 'kind<TAB>value', got {line!r}")
        rows.append((kind.strip(), value.strip()))
    return rows


@cache
def _preaching() -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for _, pattern in _rows("preaching.txt")))


@cache
def _self_serving() -> tuple[frozenset[str], re.Pattern[str]]:
    rows = _rows("self_serving.txt")
    thanks = frozenset(word for kind, value in rows if kind == "thanks" for word in value.split())
    promo = re.compile("|".join(f"(?:{value})" for kind, value in rows if kind == "promo"))
    return thanks, promo


def preaching_languages() -> set[str]:
    return {lang for lang, _ in _rows("preaching.txt")}


# Shares, copy-pasted sermons and canned replies repeat texts verbatim: classify each text once.
@lru_cache(maxsize=1 << 16)
def is_preaching(text: str | None) -> bool:
    """True when the text preaches engagement ("talk with your audience", "repondez a vos abonnes"...)."""
    if not text:
        return False
    return _preaching().search(normalize(text)) is not None


@lru_cache(maxsize=1 << 16)
def is_self_serving(text: str | None) -> bool:
    """True for a reply that is only thanks (or emoji) or that promotes: a link, a sales line."""
    if not text:
        return False
    thanks, promo = _self_serving()
    normalized = normalize(text)
    if promo.search(normalized):
        return True
    words = _WORD.findall(_MENTION_OR_TAG.sub(" ", normalized))
    return all(word in thanks for word in words)
