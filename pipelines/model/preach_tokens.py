"""How the preaching classifier reads a text's tokens: their language, their concepts and their stems.

preach_features.py holds the classifier's features and its rules; what they stand on is here, apart, so that each
file can be read whole. A token of a folded text (pipelines/model/lexicon.py) is read once in each of six languages
(Snowball stems, one stemmer per thread) and against the concept vocabulary of pipelines/lexicons/
preach_concepts.txt, and its readings are cached as one flat tuple (`token_readings`, a bounded cache): a packed
score of how much it says each language (its common words and concepts; a text adds its letters) and of whether
it names an action, then per language and for their union its concepts and its lexical term ('term:' + stem).
`language_index` picks the reading a text is read in from the sum of its tokens' scores. The concept names are
declared here, as the vocabulary checks its lines against them and the score counts the action concepts; the
rules, shapes and features that use them are preach_features.py's (this module never imports it). The names the
hot path reads are bound at import there (`from ... import`), so moving them here costs no lookup per token.
"""

from __future__ import annotations

import re
import struct
import sys
import threading
from functools import cache
from itertools import chain
from operator import itemgetter
from typing import Any

import snowballstemmer

from pipelines.model.lexicon import LEXICON_DIR, normalize


def word_set(text: str) -> frozenset[str]:
    """The words of `text`, split on white space: how the word lists are written."""
    return frozenset(text.split())


STEMMERS = {"en": "english", "fr": "french", "es": "spanish", "de": "german", "pt": "portuguese", "it": "italian"}
ANY_LANGUAGE = "*"
NOT_A_CONCEPT = "-"
MIN_ROOT = 5  # a stem or seed this long also matches as a prefix (inflections, compounds, clitics)
# The concepts of pipelines/lexicons/preach_concepts.txt (the vocabulary checks its lines against them), and those
# that name an action (counted in a token's packed score, see ACTING_FIELD): what they mean to a text is the
# rules' (preach_features.py).
ACTIONS = frozenset({"engage", "reply", "comment", "talk", "ask", "listen", "greet"})
CONCEPTS = (
    "engage",
    "reply",
    "comment",
    "talk",
    "ask",
    "listen",
    "community",
    "bond",
    "audience",
    "people",
    "reach",
    "broadcast",
    "social",
    "platform",
    "growth",
    "title",
    "help",
    "tips",
    "modal",
    "wedding",
    "military",
    "workplace",
    "metric",
    "service",
    "thanks",
    "offer",
    "publish",
    "inbox",
    "host",
    "nobody",
    "everyone",
    "please",
    "event",
    "school",
    "civic",
    "moderation",
    "sport",
    "household",
    "pledge",
    "greet",
    "counter",
    "account",
    "nurture",
    "challenge",
    "close",
    "hiring",
)

