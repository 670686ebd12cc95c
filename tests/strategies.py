"""Hypothesis strategies for random social event streams, biased towards window edges and ties."""

from __future__ import annotations

from hypothesis import strategies as st

from pipelines.model.events import SocialEvent

HOUR = 3_600_000
ACCOUNTS = ("ana", "bob", "cy", "dee", "eli")
TEXTS = (
    None,
    "Thanks so much!",
    "Talk with your audience, don't broadcast.",
    "Répondez à chaque commentaire, toujours.",
    "Here is a proof sketch of the lemma.",
    "Grab my new book https://example.com/book",
    "merci 🙏",
    "Social media strategist. I help brands turn followers into communities.",  # an expert bio (as PROFILE)
    "Fitness coach in Bristol. Kettlebells, no nonsense.",
)
CLIENTS = (None, "web", "Buffer", "Hootsuite", "iPhone")
FOLLOWERS = (None, 12, 9_999, 10_000, 150_000, 2_000_000)


@st.composite
def event_times(draw: st.DrawFn, panes: int = 8, period: int = HOUR) -> int:
    """Mostly exact pane edges and their neighbours, where off-by-one errors live."""
    pane = draw(st.integers(0, panes - 1))
    offset = draw(st.sampled_from((0, 1, period - 1, period // 2)) | st.integers(0, period - 1))
    return pane * period + offset


@st.composite
def social_events(draw: st.DrawFn, max_size: int = 60, panes: int = 8, period: int = HOUR) -> list[SocialEvent]:
    size = draw(st.integers(0, max_size))
    events = []
    for i in range(size):
        kind = draw(st.sampled_from(("POST", "REPLY", "REPLY", "MENTION", "SHARE", "LIKE", "FOLLOW", "PROFILE")))
        actor = draw(st.sampled_from(ACCOUNTS))
        target = None if kind in ("POST", "PROFILE") else draw(st.sampled_from(ACCOUNTS))
        events.append(
            SocialEvent(
                event_id=f"e{i}",
                event_type=kind,
                actor_id=actor,
                event_time=draw(event_times(panes, period)),
                target_account_id=target,
                conversation_owner_id=draw(st.sampled_from((None, actor, "ana"))),
                text=draw(st.sampled_from(TEXTS)),
                client=draw(st.sampled_from(CLIENTS)),
                followers_count=draw(st.sampled_from(FOLLOWERS)),
                target_followers_count=draw(st.sampled_from(FOLLOWERS)),
            )
        )
    return events
