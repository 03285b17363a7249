"""What SLO evaluation reads: per-endpoint request counts and latency distributions.

The collectors build these from a run directory (HDR histograms); tests build them
from plain lists. Evaluation never sees files or histograms directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from slo.experiments import ChaosRecord
    from slo.quality import QualityStats
    from slo.timeline import FaultWindow, Timeline

__all__ = [
    "ALL_ENDPOINTS",
    "DriftStats",
    "EndpointStats",
    "GeneratorStats",
    "LatencyDistribution",
    "RunStats",
]

ALL_ENDPOINTS = "*"
"""The pseudo-endpoint name for all requests of a run together."""


class LatencyDistribution(Protocol):
    """A latency distribution in milliseconds."""

    def value_at_percentile(self, percentile: float) -> float:
        """The latency (ms) below which ``percentile`` percent of samples fall."""
        ...

    @property
    def total_count(self) -> int:
        """How many samples the distribution holds."""
        ...


@dataclass(frozen=True)
class EndpointStats:
    """Everything recorded for one endpoint (e.g. ``POST /orders``) over a run."""

    endpoint: str
    requests: int
    failures: int
    latency: LatencyDistribution


@dataclass(frozen=True)
class GeneratorStats:
    """How the load generator itself fared: was the planned load sent, was it busy?

    ``busiest_cpu_percent`` is the highest mean CPU use (percent of one core) of any
    load process over any ``cpu_window_s`` window; ``busiest_source`` names it.
    """

    arrivals_planned: float
    arrivals_sent: int
    arrivals_dropped: int
    busiest_cpu_percent: float
    busiest_source: str
    cpu_window_s: float = 5.0


@dataclass(frozen=True)
class DriftStats:
    """What the stock-drift checker found (see docs/drift.md).

    Probes are samples: a view is only known to have caught up with a change somewhere
    between the last look that did not show it and the first that did. ``lag_s`` maps
    a percentile (50, 95, 99, 100 = worst) of the convergence lag's *lower* bounds to
    seconds (None when no acknowledged operation was seen converging): SLOs are judged
    on it, so a slow probe never raises a false alarm. ``lag_upper_s`` holds the upper
    bounds of the same percentiles.
    """

    oversell_units: int
    negative_stock_observations: int
    truth_observations: int
    truth_outside_interval: int
    view_observations: int
    views_outside_interval: int
    place_invokes: int
    undersell_false_sold_out: int
    lag_s: Mapping[int, float | None]
    never_converged: int
    lag_upper_s: Mapping[int, float | None] = field(default_factory=dict)
    violations_by_fault: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    violations_by_fault_set: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Violations by the set of faults blamed together (``a+b``; ``none``), then by kind."""


@dataclass(frozen=True)
class RunStats:
    """A run's recorded figures, as SLO evaluation sees them.

    ``endpoints`` holds one entry per endpoint plus ``ALL_ENDPOINTS`` for the merge of
    all. ``planned`` maps an endpoint to the number of requests the load plan meant
    to send to it over ``elapsed_s`` (used by throughput SLOs); endpoints the plan
    does not pace are absent. ``generator`` is absent for runs that did not record
    the load generator's own figures.
    """

    endpoints: Mapping[str, EndpointStats]
    elapsed_s: float
    planned: Mapping[str, float] = field(default_factory=dict)
    generator: GeneratorStats | None = None
    drift: DriftStats | None = None
    store_reconcile_s: tuple[float | None, ...] | None = None
    """Per store outage, seconds from the link coming back to every queued sale being in
    the source of truth (None: never); the field is None when no store was watched."""
    store_outages_scheduled: int = 0
    """Store outages (``store-offline`` steps) the run's plan scheduled."""
    load_start: float | None = None
    load_end: float | None = None
    """When the load phase started and ended (Unix seconds), when recorded."""
    timeline: Timeline | None = None
    """Per-interval figures, for objectives that apply to a phase and for recovery."""
    faults: tuple[FaultWindow, ...] = ()
    """The run's fault windows (from the chaos runners' events)."""
    faults_known: bool = True
    """False when the run's fault windows could not be read (no timeline of events)."""
    chaos: ChaosRecord | None = None
    """What became of each chaos step; None when the plan scheduled none."""
    quality: QualityStats | None = None
    """How complete the stock measurements were; None when nothing was probed."""