_TOKEN = re.compile(r"[a-z0-9]+")
# The same tokens, a third cheaper: a token is ASCII, so every other character is a separator; the text is encoded
# to ASCII with one "?" for each other character, every byte but a-z0-9 becomes a space in one table lookup, and
# a C-level split cuts it (tests/model/test_preach_fast_path.py checks the two agree).
_SEPARATOR_BYTES = bytes(code if chr(code) in "abcdefghijklmnopqrstuvwxyz0123456789" else 32 for code in range(256))
# Words frequent in one language and rare in the others, and letters only some languages write: enough to
# pick the stemmer of a short text (the event's `lang` is optional and often absent).
_COMMON_WORDS = {
    "en": word_set(
        "the and you your to of is it for that with are be this on if what why when how they them my i was just"
        " don every never it's its have has had not but from at by or we our he she his her will would can"
        " there their than then so do does did about into only also one all no yes"
    ),
    "fr": word_set(
        "le les et vous votre vos des une est pas pour qui avec ce au aux je ne sur mais ou ils elle leur"
        " tous chaque nous dans ca cette aussi tres du sont etre avoir fait faire plus comme sans tout toute"
        " ont mon ma mes ses son sa quand alors donc encore apres avant ici quoi rien"
    ),
    "es": word_set(
        "el los las y tus es una con para sus del al si como pero cuando alguien muy hay yo este"
        " esta nadie cada ya les lo ser estar tiene tienes sin sobre entre tambien porque donde hasta nos"
        " fue era son mas eso esto ese"
    ),
    "de": word_set(
        "der die das und du dein deine ist nicht mit ein eine zu sie ihr den dem auf ich wenn nie warum dir dich"
        " wie hast bist auch noch jeden jede allen nur schon aber oder mein meine sind wird werden hat haben"
        " von fur bei nach aus uber einen einem einer sich es im ist wir uns kein keine dann"
    ),
    "pt": word_set(
        "os voce seu sua com para um uma nao do da em no na mais eu ela eles todos quando so dos das pra"
        " pro tem isso esse essa ja muito quem depois deles seus suas nos nas ao aos pelo pela sao foi ser"
        " ter tambem sem sobre ate mesmo vai aqui"
    ),
    "it": word_set(
        "il lo gli tuo tua che per non del della sono di ai loro tutti anche mai piu chi cosa nel ho hai"
        " questo questa perche qualcuno ogni alla dei delle sul fai sei suoi sue nei negli degli dalla"
        " dal alle sulla essere fare hanno siamo ci ne gia sempre dopo molto"
    ),
}
# Only the words of one language tell anything: a word common to two is dropped from both.
STOPWORDS = {
    lang: words - frozenset().union(*(other for name, other in _COMMON_WORDS.items() if name != lang))
    for lang, words in _COMMON_WORDS.items()
}
LETTERS = {
    **dict.fromkeys("\u00df\u00e4\u00f6\u00fc", "de"),
    **dict.fromkeys("\u00f1\u00bf\u00a1", "es"),
    **dict.fromkeys("\u00e3\u00f5", "pt"),
    **dict.fromkeys("\u00f2\u00ec", "it"),
    **dict.fromkeys("\u0153\u00ee", "fr"),  # not \u00ea: Portuguese writes it as often (voc\u00ea)
}
LANGUAGES = tuple(STEMMERS)
_LETTER = re.compile(f"[{''.join(LETTERS)}]")


_STEMMERS = threading.local()


def _stemmer(lang: str) -> snowballstemmer.stemmer:
    """This thread's stemmer for `lang`. A Snowball stemmer keeps the word it works on in the object, so one shared
    by two threads (a Beam SDK worker runs bundles on several) mixes their words up: seen on Flink as an
    IndexError inside GermanStemmer that failed the job."""
    stemmers: dict[str, snowballstemmer.stemmer] | None = getattr(_STEMMERS, "by_lang", None)
    if stemmers is None:
        stemmers = _STEMMERS.by_lang = {}
    stemmer = stemmers.get(lang)
    if stemmer is None:
        stemmer = stemmers[lang] = snowballstemmer.stemmer(STEMMERS[lang])
    return stemmer


@cache
def _vocabulary() -> tuple[dict[str, dict[str, frozenset[str]]], dict[str, frozenset[str]], dict[str, set[str]]]:
    """Per language, stem or root -> concepts; the language-free words (platform names); per language, the
    words that are no concept there."""
    per_lang: dict[str, dict[str, set[str]]] = {lang: {} for lang in LANGUAGES}
    anywhere: dict[str, set[str]] = {}
    excluded: dict[str, set[str]] = {}
    path = LEXICON_DIR / "preach_concepts.txt"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        known_concept = parts[0] in CONCEPTS or parts[0] == NOT_A_CONCEPT
        if len(parts) != 3 or not known_concept or (parts[1] not in STEMMERS and parts[1] != ANY_LANGUAGE):
            raise ValueError(f"preach_concepts.txt:{number}: expected 'concept<TAB>lang<TAB>words', got {line!r}")
        # the concept's name interned, as names are found by identity (see preach_features._CONCEPT_FEATURE)
        concept, lang, words = sys.intern(parts[0]), parts[1], parts[2]
        for word in _TOKEN.findall(normalize(words)):
            if concept == NOT_A_CONCEPT:
                excluded.setdefault(lang, set()).add(word)
            elif lang == ANY_LANGUAGE:
                anywhere.setdefault(word, set()).add(concept)
            else:
                table = per_lang[lang]
                table.setdefault(_stemmer(lang).stemWord(word), set()).add(concept)
                if len(word) >= MIN_ROOT:
                    table.setdefault(word, set()).add(concept)  # the seed itself prefixes compounds and hashtags
    frozen = {lang: {key: frozenset(value) for key, value in table.items()} for lang, table in per_lang.items()}
    return frozen, {key: frozenset(value) for key, value in anywhere.items()}, excluded


