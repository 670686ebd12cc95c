"""Small steps on the SocialEvent stream shared by every source."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import apache_beam as beam

from pipelines.io.files import NAMESPACE
from pipelines.model.events import EventType, SocialEvent

EVENTS_READ_PREFIX = "events_read_"


class CountEventsFn(beam.DoFn):
    """Counts events by type (Beam counters reciprocity/events_read_<TYPE>) and passes them on, one by one or
    in lists."""

    def setup(self) -> None:
        self._counters = {
            t.value: beam.metrics.Metrics.counter(NAMESPACE, EVENTS_READ_PREFIX + t.value) for t in EventType
        }

    def process(self, element: SocialEvent | list[SocialEvent]) -> Iterator[SocialEvent | list[SocialEvent]]:
        if isinstance(element, list):  # a source's batch (ReadSocialEventsFromKafka(batch_events=True))
            counts = Counter(event.event_type for event in element)
            for event_type, count in counts.items():
                self._counters[event_type].inc(count)
        else:
            self._counters[element.event_type].inc()
        yield element
