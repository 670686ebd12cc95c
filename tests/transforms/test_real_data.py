"""Real interactions: SNAP's sx-mathoverflow (answers and comments), mapped to REPLY events.

Data: Paranjape, Benson, Leskovec, "Motifs in Temporal Networks", WSDM 2017 (SNAP). Lines are
`src dst unix_seconds`: src answered or commented on a post of dst. Read from ../shared; nothing is shipped.
"""

import gzip
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import SocialEvent
from pipelines.model.reference import reference
from pipelines.transforms.reciprocity import ComputeReciprocity

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sx-mathoverflow"
DAYS = 45


def load(days: int = DAYS) -> list[SocialEvent]:
    if not DATA.exists():
        pytest.skip(f"SNAP sx-mathoverflow not found at {DATA}")
    events = []
    for kind in ("a2q", "c2q", "c2a"):
        with gzip.open(DATA / f"sx-mathoverflow-{kind}.txt.gz", "rt") as handle:
            start = None
            for number, line in enumerate(handle):
                src, dst, seconds = line.split()
                start = int(seconds) if start is None else start
                if int(seconds) >= start + days * 86_400:
                    break
                events.append(
                    SocialEvent(
                        event_id=f"{kind}-{number}",
                        event_type="REPLY",
                        actor_id=f"mo{src}",
                        target_account_id=f"mo{dst}",
                        event_time=int(seconds) * 1000,
                    )
                )
    return events


@pytest.fixture(scope="module")
def mathoverflow():
    events = load()
    busiest = [account for account, _ in Counter(e.target_account_id for e in events).most_common(8)]
    config = ReciprocityConfig(
        window_ms=7 * 86_400_000,
        period_ms=86_400_000,
        min_inbound=5,
        max_response_rate=0.3,
        resolve_response_rate=0.5,
        watchlist=frozenset(busiest),  # no bios here: watch the most answered users
    )
    return events, config, reference(events, config)


def test_real_data_is_substantial(mathoverflow):
    events, _, (windows, alerts) = mathoverflow
    assert len(events) > 5_000
    assert len({w["account_id"] for w in windows}) > 20
    assert {a["status"] for a in alerts} == {"firing", "resolved"}


def test_pipeline_equals_reference_on_real_data(mathoverflow):
    events, config, (expected_windows, expected_alerts) = mathoverflow
    with TestPipeline() as p:
        out = p | beam.Create(events, reshuffle=False) | ComputeReciprocity(config)
        assert_that(out["windows"], equal_to(expected_windows), label="windows")
        assert_that(out["alerts"], equal_to(expected_alerts), label="alerts")


def test_commenting_under_ones_own_post_is_not_engagement(mathoverflow):
    events, _, (_, alerts) = mathoverflow
    assert any(e.actor_id == e.target_account_id for e in events)  # it happens in this data
    for alert in alerts:
        assert alert["account_id"] not in alert["evidence"]["ignored_engagers"]
