"""The classifier's fast path computes what the plain path computes, on every corpus text, whatever the weights.

Routing scores a text with PreachModel.verdict (the weights of the names present summed from a set and a
list, no features dict built), and the features are computed with regexes, tables and counts spelled for
speed. Each is compared here with its plain spelling over the whole corpus (and a few edge cases), so the
checks keep their meaning when the weights are refit and the corpus grows.
"""

import random
import re
import sys

import pytest

from pipelines.model import lexicon
from pipelines.model import preach_features as pf
from pipelines.model import preach_tokens as pt
from pipelines.model.lexicon import fold, normalize
from pipelines.model.preach_classifier import PreachModel, model, verdict
from pipelines.model.preach_corpus import load
from pipelines.model.preach_features import (
    CONCEPTS,
    FEATURES,
    HELPERS,
    extract,
    extract_with_terms,
    is_term,
    names_present,
)

# The plain spellings the fast ones replaced (see the comments beside pf._CLAUSE_FIRST, pf._THOUSANDS and
# pf._NEGATED_ARTICLE).
PLAIN_CLAUSE_FIRST = re.compile(r"(?:^|[.,!?\n:;()]|\s[-\u2013\u2014]\s)[^a-z0-9]*([a-z0-9]+)")
PLAIN_BIG_NUMBER = re.compile(r"\d(?:[.,\s]?000)+\b|\d\s?k\b")
PLAIN_NEGATED_CONTRAST = re.compile(
    r",\s*(?:not|pas|no|nicht|kein|keine|nao|non)\b"
    r"|\b(?:not|pas|no|nicht|kein|nao|non) (?:a|an|the|just|un|une|des|du|una|um|uma|zu|nur|es|para|ai)\b"
)
EDGE_CASES = [
    "",
    "a - b",
    "a -b",
    "x\t\u2014\ty",
    "- a",
    " - a",
    "(a)b",
    "a .- b",
    "--- a",
    "a \u2013 ",
    "a  -  b",
    "a - - b",
    "\u00e9 - b",
    "a-b - c",
    "10k",
    "10 k",
    "10 kk",
    "5\tk!",
    "1000",
    "1.000",
    "1 000 000",
    "x000",
    "10 000x",
    "\u0663k",
    "\u0663000",
    "3  k",
    "3k9",
    "canon a",
    "xnot a",
    "_not a",
    "not a",
    "\u00e9not a",
    "non une",
    "kein es",
    "keine a",
    ", no",
    ",nox",
    "no  a",
    "Stra\u00dfe \u00fcber \u00c9T\u00c9 \u2019quoted\u2019 \u00a0\u00ff\u00d7 \U0001f9f5",
    # folded by replacing the few characters that fold (one whose fold folds again takes the general table)
    "\u0149 \u02bc \U0001f525 \u00e9 \u0133",
    "\u02bc\u0149\u2013\u00df\u01c6 \u2022 \u0151 \u0142\u00f3d\u017a \U0001f48d",
    "\u0142\u00f3d\u017a \u201cdz\u00eds\u201d \u2019\u2019",
]


@pytest.fixture(scope="module")
def texts():
    return [example.text for example in load()]


@pytest.fixture(scope="module")
def folded(texts):
    return [normalize(text) for text in texts + EDGE_CASES]


def test_routing_verdict_is_the_plain_score_of_every_corpus_text(texts):
    shipped = model()
    for text in texts:
        probability, expert = verdict.__wrapped__(text)
        features = shipped.features(text)
        assert probability == pytest.approx(shipped.score(features), abs=1e-12, rel=0), text
        assert expert == ("self_proclaimed_expert" in features), text


@pytest.mark.parametrize("seed", [1, 2])
def test_the_fast_sum_matches_the_plain_one_for_any_weights(texts, seed):
    # Random weights on every feature and on every term of the corpus (not the shipped fit): each stem counts
    # once however many tokens share it, in both paths.
    rng = random.Random(seed)
    terms = {name for text in texts[::3] for name in extract_with_terms(text) if is_term(name)}
    weights = {name: rng.uniform(-3, 3) for name in [*FEATURES, *sorted(terms)]}
    for scorer in (PreachModel(0.3, weights, 0.5), PreachModel(-0.2, {f: weights[f] for f in FEATURES}, 0.5)):
        for text in texts:
            assert scorer.verdict(text)[0] == pytest.approx(scorer.score(scorer.features(text)), abs=1e-12, rel=0)


