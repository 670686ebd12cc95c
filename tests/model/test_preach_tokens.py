"""How the preaching classifier reads tokens (pipelines/model/preach_tokens.py): a text's language, the concept
vocabulary's file and its stemmers under threads. That the fast token paths agree with their plain spellings is
tests/model/test_preach_fast_path.py's."""

import pytest

from pipelines.model import preach_tokens as pt
from pipelines.model.preach_tokens import detect_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Répondez à chaque commentaire, c'est la base pour vous", "fr"),
        ("Wenn du nie antwortest, warum sollte dir jemand folgen?", "de"),
        ("La atención se alquila y la confianza se gana en las respuestas", "es"),
        ("Perché qualcuno dovrebbe seguirti se non rispondi mai?", "it"),
        ("Por que alguém seguiria você se você nunca responde?", "pt"),
        ("Why would anyone follow you if you never answer them?", "en"),
        ("Reply. Reply. Reply.", "en"),  # no common word: the language whose concepts it holds
        ("Ok 🙏🙏", None),  # nothing tells: every language's reading is used
    ],
)
def test_language_is_told_by_its_own_common_words(text, lang):
    assert detect_language(text) == lang


def test_a_bad_concepts_line_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "preach_concepts.txt").write_text("reply\txx\tanswer\n", encoding="utf-8")
    monkeypatch.setattr(pt, "LEXICON_DIR", tmp_path)
    pt._vocabulary.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"^preach_concepts.txt:1: expected 'concept<TAB>lang<TAB>words'"):
            pt._vocabulary()
    finally:
        pt._vocabulary.cache_clear()


def test_stemming_from_many_threads_gives_each_thread_its_own_words():
    """A Beam SDK worker classifies on several threads at once; a shared Snowball stemmer mixed their words up."""
    import sys
    import threading

    words = [
        f"{root}{suffix}"
        for root in ("gemeinschaft", "austausch", "verbindung", "antwort")
        for suffix in ("", "en", "ungen", "lichkeiten", "s", "er", "ern")
    ] * 300
    expected = [pt.concepts_of(word, "de") for word in words]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    failures: list[BaseException] = []
    results: list[list[frozenset[str]]] = []

    def work() -> None:
        try:
            results.append([pt.concepts_of(word, "de") for word in words])
        except BaseException as error:  # what the shared stemmer raised: IndexError
            failures.append(error)

    try:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    assert all(result == expected for result in results)
