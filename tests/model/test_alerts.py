from pipelines.model.alerts import FIRING, RESOLVED, alert_id, next_status
from pipelines.model.config import ReciprocityConfig

CONFIG = ReciprocityConfig(min_inbound=20, max_response_rate=0.10, resolve_response_rate=0.20)


def window(inbound, rate, preacher=True):
    return {"inbound_engagers": inbound, "response_rate": rate, "is_preacher": preacher}


def test_fires_for_a_one_way_preacher_only():
    assert next_status(False, window(20, 0.05), CONFIG) == FIRING
    assert next_status(False, window(20, 0.05, preacher=False), CONFIG) is None
    assert next_status(False, window(20, 0.10), CONFIG) is None  # "< max_response_rate"


def test_small_windows_change_nothing():
    assert next_status(False, window(19, 0.0), CONFIG) is None
    assert next_status(True, window(19, 1.0), CONFIG) is None


def test_hysteresis_between_fire_and_resolve():
    assert next_status(True, window(30, 0.15), CONFIG) is None
    assert next_status(True, window(30, 0.20), CONFIG) == RESOLVED
    assert next_status(True, window(30, 0.0), CONFIG) is None  # already firing: no duplicate


def test_alert_ids_are_deterministic_and_distinct():
    assert alert_id("a", 1, FIRING) == alert_id("a", 1, FIRING)
    assert (
        len(
            {
                alert_id("a", 1, FIRING),
                alert_id("a", 1, RESOLVED),
                alert_id("a", 2, FIRING),
                alert_id("b", 1, FIRING),
            }
        )
        == 4
    )


def test_evidence_names_the_sermon_its_features_and_the_expert_bio():
    from pipelines.model.engine import evaluate_account
    from pipelines.model.events import SocialEvent
    from tests.model.helpers import by_account

    config = ReciprocityConfig(window_ms=3_600_000, period_ms=3_600_000, min_inbound=2, min_preaching_posts=2)
    sermon = "Talk with your audience, don't broadcast!"
    bio = "Social media strategist 📈 Helping brands turn followers into communities."
    events = [
        SocialEvent(event_id="b", event_type="PROFILE", actor_id="guru", event_time=1, text=bio),
        SocialEvent(event_id="p", event_type="POST", actor_id="guru", event_time=2, text=sermon),
        *(
            SocialEvent(
                event_id=f"r{i}", event_type="REPLY", actor_id=f"fan{i}", target_account_id="guru", event_time=3
            )
            for i in range(3)
        ),
    ]
    windows, alerts = evaluate_account("guru", by_account(events, config)["guru"], config)
    (window,) = windows
    assert window["self_proclaimed_expert"] and window["is_preacher"] and window["preaching_posts"] == 2
    (alert,) = alerts
    evidence = alert["evidence"]
    assert evidence["preaching_post"] == sermon
    # the audience shows as the social-media context it makes
    assert "concept:talk" in evidence["preaching_features"] and "social_context" in evidence["preaching_features"]
    assert evidence["expert_bio"] == bio