_NONE: frozenset[str] = frozenset()
TERM_PREFIX = "term:"
# Bits per language in a token's packed language score: 16, so that a text's sum reads as unsigned shorts in one
# C-level unpack (a third of the cost of shifting and masking six fields in Python). A token adds at most 4 to a
# field, so sums stay exact up to 16,000 tokens; past that a field's carry spills into the next, as it did at 12
# bits past 1,000.
FIELD = 16
_STOPWORD_SCORE, _CONCEPT_SCORE, _LETTER_SCORE = 3, 1, 6
ANYWHERE = len(LANGUAGES)  # index of the union reading, for a text whose language nothing tells
_ALL_FIELDS = (1 << (FIELD * len(LANGUAGES))) - 1
# Above the language fields, one field per reading (each language, then ANYWHERE) counts the tokens that name an
# action in it: summed with the rest, at no cost of its own, it tells whether three tokens name an action, without
# which no action is said three times, so the costlier test of that (preach_features._repeats_an_action) runs on
# a fifth of the texts instead of two thirds. Exact up to 65,535 such tokens.
ACTING_FIELD = len(LANGUAGES)
_UNPACK_FIELDS = struct.Struct(f"<{len(LANGUAGES)}H").unpack


def concepts_of(token: str, lang: str, stem: str | None = None) -> frozenset[str]:
    """The concepts of one folded token read in `lang`: its stem, else the longest known root it starts with.
    `stem`: the token's stem in `lang` when the caller has it already (_read_token stems every token anyway)."""
    per_lang, anywhere, excluded = _vocabulary()
    found = anywhere.get(token)
    if found is not None:
        return found
    if token in excluded.get(lang, ()):
        return _NONE
    table = per_lang[lang]
    if stem is None:
        stem = _stemmer(lang).stemWord(token)
    found = table.get(stem)
    if found is not None:
        return found
    for word in (stem, token):
        for end in range(len(word) - 1, MIN_ROOT - 1, -1):
            found = table.get(word[:end])
            if found is not None:
                return found
    return _NONE


# A token's readings, one flat tuple (flat so that a text's tokens are read by one C-level itemgetter map each,
# not a Python loop nor two nested lookups): how much it says each language (one integer with a 16-bit field per
# language, so a text's language is one sum over its tokens), then for each language and for their union (index
# ANYWHERE) its concepts and its lexical feature: 'term:' + its Snowball stem (for no language the token itself),
# so inflections share a weight. A text's terms and its concepts make, in one set, every name it weighs
# (preach_features.names_present): no dictionary of features is built before routing sums the weights. (Names in
# one tuple per reading were tried too: a pointer more per token to follow, 3 us a text slower once the vocabulary
# outgrows the processor's cache.)
Readings = tuple[Any, ...]
_READINGS = len(LANGUAGES) + 1  # readings per token: one per language, then ANYWHERE
PACKED = itemgetter(0)
# A reading's concepts and term sit side by side, as a text reads both: one line of the processor's cache rather
# than two for most tokens.
CONCEPTS_AT = tuple(itemgetter(1 + 2 * index) for index in range(_READINGS))
TERM_AT = tuple(itemgetter(2 + 2 * index) for index in range(_READINGS))
MAX_CACHED_TOKENS = 1 << 17


