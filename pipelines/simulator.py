"""A deterministic synthetic social network with the behaviours of the essay, and its ground truth.

A network is a set of *gurus* (accounts with an audience, each with a persona) and *fans*. Every simulated day,
gurus post (preachers post engagement sermons in six languages and nine styles, drawn from the preaching
corpus), fans and peers engage with those posts,
and each guru answers according to its persona. Everything is drawn from `random.Random(seed, day)`, so a day
can be generated on any worker and the whole stream is reproducible.

Personas (the ground truth says which ones should raise a one-way alert):
    two_way_preacher       preaches, answers most fans quickly               -> no alert
    one_way_preacher       preaches, answers almost nobody                    -> alert
    inner_circle_preacher  preaches, answers only peers (rising tier and up)  -> alert
    thanks_promo_preacher  preaches, answers fans with "thanks" or a link     -> no alert (self-serving replies)
    delegated_preacher     preaches, a manager answers through Buffer/Hootsuite -> no alert (delegated replies)
    lapsed_preacher        two-way in the first half, one-way afterwards      -> alert (late in the run)
    recovering_preacher    one-way in the first half, two-way afterwards      -> alert, then resolved
    broadcaster            a celebrity that never answers but never preaches  -> no alert (not a hypocrite)
    two_way_rising         a second-tier account, genuinely two-way           -> no alert
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pipelines.model.events import SocialEvent
from pipelines.model.preach_corpus import load as load_corpus

DAY_MS = 86_400_000
EPOCH_MS = 1_767_571_200_000  # 2026-01-05T00:00:00Z, a Monday

PERSONAS: dict[str, dict] = {
    # reply_fan / reply_peer: chance of answering an engager; delay: mean answer delay in minutes
    "two_way_preacher": {"preaches": True, "reply_fan": 0.75, "reply_peer": 0.9, "delay": 45, "one_way": False},
    "one_way_preacher": {"preaches": True, "reply_fan": 0.02, "reply_peer": 0.05, "delay": 300, "one_way": True},
    "inner_circle_preacher": {"preaches": True, "reply_fan": 0.0, "reply_peer": 0.95, "delay": 20, "one_way": True},
    "thanks_promo_preacher": {"preaches": True, "reply_fan": 0.7, "reply_peer": 0.8, "delay": 30, "one_way": False},
    "delegated_preacher": {"preaches": True, "reply_fan": 0.6, "reply_peer": 0.6, "delay": 90, "one_way": False},
    "lapsed_preacher": {"preaches": True, "reply_fan": 0.7, "reply_peer": 0.8, "delay": 60, "one_way": True},
    "recovering_preacher": {"preaches": True, "reply_fan": 0.02, "reply_peer": 0.1, "delay": 60, "one_way": True},
    "broadcaster": {"preaches": False, "reply_fan": 0.01, "reply_peer": 0.05, "delay": 600, "one_way": False},
    "two_way_rising": {"preaches": False, "reply_fan": 0.8, "reply_peer": 0.9, "delay": 30, "one_way": False},
}
# How often each persona appears among gurus (weights).
PERSONA_MIX = {
    "two_way_preacher": 3,
    "one_way_preacher": 2,
    "inner_circle_preacher": 2,
    "thanks_promo_preacher": 1,
    "delegated_preacher": 1,
    "lapsed_preacher": 1,
    "recovering_preacher": 1,
    "broadcaster": 1,
    "two_way_rising": 3,
}

POSTS = (
    "New article on pricing strategy for early-stage startups.",
    "Three lessons from shipping our product this quarter.",
    "Here is the deck from my talk yesterday.",
    "What tools do you use for customer interviews?",
    "Nouvel article sur la stratégie de contenu B2B.",
    "Quelques chiffres sur notre croissance ce trimestre.",
)
FAN_REPLIES = (
    "Great point, how do you apply this to B2B?",
    "I tried this last month and it doubled our replies.",
    "Do you have data behind this?",
    "Totally agree, thanks for sharing.",
    "Question: how often should we post?",
    "Super intéressant, vous avez un exemple concret ?",
    "Je ne suis pas d'accord sur le deuxième point.",
)
ANSWERS = (
    "Good question: start with your ten best customers and ask them directly.",
    "We measured it over six months; I'll share the numbers in a thread.",
    "It depends on your audience size; weekly is a good start.",
    "Bonne question : commencez par vos clients les plus actifs.",
    "Here is what worked for us: short posts, one idea each.",
)
THANKS_PROMO = (
    "Thanks! 🙏",
    "Thank you so much!",
    "Merci beaucoup 🙏",
    "Grab my new book: https://guru.example.com/book",
    "Join my masterclass, sign up here: https://guru.example.com/mc",
    "Inscrivez-vous au webinaire : https://guru.example.com/webinaire",
)
HUMAN_CLIENTS = ("web", "iPhone", "Android")
MANAGER_CLIENTS = ("Buffer", "Hootsuite")


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 42
    gurus: int = 60
    fans: int = 6000
    days: int = 7
    posts_per_day: float = 4.0
    engagers_per_post: float = 12.0

    def __post_init__(self) -> None:
        for name in ("gurus", "fans", "days"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")

    @classmethod
    def for_events(cls, events: int, seed: int = 42, days: int = 7) -> SimulationConfig:
        """A network whose `days` of activity come to about `events` events."""
        per_guru_day = 158  # measured average of generate_day over the persona mix
        gurus = max(9, round(events / (per_guru_day * days)))
        return cls(seed=seed, gurus=gurus, fans=max(500, gurus * 100), days=days)


@dataclass
class Guru:
    account_id: str
    persona: str
    followers: int
    audience: list[str] = field(default_factory=list)

    @property
    def traits(self) -> dict:
        return PERSONAS[self.persona]


@dataclass
class Network:
    config: SimulationConfig
    gurus: list[Guru]
    fan_followers: dict[str, int]

    def ground_truth(self) -> list[dict]:
        return [
            {
                "account_id": g.account_id,
                "persona": g.persona,
                "followers": g.followers,
                "preaches": g.traits["preaches"],
                "expected_one_way": g.traits["one_way"],
            }
            for g in self.gurus
        ]


def _log_uniform(rng: random.Random, low: float, high: float) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def build_network(config: SimulationConfig) -> Network:
    rng = random.Random(f"{config.seed}:network")
    fan_followers = {}
    for i in range(config.fans):
        # Power-law audiences: most fans have a few hundred followers, some cross into the rising tier.
        fan_followers[f"fan{i:06d}"] = min(int(30 * rng.paretovariate(1.3)), 60_000)
    fans = list(fan_followers)
    personas = list(PERSONA_MIX)
    gurus = []
    for i in range(config.gurus):
        persona = (
            personas[i % len(personas)]
            if i < len(personas)
            else rng.choices(personas, weights=list(PERSONA_MIX.values()))[0]
        )
        if persona == "broadcaster":
            followers = _log_uniform(rng, 1_000_000, 5_000_000)
        elif persona == "two_way_rising":
            followers = _log_uniform(rng, 10_000, 90_000)
        else:
            followers = _log_uniform(rng, 20_000, 2_500_000)
        audience_size = min(len(fans), int(40 + 25 * math.log10(followers)))
        gurus.append(Guru(f"guru{i:04d}", persona, followers, rng.sample(fans, audience_size)))
    return Network(config, gurus, fan_followers)


def _reply_chance(guru: Guru, peer: bool, day: int, days: int) -> float:
    traits = guru.traits
    chance = traits["reply_peer"] if peer else traits["reply_fan"]
    second_half = day >= days // 2
    if guru.persona == "lapsed_preacher" and second_half:
        chance = 0.0 if not peer else 0.05
    if guru.persona == "recovering_preacher" and second_half:
        chance = 0.8
    return chance


def generate_day(network: Network, day: int) -> Iterator[SocialEvent]:
    """Every event of one simulated day, in no particular order."""
    config = network.config
    rng = random.Random(f"{config.seed}:day:{day}")
    day_start = EPOCH_MS + day * DAY_MS
    counter = 0

    def event(kind: str, actor: str, t: int, **fields: Any) -> SocialEvent:
        nonlocal counter
        counter += 1
        return SocialEvent(
            event_id=f"s{config.seed}-d{day}-{counter}", event_type=kind, actor_id=actor, event_time=t, **fields
        )

    followers_of = {g.account_id: g.followers for g in network.gurus} | network.fan_followers
    peers = network.gurus
    for guru in network.gurus:
        traits = guru.traits
        yield event(
            "PROFILE",
            guru.account_id,
            day_start + rng.randrange(0, 3_600_000),
            text=_bio(guru, rng, f"{config.seed}:{day}:{guru.account_id}"),
            followers_count=guru.followers,
        )
        for _ in range(_poisson(rng, config.posts_per_day)):
            t_post = day_start + rng.randrange(0, DAY_MS - 3_600_000)
            preaching = traits["preaches"] and rng.random() < 0.45
            text = _sermon(rng, f"{config.seed}:{day}:{counter}") if preaching else rng.choice(POSTS)
            post_id = f"p-{guru.account_id}-{day}-{counter}"
            yield event(
                "POST",
                guru.account_id,
                t_post,
                post_id=post_id,
                text=text,
                conversation_owner_id=guru.account_id,
                followers_count=guru.followers,
                client=rng.choice(HUMAN_CLIENTS),
            )
            for engager, peer in _engagers(rng, guru, peers, config.engagers_per_post):
                t_in = t_post + int(rng.expovariate(1 / 1_800_000))
                kind = rng.choices(("REPLY", "MENTION", "SHARE", "LIKE"), weights=(60, 12, 15, 13))[0]
                yield event(
                    kind,
                    engager,
                    t_in,
                    target_account_id=guru.account_id,
                    parent_post_id=post_id,
                    conversation_owner_id=guru.account_id,
                    text=rng.choice(FAN_REPLIES) if kind != "LIKE" else None,
                    followers_count=followers_of[engager],
                    target_followers_count=guru.followers,
                    client=rng.choice(HUMAN_CLIENTS),
                )
                if kind == "LIKE" or rng.random() >= _reply_chance(guru, peer, day, config.days):
                    continue
                t_out = t_in + int(rng.expovariate(1 / (traits["delay"] * 60_000)))
                yield event(
                    "REPLY",
                    guru.account_id,
                    t_out,
                    target_account_id=engager,
                    parent_post_id=post_id,
                    conversation_owner_id=guru.account_id,
                    text=_answer(guru, rng),
                    followers_count=guru.followers,
                    target_followers_count=followers_of[engager],
                    client=_client(guru, rng),
                )
        # Gurus also talk in their peers' threads: the inner circle does it most.
        proactive = 4 if guru.persona == "inner_circle_preacher" else 1
        for _ in range(_poisson(rng, proactive)):
            other = rng.choice(peers)
            if other is guru:
                continue
            yield event(
                "REPLY",
                guru.account_id,
                day_start + rng.randrange(0, DAY_MS),
                target_account_id=other.account_id,
                conversation_owner_id=other.account_id,
                text=rng.choice(ANSWERS),
                followers_count=guru.followers,
                target_followers_count=other.followers,
                client=_client(guru, rng),
            )
    # Fans live their own lives too: follows and their own posts.
    for fan in rng.sample(list(network.fan_followers), k=min(len(network.fan_followers), config.fans // 10)):
        t = day_start + rng.randrange(0, DAY_MS)
        if rng.random() < 0.5:
            yield event(
                "FOLLOW",
                fan,
                t,
                target_account_id=rng.choice(peers).account_id,
                followers_count=network.fan_followers[fan],
            )
        else:
            yield event(
                "POST",
                fan,
                t,
                text=rng.choice(POSTS),
                followers_count=network.fan_followers[fan],
                client=rng.choice(HUMAN_CLIENTS),
            )


def _engagers(rng: random.Random, guru: Guru, gurus: list[Guru], mean: float) -> Iterator[tuple[str, bool]]:
    scale = 1 + math.log10(max(guru.followers, 10_000) / 10_000)
    for _ in range(_poisson(rng, mean * scale)):
        if rng.random() < 0.05:
            peer = rng.choice(gurus)
            if peer is not guru:
                yield peer.account_id, True
                continue
        yield rng.choice(guru.audience), False


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is fine for the small means used here.
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


@cache
def sermons() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(posts, bios) that preach: every style and language of the preaching corpus (pipelines/lexicons/
    preach_corpus), so the simulated preachers speak the way people preach, not the way one classifier expects.
    The corpus' `test` part stays out: it is kept for the classifier's one honest measurement."""
    corpus = [e for e in load_corpus() if e.split != "test"]
    posts = tuple(e.text for e in corpus if e.label and e.kind != "bio")
    bios = tuple(e.text for e in corpus if e.label and e.kind == "bio")
    return posts, bios


def _sermon(rng: random.Random, key: str, bio: bool = False) -> str:
    """A preaching text drawn with its own generator: the day's generator makes the same one draw as when there
    were ten sermons and two bios (so changing the texts changes no time, count or persona behaviour)."""
    rng.randrange(2 if bio else 10)
    return random.Random(f"sermon:{key}").choice(sermons()[1 if bio else 0])


def _bio(guru: Guru, rng: random.Random, key: str) -> str:
    if guru.traits["preaches"]:
        return _sermon(rng, key, bio=True)
    return rng.choice(("Founder. Writing about product.", "Fondatrice. J'écris sur le produit."))


def _answer(guru: Guru, rng: random.Random) -> str:
    if guru.persona == "thanks_promo_preacher":
        return rng.choice(THANKS_PROMO)
    return rng.choice(ANSWERS)


def _client(guru: Guru, rng: random.Random) -> str:
    if guru.persona == "delegated_preacher":
        return rng.choice(MANAGER_CLIENTS)
    return rng.choice(HUMAN_CLIENTS)


def generate(network: Network) -> Iterator[SocialEvent]:
    for day in range(network.config.days):
        yield from generate_day(network, day)
