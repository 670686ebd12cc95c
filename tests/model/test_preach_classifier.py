"""The classifier's measured targets (issue #12) on the corpus, and its shipped weights."""

import json
from dataclasses import replace

import pytest

from pipelines.cli import train_preach
from pipelines.model.preach_classifier import (
    MODEL_PATH,
    PreachModel,
    default_threshold,
    is_preaching,
    load_model,
    model,
    preach_probability,
    preaching_reasons,
)
from pipelines.model.preach_corpus import AUTHOR_PARTS, LANGUAGES, TARGET_SPLIT, TUNING_SPLITS, load, split
from pipelines.model.preach_training import (
    CHOSEN,
    choose_threshold,
    evaluate,
    fit_and_report,
    idea,
    leave_one_author_out,
)


@pytest.fixture(scope="module")
def measured():
    # TARGET_SPLIT is `test`: the fifth and sixth blind parts (<lang>-test5.jsonl, <lang>-test6.jsonl, 599 texts by
    # two authors who saw nothing of the model), never fit on nor tuned on, first scored once by the frozen model.
    return evaluate(model(), split(load(), TARGET_SPLIT))


def test_precision_and_recall_meet_the_targets(measured):
    assert measured.overall.precision >= 0.95
    assert measured.overall.recall >= 0.90


@pytest.mark.parametrize("lang", LANGUAGES)
def test_recall_in_every_language(measured, lang):
    scores = measured.per_language[lang]
    assert scores.tp + scores.fn >= 20  # enough preaching texts to mean something
    assert scores.recall >= 0.85


def test_shipped_weights_are_a_fresh_fit_of_the_corpus(capsys):
    # `make train-preach` is reproducible: refitting gives the same JSON byte for byte.
    assert train_preach.main(["--check"]) == 0, capsys.readouterr().err
    body = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert body["out_of_fold"]["all"]["precision"] >= 0.95 and 0.0 < body["threshold"] < 1.0


def test_check_fails_when_the_weights_were_edited(tmp_path, capsys):
    edited = tmp_path / "model.json"
    body = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    body["bias"] += 1.0
    edited.write_text(json.dumps(body), encoding="utf-8")
    assert train_preach.main(["--check", "--output", str(edited)]) == 1
    assert "differs from a fresh fit" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text",
    [
        # the sermons the phrase list caught keep preaching
        "Talk with your audience, don't broadcast!",
        "Social media is a conversation, not a broadcast",
        "Reply to every single comment you get",
        "Répondez à chaque commentaire !",
        "Parlez avec votre communauté, ne diffusez pas.",
        "Responde a cada comentario",
        "Beantworte jeden Kommentar",
        # and the ordinary ways it missed
        "3 tips:\n1. answer every DM\n2. comment on 10 posts a day\n3. ask your readers questions",
        "Pessoas, não números. Conversas, não impressões.",
        "Warum sollte dir jemand folgen, wenn du nie antwortest?",
    ],
)
def test_sermons_preach(text):
    assert is_preaching(text)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "engage",
        "We should engage the enemy at dawn",
        "She said yes! Engaged to my best friend 💍",
        "Our employee engagement survey closes Friday.",
        "Q3 engagement rate: 2.4%, down from 2.9%.",
        "Sorry about the delay, please DM us your order number.",
        "Thanks for sharing, really useful!",
        "I disagree with your proof of lemma 2",
    ],
)
def test_traps_do_not_preach(text):
    assert not is_preaching(text)


def test_threshold_option_moves_the_decision():
    text = "Show up in the comments. Two-way conversations win."
    p = preach_probability(text)
    assert is_preaching(text, threshold=p) and not is_preaching(text, threshold=min(1.0, p + 1e-9))
    assert default_threshold() == model().threshold


