"""When things happened: fault windows, per-interval request figures, and the phases
(steady state, faults) request objectives are judged in.

Pure. The collectors build a ``Timeline`` from the run directory (one ``Second`` per
recorded interval and endpoint) and the fault windows from the timeline of events;
evaluation slices and merges them here. An interval belongs to the faults when it
overlaps a fault window or the recovery allowance after it, else to the steady state,
so every request is judged by exactly one of the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from slo.stats import ALL_ENDPOINTS, EndpointStats, LatencyDistribution

__all__ = [
    "Episode",
    "FaultWindow",
    "Merge",
    "Second",
    "Timeline",
    "episodes",
    "phase_stats",
    "window_stats",
]

Merge = Callable[[Sequence[LatencyDistribution]], LatencyDistribution]
"""Merges latency distributions into one (the collectors pass HDR histogram addition)."""


@dataclass(frozen=True)
class FaultWindow:
    """One fault, in Unix seconds. ``stopped``: its end was recorded; when it was not (its
    injector was killed) ``end`` is the latest it could last: its lease expiry."""

    name: str
    start: float
    end: float
    stopped: bool = True


@dataclass(frozen=True)
class Episode:
    """Fault windows that overlap, taken together: ``a+b`` from the first start to the last end."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Second:
    """One recorded interval of one endpoint: ``[t, t + interval_s)``, by completion time."""

    t: float
    interval_s: float
    requests: int
    failures: int
    latency: LatencyDistribution


@dataclass(frozen=True)
class Timeline:
    """Per-interval request figures of a run, by endpoint (time order), and how to merge."""

    seconds: Mapping[str, Sequence[Second]]
    merge: Merge

    def of(self, endpoint: str) -> list[Second]:
        """The intervals of ``endpoint``; ``*`` gives every endpoint's (unmerged)."""
        if endpoint == ALL_ENDPOINTS:
            return sorted(
                (s for seconds in self.seconds.values() for s in seconds), key=lambda s: s.t
            )
        return list(self.seconds.get(endpoint, ()))


def episodes(windows: Iterable[FaultWindow]) -> list[Episode]:
    """Fault windows merged where they overlap, in time order."""
    merged: list[Episode] = []
    for window in sorted(windows, key=lambda w: (w.start, w.end)):
        if merged and window.start <= merged[-1].end:
            last = merged[-1]
            names = last.name.split("+")
            name = last.name if window.name in names else f"{last.name}+{window.name}"
            merged[-1] = Episode(name, last.start, max(last.end, window.end))
        else:
            merged.append(Episode(window.name, window.start, window.end))
    return merged


def in_faults(second: Second, spans: Sequence[Episode], allowance_s: float) -> bool:
    """Does ``second`` overlap a fault episode or the recovery allowance after it?"""
    end = second.t + second.interval_s
    return any(second.t < ep.end + allowance_s and end > ep.start for ep in spans)


def phase_stats(
    timeline: Timeline,
    endpoint: str,
    during: str,
    windows: Sequence[FaultWindow],
    allowance_s: float,
) -> EndpointStats:
    """The endpoint's figures over the intervals of one phase (``steady`` or ``faults``)."""
    spans = episodes(windows)
    want_faults = during == "faults"
    chosen = [s for s in timeline.of(endpoint) if in_faults(s, spans, allowance_s) == want_faults]
    return window_stats(timeline, endpoint, chosen)


def window_stats(timeline: Timeline, endpoint: str, seconds: Sequence[Second]) -> EndpointStats:
    """``seconds`` merged into one ``EndpointStats``."""
    return EndpointStats(
        endpoint=endpoint,
        requests=sum(s.requests for s in seconds),
        failures=sum(s.failures for s in seconds),
        latency=timeline.merge([s.latency for s in seconds]),
    )
