"""The labelled preaching corpus (pipelines/lexicons/preach_corpus/): what the classifier is fit and measured on.

The rows and their fixed split live in the data files (see the README beside them); this module only reads them.
Three splits, by how far their figures can be trusted:
- `train` (<lang>.jsonl): the weights and the threshold are fit on it;
- `dev` (<lang>.jsonl): never fit on, but its figures were looked at about ten times while the features were
  tuned, so they are optimistic (it was called `heldout` then);
- `test` (<lang>-test.jsonl): written later by a second engineer who had not seen the features, the weights or
  the other texts, frozen before it was first scored, and outside every tuning step: the issue's targets are
  asserted on it alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent / "lexicons" / "preach_corpus"
LANGUAGES = ("en", "fr", "es", "de", "pt", "it")
KINDS = frozenset({"post", "reply", "bio"})
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    lang: str
    kind: str
    style: str
    label: int
    split: str
    text: str


def load(directory: Path = CORPUS_DIR) -> list[Example]:
    """Every row of every language file, in file order; a malformed row is a one-line ValueError."""
    examples = []
    for path in sorted(directory.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
                example = Example(**{name: row[name] for name in Example.__slots__})
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{where}: not a corpus row ({error})") from None
            if example.kind not in KINDS or example.split not in SPLITS or example.label not in (0, 1):
                raise ValueError(f"{where}: bad kind, split or label in {row}")
            examples.append(example)
    return examples


def split(examples: list[Example], name: str) -> list[Example]:
    return [example for example in examples if example.split == name]
