import collections
import json

import pytest

from pipelines.model.preach_corpus import LANGUAGES, SPLITS, load, split


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


def test_dev_is_kept_apart_from_train_by_idea(corpus):
    dev, train = split(corpus, "dev"), split(corpus, "train")
    assert 0.3 <= len(dev) / (len(dev) + len(train)) <= 0.5
    # The same idea written in another language never crosses the split (ideas are shared only in train and dev).
    idea_split = collections.defaultdict(set)
    for e in dev + train:
        idea_split[e.id.split("-")[1]].add(e.split)
    assert all(len(splits) == 1 for splits in idea_split.values())
    # Every style of train is measured on dev texts.
    assert {e.style for e in dev} == {e.style for e in train}


def test_every_row_is_in_one_of_the_three_splits(corpus):
    assert sum(len(split(corpus, name)) for name in SPLITS) == len(corpus)


def test_test_part_is_separate_balanced_and_covers_every_style(corpus):
    test, tuned = split(corpus, "test"), [e for e in corpus if e.split != "test"]
    # Its own files and its own id range, so nothing fit or tuned shares a row with it.
    assert all(int(e.id.split("-")[1]) > 500 for e in test)
    assert all(int(e.id.split("-")[1]) <= 500 for e in tuned)
    for lang in LANGUAGES:
        labels = collections.Counter(e.label for e in test if e.lang == lang)
        assert labels[1] >= 20 and labels[0] >= 20 and labels[0] == labels[1]
    # Every preaching style and trap kind of the tuned part is in the test part (which adds a few of its own).
    assert {(e.label, e.style) for e in tuned} <= {(e.label, e.style) for e in test}
    assert not {e.text for e in test} & {e.text for e in tuned}


def test_malformed_row_is_one_clear_error(tmp_path):
    (tmp_path / "xx.jsonl").write_text(json.dumps({"id": "xx-001", "lang": "xx"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^xx.jsonl:1: not a corpus row"):
        load(tmp_path)