def _read_token(token: str) -> Readings:
    stems = (*(_stemmer(lang).stemWord(token) for lang in LANGUAGES), token)
    in_languages = tuple(concepts_of(token, lang, stem) for lang, stem in zip(LANGUAGES, stems, strict=False))
    readings = (*in_languages, frozenset().union(*in_languages))
    terms = tuple(sys.intern(TERM_PREFIX + stem) for stem in stems)  # interned: see preach_features._CONCEPT_FEATURE
    score = 0
    for index, lang in enumerate(LANGUAGES):
        field = (_STOPWORD_SCORE if token in STOPWORDS[lang] else 0) + (_CONCEPT_SCORE if readings[index] else 0)
        score += field << (FIELD * index)
    for index, concepts in enumerate(readings):
        if not ACTIONS.isdisjoint(concepts):
            score += 1 << (FIELD * (ACTING_FIELD + index))
    return score, *chain.from_iterable(zip(readings, terms, strict=True))


class _TokenCache(dict[str, Readings]):
    """token -> its readings, computed on first sight (stemming in six languages costs about 0.1 ms a token).

    A plain dict read through its own __getitem__ in a C-level map: 40% cheaper per token than an lru_cache, whose
    every hit relinks its recency list. Bounded like one: past MAX_CACHED_TOKENS distinct tokens it starts over
    (a stream's vocabulary of hashtags, names and typos never ends), which costs one cold pass over the
    vocabulary still in use. Dict reads and writes are atomic under the GIL, so the threads of a Beam worker can
    share it (two may both read a new token: the same readings are stored twice)."""

    def __missing__(self, token: str) -> Readings:
        if len(self) >= MAX_CACHED_TOKENS:
            self.clear()
        readings = self[token] = _read_token(token)
        return readings


_TOKENS = _TokenCache()
token_readings = _TOKENS.__getitem__
clear_token_cache = _TOKENS.clear


def language_index(text: str, packed: int, hint: str | None = None) -> int:
    """Which reading to use: the event's own `lang` when we stem it, else the language whose own common words,
    concepts and letters the text holds most (the first on a tie); ANYWHERE when nothing tells."""
    if hint and hint[:2].lower() in STEMMERS:
        return LANGUAGES.index(hint[:2].lower())
    if not text.isascii():
        for letter in set(_LETTER.findall(text)):
            packed += _LETTER_SCORE << (FIELD * LANGUAGES.index(LETTERS[letter]))
    if not packed & _ALL_FIELDS:
        return ANYWHERE
    scores = _UNPACK_FIELDS((packed & _ALL_FIELDS).to_bytes(2 * len(LANGUAGES), "little"))
    return scores.index(max(scores))  # the first on a tie; some field is > 0 since packed is


def detect_language(text: str) -> str | None:
    tokens = tokens_of(normalize(text))
    index = language_index(text.lower(), sum(token_readings(token)[0] for token in tokens))
    return None if index == ANYWHERE else LANGUAGES[index]


def tokens_of(folded: str) -> list[str]:
    """The tokens of a folded text: _TOKEN.findall(folded), a third cheaper (see _SEPARATOR_BYTES)."""
    return folded.encode("ascii", "replace").translate(_SEPARATOR_BYTES).decode("ascii").split()


def is_term(name: str) -> bool:
    return name.startswith(TERM_PREFIX)


@cache
def function_word_terms() -> frozenset[str]:
    """The terms of each language's common words ("la", "ist", "is"): they weigh in the score like any stem, but
    say nothing to a reader, so evidence never names them."""
    return frozenset(
        TERM_PREFIX + stem
        for lang, words in _COMMON_WORDS.items()
        for word in words
        for stem in (word, _stemmer(lang).stemWord(word))
    )
