"""The built-in simulator as a Beam source: one element per simulated day, expanded on the workers."""

from __future__ import annotations

import apache_beam as beam

from pipelines.simulator import Network, generate_day


class SimulatedEvents(beam.PTransform):
    """Every SocialEvent of `network`, generated day by day (deterministic: same seed, same events)."""

    def __init__(self, network: Network) -> None:
        super().__init__()
        self._network = network

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        network = self._network
        return (
            pbegin
            | "Days" >> beam.Create(range(network.config.days))
            | "Spread" >> beam.Reshuffle()
            | "Generate" >> beam.FlatMap(lambda day: generate_day(network, day))
        )
