"""The self-serving reply classifier (self_serving_reply_share), driven by lexicons/self_serving.txt; and the
text normal form. Preaching is classified by pipelines/model/preach_classifier.py."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

LEXICON_DIR = Path(__file__).resolve().parent.parent / "lexicons"
_MENTION_OR_TAG = re.compile(r"[@#]\w+")
_WORD = re.compile(r"[a-z0-9']+")
# Accent folding as one C-level translate (texts are classified at routing, once per event): every Latin letter
# with a diacritic to its base letter, curly quotes straightened. Other characters (emoji, other scripts) stay.
_LATIN = [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]
_FOLD = {
    code: "".join(c for c in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(c))
    for code in _LATIN
}
_FOLD.update({0xDF: "ss", 0x2019: "'", 0x2018: "'", 0x2BC: "'", 0xA0: " "})
# ASCII maps to itself explicitly: str.translate of a non-ASCII text looks every character up in the table, and
# a character missing from it raises and swallows a KeyError in C, which made folding an accented post cost
# 5.4 us instead of 2.3 us (most of its characters are ASCII).
_FOLD_TABLE: dict[int, str | int] = {**{code: code for code in range(128)}, **_FOLD}
# Most accented texts of the six languages stay within Latin-1 (no emoji, curly quote nor dash): for them the fold
# is a byte-for-byte table on their Latin-1 bytes, 40% cheaper again. Every Latin-1 character folds to one Latin-1
# character but the sharp s (-> "ss"), which takes the general table.
_LATIN1_FOLD = bytes(code if code == 0xDF else ord(_FOLD.get(code, chr(code))) for code in range(256))
_BEYOND_LATIN1 = re.compile("[^\x00-\xde\xe0-\xff]")  # or the sharp s
# The others (an emoji, a bullet, a dash, a curly quote) would take the general table, whose lookups character by
# character cost 3.2 us for a post: instead each of the few distinct characters that fold is replaced throughout,
# found by one regex scan, a third of the cost. A fold's result is never folded again (ASCII, or a character that
# does not fold) but for "\u0149" -> "\u02bcn", whose texts take the general table.
_FOLDS = {chr(code): folded for code, folded in _FOLD.items() if folded != chr(code)}
_FOLDABLE = re.compile(f"[{''.join(map(re.escape, sorted(_FOLDS)))}]")
_REFOLDED = frozenset(char for char, folded in _FOLDS.items() if _FOLDABLE.search(folded) is not None)


def normalize(text: str) -> str:
    """Lower case, accents stripped, quotes straightened: the form every lexicon pattern and seed is written for."""
    return fold(text.lower())


def fold(lowered: str) -> str:
    """`normalize` of a text already in lower case (lowering is idempotent, character by character): for callers
    that need the lowered text too and should not lower it twice."""
    if lowered.isascii():
        return lowered
    if _BEYOND_LATIN1.search(lowered) is None:
        return lowered.encode("latin-1").translate(_LATIN1_FOLD).decode("latin-1")
    found = set(_FOLDABLE.findall(lowered))
    if not _REFOLDED.isdisjoint(found):
        return lowered.translate(_FOLD_TABLE)
    for char in found:
        lowered = lowered.replace(char, _FOLDS[char])
    return lowered


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
def _self_serving() -> tuple[frozenset[str], re.Pattern[str]]:
    rows = _rows("self_serving.txt")
    thanks = frozenset(word for kind, value in rows if kind == "thanks" for word in value.split())
    promo = re.compile("|".join(f"(?:{value})" for kind, value in rows if kind == "promo"))
    return thanks, promo


# Canned replies repeat texts verbatim: classify each text once.
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
