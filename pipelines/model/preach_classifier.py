"""The preaching classifier the pipeline runs: shipped logistic-regression weights over preach_features.

The weights are data (pipelines/lexicons/preach_model.json), rebuilt from the corpus by `make train-preach`
(pipelines/model/preach_training.py); scoring is a sum of the weights of the features present and a logistic, in
plain Python, cached per text because shares, copy-pasted sermons and bios repeat texts verbatim.

Two paths compute the same probability. `score(features(text))` is the plain one: one dictionary of every feature
(concepts, shapes, stem terms), which evidence (`reasons`) and training read. Routing classifies every distinct
text once and only needs the number, so `verdict` sums the weights of the names the features are made from (a set
of the text's terms and concepts, a list of its shapes: PreachModel.verdict), the same sum without building the
dictionary (tests/model/test_preach_fast_path.py checks the two agree on every corpus text, whatever the weights).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import chain, repeat
from pathlib import Path
from typing import Any

from pipelines.model.lexicon import LEXICON_DIR
from pipelines.model.preach_features import (
    FEATURES,
    TERM_PREFIX,
    TRAPS,
    extract,
    extract_with_terms,
    function_word_terms,
    is_term,
    names_present,
    weights_by_present_name,
)

MODEL_PATH = LEXICON_DIR / "preach_model.json"
EXPLAINED_FEATURES = 5
# A trap concept never comes without `trap_context`, whose weight is strongly negative: the pair pulls away from
# preaching even when the concept's own weight came out positive, so it is never given as a reason.
NEVER_REASONS = frozenset(f"concept:{name}" for name in TRAPS)
MIN_TERM_REASON = 3  # a stem of one or two letters ("la", "a") is a function word somewhere: never named


@cache
def _quiet_reasons() -> frozenset[str]:
    return NEVER_REASONS | function_word_terms()


@dataclass(frozen=True)
class PreachModel:
    """bias + sum of weights of the present features -> probability; preaching at or above `threshold`."""

    bias: float
    weights: dict[str, float]
    threshold: float
    # Whether the weights include lexical terms (then texts are read with preach_features.extract_with_terms).
    uses_terms: bool = field(init=False, repr=False, compare=False)
    # The same weights keyed by the names routing finds present (a concept's by its bare name): see verdict.
    present_weights: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Interned names, as the feature names are (preach_features._CONCEPT_FEATURE): found by identity.
        object.__setattr__(self, "weights", {sys.intern(name): weight for name, weight in self.weights.items()})
        object.__setattr__(self, "uses_terms", any(map(is_term, self.weights)))
        object.__setattr__(self, "present_weights", weights_by_present_name(self.weights))
        unknown = {name for name in self.weights if not is_term(name)} - set(FEATURES)
        if unknown:
            raise ValueError(f"preach model has weights for unknown features: {sorted(unknown)}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"preach model threshold must be between 0 and 1, got {self.threshold}")

    def features(self, text: str) -> dict[str, float]:
        """The features of `text` this model weighs."""
        return extract_with_terms(text) if self.uses_terms else extract(text)

    def score(self, features: dict[str, float]) -> float:
        weights = self.weights
        z = sum([weights.get(name, 0.0) * value for name, value in features.items()], self.bias)  # left to right
        return _logistic(z)

    def verdict(self, text: str) -> tuple[float, bool]:
        """(`score(features(text))`, whether the text is a self-proclaimed expert's bio), by the fast path: every
        feature present is worth 1.0, so the sum is the bias plus the weights of the names present, each once
        (preach_features.names_present: terms, concepts and shapes, no dictionary built). The terms have no weight
        when this model has none."""
        names, shapes = names_present(text)
        z = sum(map(self.present_weights.get, chain(names, shapes), repeat(0.0)), self.bias)
        return _logistic(z), "self_proclaimed_expert" in shapes

    def reasons(self, features: dict[str, float], limit: int = EXPLAINED_FEATURES) -> list[str]:
        """The features that pushed the text toward preaching, strongest first: concepts, shapes and stems (never a
        trap concept nor a function word's stem)."""
        quiet = _quiet_reasons()
        pushes = [
            (self.weights.get(name, 0.0) * value, name)
            for name, value in features.items()
            if name not in quiet and not (is_term(name) and len(name) < len(TERM_PREFIX) + MIN_TERM_REASON)
        ]
        return [name for push, name in sorted(pushes, key=lambda p: (-p[0], p[1])) if push > 0][:limit]

    def to_json(self, extra: dict[str, Any]) -> str:
        body = {
            "bias": round(self.bias, 6),
            "threshold": round(self.threshold, 6),
            "weights": {
                name: round(self.weights[name], 6)
                for name in (*FEATURES, *sorted(filter(is_term, self.weights)))
                if name in self.weights
            },
            **extra,
        }
        return json.dumps(body, indent=1, ensure_ascii=False) + "\n"


def load_model(path: Path = MODEL_PATH) -> PreachModel:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return PreachModel(float(body["bias"]), {k: float(v) for k, v in body["weights"].items()}, body["threshold"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path.name}: not a preach model ({error})") from None


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0


@cache
def model() -> PreachModel:
    return load_model()


def default_threshold() -> float:
    """The probability threshold chosen out-of-fold on the corpus' tuning parts (preach_training.choose_threshold)."""
    return model().threshold


@lru_cache(maxsize=1 << 16)
def verdict(text: str | None) -> tuple[float, bool]:
    """(probability that the text preaches engagement, whether it is a self-proclaimed expert's): one feature
    pass per distinct text, by the model's fast path. (0, False) for no text."""
    if not text:
        return 0.0, False
    return model().verdict(text)


def preach_probability(text: str | None) -> float:
    return verdict(text)[0]


def is_preaching(text: str | None, threshold: float | None = None) -> bool:
    return preach_probability(text) >= (model().threshold if threshold is None else threshold)


def preaching_reasons(text: str | None) -> list[str]:
    """Evidence: the names of the features that made the text preaching (empty for no text)."""
    if not text:
        return []
    return model().reasons(model().features(text))
