import collections
import json

import pytest

from pipelines.model.preach_corpus import LANGUAGES, load, split


@pytest.fixture(scope="module")
def corpus():
    return load()


def test_corpus_is_big_balanced_and_multilingual(corpus):
    assert len(corpus) >= 600
    per_language = collections.Counter(e.lang for e in corpus)
    assert set(per_language) == set(LANGUAGES)
    assert min(per_language.values()) >= 60
    for lang in LANGUAGES:
        labels = collections.Counter(e.label for e in corpus if e.lang == lang)
        assert labels[0] == labels[1]
    assert {e.kind for e in corpus} == {"post", "reply", "bio"}


def test_ids_and_texts_are_unique(corpus):
    assert len({e.id for e in corpus}) == len(corpus)
    assert len({e.text for e in corpus}) == len(corpus)


def test_heldout_is_kept_apart_by_idea(corpus):
    heldout, train = split(corpus, "heldout"), split(corpus, "train")
    assert len(heldout) + len(train) == len(corpus)
    assert 0.3 <= len(heldout) / len(corpus) <= 0.5
    # The same idea written in another language never crosses the split.
    idea_split = collections.defaultdict(set)
    for e in corpus:
        idea_split[e.id.split("-")[1]].add(e.split)
    assert all(len(splits) == 1 for splits in idea_split.values())
    # Every style is measured on held-out texts.
    assert {e.style for e in heldout} == {e.style for e in corpus}


def test_malformed_row_is_one_clear_error(tmp_path):
    (tmp_path / "xx.jsonl").write_text(json.dumps({"id": "xx-001", "lang": "xx"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^xx.jsonl:1: not a corpus row"):
        load(tmp_path)
