from pipelines.model import contributions as c
from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import SocialEvent

SERMON = "Reply to every comment. Social media is a conversation, not a broadcast."
EXPERT_BIO = "LinkedIn growth coach | I teach founders to build an engaged audience."
COACH_BIO = "Fitness coach in Bristol. Kettlebells, mobility, no nonsense."


def _routed(kind, text, config=None):
    event = SocialEvent(event_id="e", event_type=kind, actor_id="guru", event_time=1, text=text)
    ((account, contribution),) = c.route(event, config or ReciprocityConfig())
    assert account == "guru"
    return contribution[5], contribution[6]  # flags, text


def test_a_sermon_is_flagged_and_travels_as_evidence():
    assert _routed("POST", SERMON) == (c.PREACHING, SERMON)
    assert _routed("POST", "Three lessons from shipping our product this quarter.") == (0, None)
    assert _routed("POST", None) == (0, None)


def test_a_self_proclaimed_expert_bio_counts_as_preaching():
    assert _routed("PROFILE", EXPERT_BIO) == (c.PREACHING | c.EXPERT, EXPERT_BIO)
    assert _routed("PROFILE", COACH_BIO) == (0, None)
    # the expert signal is about bios: the same words in a post are judged by the probability alone
    flags, _ = _routed("POST", EXPERT_BIO)
    assert not flags & c.EXPERT


def test_the_probability_threshold_option_decides():
    strict = ReciprocityConfig(min_preach_probability=1.0)
    lenient = ReciprocityConfig(min_preach_probability=0.0)
    assert _routed("POST", SERMON, strict) == (0, None)
    assert _routed("POST", "Three lessons from shipping.", lenient)[0] == c.PREACHING
    # an expert bio is preaching whatever the threshold
    assert _routed("PROFILE", EXPERT_BIO, strict)[0] == c.PREACHING | c.EXPERT
