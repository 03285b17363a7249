"""Plain-data stand-ins for what the collectors hand to SLO evaluation."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slo.stats import EndpointStats, RunStats


@dataclass(frozen=True)
class SortedLatencies:
    """A ``LatencyDistribution`` over an explicit list of latencies (nearest rank)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> SortedLatencies:
        return cls(tuple(sorted(values)))

    @property
    def total_count(self) -> int:
        return len(self.values)

    def value_at_percentile(self, percentile: float) -> float:
        if not self.values:
            return 0.0
        rank = max(1, math.ceil(percentile / 100 * len(self.values)))
        return self.values[min(rank, len(self.values)) - 1]


def endpoint(
    name: str, *, requests: int, failures: int = 0, latencies: Sequence[float] = ()
) -> EndpointStats:
    return EndpointStats(
        endpoint=name,
        requests=requests,
        failures=failures,
        latency=SortedLatencies.of(latencies),
    )


def run_stats(*endpoints: EndpointStats, planned: Mapping[str, float] | None = None) -> RunStats:
    return RunStats(
        endpoints={e.endpoint: e for e in endpoints},
        elapsed_s=60.0,
        planned=dict(planned or {}),
    )
