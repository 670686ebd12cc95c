"""The simulator's preachers speak the corpus' styles, and the one-way alerts still find them."""

from collections import defaultdict

from pipelines.model.config import ReciprocityConfig
from pipelines.model.contributions import PREACHING, route
from pipelines.model.engine import evaluate_account
from pipelines.model.preach_corpus import LANGUAGES, load
from pipelines.simulator import SimulationConfig, build_network, generate, sermons


def test_sermons_come_from_every_language_and_style_of_the_corpus():
    posts, bios = sermons()
    corpus = {e.text: e for e in load() if e.split != "test"}
    drawn = [corpus[text] for text in posts + bios]  # a test text would be a KeyError: it stays out
    assert all(e.label == 1 for e in drawn)
    assert {e.lang for e in drawn} == set(LANGUAGES)
    assert {e.style for e in drawn} == {e.style for e in corpus.values() if e.label}
    assert all(corpus[bio].kind == "bio" for bio in bios)


def test_one_way_alerts_keep_their_precision_and_recall():
    """Same figures as with the ten hand-picked sermons the phrase list was written for (P 1.0, R 23/24 here;
    at 200k events P 0.98 R 1.0, at 1M P 0.98 R 1.0): the event stream is unchanged, only the texts are."""
    network = build_network(SimulationConfig.for_events(20_000, seed=3, days=2))
    config = ReciprocityConfig()
    routed = defaultdict(list)
    texts = preaching = 0
    preached = set(sermons()[0] + sermons()[1])
    for event in generate(network):
        for account, contribution in route(event, config):
            routed[account].append(contribution)
            if event.event_type in ("POST", "PROFILE") and event.text in preached:
                texts += 1
                preaching += bool(contribution[5] & PREACHING)
    fired = set()
    for account, contributions in routed.items():
        _, alerts = evaluate_account(account, contributions, config)
        if any(alert["status"] == "firing" for alert in alerts):
            fired.add(account)
    expected = {g["account_id"] for g in network.ground_truth() if g["expected_one_way"]}
    assert fired <= expected  # precision 1.0
    assert len(fired & expected) / len(expected) >= 23 / 24
    assert preaching / texts >= 0.9  # the classifier finds the sermons it was not written for