def test_the_names_routing_weighs_are_the_features_by_present_name(texts):
    # A concept is present by its bare name and weighs its feature's weight: no feature is named like a concept.
    assert not set(CONCEPTS) & set(FEATURES)
    weights = model().weights
    assert pf.weights_by_present_name(weights)["reply"] == weights["concept:reply"]
    for text in texts:
        names, shapes = names_present(text)
        with_terms = extract_with_terms(text)
        bare = names & set(CONCEPTS)
        assert len(shapes) == len(set(shapes))
        assert set(with_terms) == {f"concept:{name}" for name in bare - HELPERS} | (names - bare) | set(shapes)
        assert extract(text) == {name: value for name, value in with_terms.items() if not is_term(name)}


def test_clause_openings_are_those_of_the_plain_pattern(folded):
    for text in folded:
        fast = set(pt._TOKEN.findall(text)[:1] + pf._CLAUSE_FIRST.findall(text))
        assert fast == set(PLAIN_CLAUSE_FIRST.findall(text)), text


def test_big_numbers_and_negated_contrasts_are_those_of_the_plain_patterns(folded):
    for text in folded:
        assert pf._is_big_number(text) == bool(PLAIN_BIG_NUMBER.search(text)), text
        assert pf._is_negated_contrast(text) == bool(PLAIN_NEGATED_CONTRAST.search(text)), text
    assert pf._is_big_number("10k followers") and pf._is_negated_contrast("a dialogue, not a broadcast")


def test_folding_is_the_plain_table_for_every_character_and_text(texts):
    plain = str.maketrans(lexicon._FOLD)
    samples = [chr(code) for code in range(0x3000)] + [text.lower() for text in texts + EDGE_CASES]
    for text in samples:
        assert fold(text) == text.translate(plain), repr(text)
    ascii_text = "".join(map(chr, range(128))).lower()
    # ASCII beside an accent is left as it is, by the Latin-1 table and by the general one
    assert normalize("\u00c9" + ascii_text) == "e" + ascii_text
    assert normalize("\u2019" + ascii_text) == "'" + ascii_text
    assert normalize("\u00e9\u00df") == "ess" and normalize("\u00e9\u2019") == "e'"  # both folding paths


def test_language_is_the_first_largest_field(texts):
    for text in texts:
        packed = sum(pt.token_readings(token)[0] for token in pt._TOKEN.findall(normalize(text)))
        fields = [(packed >> (pt.FIELD * index)) & ((1 << pt.FIELD) - 1) for index in range(len(pt.LANGUAGES))]
        expected = pt.ANYWHERE if not packed else fields.index(max(fields))
        if text.isascii():  # letters only add to non-ASCII texts
            assert pt.language_index(text.lower(), packed) == expected, text


def test_the_token_cache_stays_bounded_and_right(monkeypatch):
    monkeypatch.setattr(pt, "MAX_CACHED_TOKENS", 50)
    pt.clear_token_cache()
    try:
        expected = {token: pt._read_token(token) for token in (f"reply{n}" for n in range(120))}
        for token, readings in expected.items():
            assert pt.token_readings(token) == readings
            assert len(pt._TOKENS) <= 50
    finally:
        pt.clear_token_cache()


def test_names_are_interned_so_weights_are_found_by_identity(texts):
    for text in texts[:50]:
        names, shapes = names_present(text)
        for name in [*names, *shapes, *model().weights]:
            assert sys.intern(name) is name


def test_texts_split_into_the_tokens_of_the_pattern(folded):
    every_character = "".join(map(chr, range(0x3000))) * 2 + " abc9 x_y a-b'c \U0001f525x\U0001f525 \u00e9t\u00e9"
    for text in [every_character, *folded]:
        assert pt.tokens_of(text) == pt._TOKEN.findall(text), text


def test_packed_scores_count_the_tokens_naming_an_action_in_each_reading(texts):
    # the count that spares most texts the test of one action said three times (preach_tokens.ACTING_FIELD)
    for text in texts:
        infos = list(map(pt.token_readings, pt._TOKEN.findall(normalize(text))))
        packed = sum(readings[0] for readings in infos)
        for index in range(pt._READINGS):
            acting = sum(1 for readings in infos if pt.ACTIONS & pt.CONCEPTS_AT[index](readings))
            assert (packed >> (pt.FIELD * (pt.ACTING_FIELD + index))) & 0xFFFF == acting, text


def test_imperatives_are_those_of_the_plain_clause_openings(texts):
    # the first word is tried before the clause regex runs; the plain rule reads every clause's first word
    for text in texts:
        folded = normalize(text)
        tokens = pt._TOKEN.findall(folded)
        index = pt.language_index(text.lower(), sum(pt.token_readings(token)[0] for token in tokens))
        firsts = PLAIN_CLAUSE_FIRST.findall(folded)
        plain = any(pf.VERBS & pt.CONCEPTS_AT[index](pt.token_readings(first)) for first in firsts)
        assert ("imperative" in extract(text)) == plain, text
