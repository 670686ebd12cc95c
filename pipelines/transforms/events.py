"""Small steps on the SocialEvent stream shared by every source."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from pipelines.io.files import NAMESPACE
from pipelines.model.events import EventType, SocialEvent

EVENTS_READ_PREFIX = "events_read_"


class CountEventsFn(beam.DoFn):
    """Counts events by type (Beam counters reciprocity/events_read_<TYPE>) and passes them on."""

    def setup(self) -> None:
        self._counters = {
            t.value: beam.metrics.Metrics.counter(NAMESPACE, EVENTS_READ_PREFIX + t.value) for t in EventType
        }

    def process(self, event: SocialEvent) -> Iterator[SocialEvent]:
        self._counters[event.event_type].inc()
        yield event