def test_reasons_name_the_features_that_made_it_preaching():
    reasons = preaching_reasons("Talk with your audience, don't broadcast!")
    # the audience shows as the social-media context it makes (the concept itself ranks sixth)
    assert "concept:talk" in reasons and "social_context" in reasons
    assert len(reasons) <= 5
    assert preaching_reasons(None) == []
    # a trap's negative features are never given as reasons
    assert "trap_context" not in preaching_reasons("Our engagement party is on Saturday")
    # nor is a trap concept, even one whose own weight came out positive (it always comes with trap_context)
    assert not any(r.startswith("concept:workplace") for r in preaching_reasons("Employees: reply to the HR survey"))


def test_model_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text('{"bias": 0, "weights": {"nonsense": 1}, "threshold": 0.5}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"^m.json: not a preach model \(.*unknown features"):
        load_model(bad)
    with pytest.raises(ValueError, match="threshold must be between 0 and 1"):
        PreachModel(0.0, {}, 1.5)


def test_threshold_rule_takes_the_highest_recall_at_the_precision_floor():
    probabilities = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    labels = [1, 1, 0, 1, 1, 0]
    # at 0.5: 4 of 5 flagged are preaching (0.8 precision), recall 1.0; halfway to the next lower probability
    assert choose_threshold(probabilities, labels, 0.8) == pytest.approx(0.45)
    assert choose_threshold(probabilities, labels, 1.0) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="no threshold reaches precision"):
        choose_threshold([0.9], [0], 0.5)


def test_blind_parts_group_by_text_and_shared_ideas_by_number():
    first, again, blind = (next(e for e in load() if e.id == name) for name in ("en-012", "fr-012", "fr-512"))
    assert idea(first) == idea(again) == "012"  # translations of one idea share a fold
    assert idea(blind) == "fr-512"  # the blind parts were written language by language


def test_a_test_part_is_scored_but_never_fit_on():
    corpus = load()
    tuning = [e for e in corpus if e.split in TUNING_SPLITS]
    stand_in = [e for e in corpus if e.split == "dev3"][:40]  # any texts, to see how a test part is reported
    with_test, report = fit_and_report(tuning, stand_in)
    without_test, empty = fit_and_report(tuning, [])
    assert with_test == without_test  # the weights and the threshold do not depend on the test part
    assert "## test, the blind part (never fit on nor tuned on): precision" in report
    assert "test: no blind part yet" in empty


def test_leave_one_author_out_scores_each_part_with_a_model_that_never_saw_it():
    corpus = load()
    small = [e for e in corpus if e.split == "train"][:240] + [
        e for part in AUTHOR_PARTS for e in split(corpus, part)[:60]
    ]
    config = replace(CHOSEN, min_precision=0.5)  # a floor that small fits, flipped labels included, can reach
    held, probabilities, thresholds = leave_one_author_out(small, config)
    assert [e.split for e in held] == [part for part in AUTHOR_PARTS for _ in range(60)]
    # flipping one part's labels changes the other parts' models, never the one that scores it
    flipped = [replace(e, label=1 - e.label) if e.split == "dev4" else e for e in small]
    _, probabilities2, thresholds2 = leave_one_author_out(flipped, config)
    dev4 = [i for i, e in enumerate(held) if e.split == "dev4"]
    others = [i for i, e in enumerate(held) if e.split != "dev4"]
    assert [probabilities[i] for i in dev4] == [probabilities2[i] for i in dev4]
    assert [thresholds[i] for i in dev4] == [thresholds2[i] for i in dev4]
    assert [probabilities[i] for i in others] != [probabilities2[i] for i in others]


def test_shipped_model_weighs_stem_terms_and_can_name_them():
    weights = model().weights
    assert model().uses_terms and "term:repli" in weights and "concept:reply" in weights
    # a term is a stem of the text's language: inflections share one weight
    text = "Reply to every comment. Replying is the whole job."
    assert model().features(text)["term:repli"] == 1.0
    assert all(r.startswith("term:") or r in model().weights for r in preaching_reasons(text))
    # function words weigh in the score but are never named as evidence
    reasons = preaching_reasons("Parlate con la gente. Parlate con la gente.")
    assert "term:gent" in reasons and not {"term:con", "term:la"} & set(reasons)
    with pytest.raises(ValueError, match="unknown features"):
        PreachModel(0.0, {"concept:nonsense": 1.0}, 0.5)
