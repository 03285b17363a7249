"""The open model: arrivals scheduled from a rate curve, started on time or dropped.

An arrival is one shopper journey. Arrival times come from the profile's rate(t)
(a non-homogeneous Poisson process, or evenly spaced), independent of how fast the
target answers: a stalled server does not slow the arrivals, it piles them up, as
real shoppers do. An arrival that finds every concurrency slot busy at its intended
time is dropped and counted (like k6's ``dropped_iterations``); every other arrival
is started and its latency is measured from its *intended* start, so time lost to a
late scheduler is charged to the request, not hidden (coordinated omission).

The scheduler is written against a clock, a sleep and a pool so tests drive it with a
fake clock; the load process passes gevent's.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "DRAIN_S",
    "ArrivalCounts",
    "ArrivalPlanner",
    "ArrivalScheduler",
    "Pool",
    "open_load_over",
]

STEP_S = 0.001
"""Integration step of the rate curve: arrivals are placed to within a millisecond."""

DRAIN_S = 5.0
"""After the last arrival, journeys in flight get this long to finish."""


def open_load_over(elapsed_s: float, duration_s: float, *, drained: bool) -> bool:
    """Whether an open-model run is over at ``elapsed_s``: past the duration once every
    arrival was sent and answered (``drained``), else ``DRAIN_S`` after it at most."""
    return elapsed_s > duration_s + DRAIN_S or (elapsed_s > duration_s and drained)


class ArrivalPlanner:
    """Intended arrival times (seconds since start) for a rate curve.

    The cumulative rate Λ(t) is integrated in small steps; an arrival falls where Λ
    crosses the next threshold: unit steps for ``uniform``, exponential steps
    (mean 1) for ``poisson`` (the time-rescaling construction of a non-homogeneous
    Poisson process). ``multiplier`` may change while arrivals are drawn (the
    orders-per-minute controller steers it).
    """

    def __init__(
        self,
        rate: Callable[[float], float],
        *,
        duration_s: float,
        poisson: bool,
        rng: random.Random,
        share: float = 1.0,
        phase: float = 0.5,
    ) -> None:
        self._rate = rate
        self._duration = duration_s
        self._poisson = poisson
        self._rng = rng
        self._share = share
        self.multiplier = 1.0
        self._t = 0.0
        self._area = 0.0
        # Uniform arrivals sit mid-gap (``phase`` 0.5); process i of N takes phase
        # (i + 0.5) / N of its own gap, so N processes interleave evenly.
        self._next = self._gap() if poisson else phase

    def _gap(self) -> float:
        return self._rng.expovariate(1.0) if self._poisson else 1.0

    def __iter__(self) -> Iterator[float]:
        while (t := self.next_arrival()) is not None:
            yield t

    def next_arrival(self) -> float | None:
        """The next intended arrival time, or None when the run's duration is over."""
        while self._t < self._duration:
            step = min(STEP_S, self._duration - self._t)
            lam = max(0.0, self._rate(self._t + step / 2)) * self.multiplier * self._share
            gained = lam * step
            if gained > 0 and self._area + gained >= self._next:
                # Λ is linear within a step: the crossing is found by interpolation,
                # and the next call integrates on from the arrival instant.
                self._t += step * (self._next - self._area) / gained
                self._area = self._next
                self._next += self._gap()
                return self._t
            self._area += gained
            self._t += step
        return None


class Pool(Protocol):
    """Concurrency slots for journeys (gevent's ``Pool`` in the load process)."""

    def free_count(self) -> int: ...

    def spawn(self, func: Callable[..., object], *args: object) -> object: ...


@dataclass
class ArrivalCounts:
    """Arrivals planned, started and dropped so far (the load process reports deltas)."""

    planned: int = 0
    sent: int = 0
    dropped: int = 0
    max_late_s: float = 0.0

    def snapshot(self) -> ArrivalCounts:
        return ArrivalCounts(self.planned, self.sent, self.dropped, self.max_late_s)


class ArrivalScheduler:
    """Starts one journey per planned arrival, on time, within a concurrency cap.

    ``journey(intended)`` gets the intended start on the ``clock``'s scale; it measures
    its first request from there. ``on_planned(arrival_time)`` lets the caller draw
    the journey's plan (and count what it will call) before it knows whether the
    arrival is sent or dropped.
    """

    def __init__(
        self,
        planner: ArrivalPlanner,
        pool: Pool,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], object],
        stopped: Callable[[], bool] = lambda: False,
        on_drop: Callable[[object], object] = lambda _plan: None,
    ) -> None:
        self.planner = planner
        self.pool = pool
        self.clock = clock
        self.sleep = sleep
        self.stopped = stopped
        self.on_drop = on_drop
        self.counts = ArrivalCounts()

    def run(self, journey: Callable[[float, object], object], plan: Callable[[], object]) -> None:
        """Schedule arrivals until the planner's duration is over or ``stopped()``."""
        start = self.clock()
        for offset in self.planner:
            intended = start + offset
            wait = intended - self.clock()
            if wait > 0:
                self.sleep(wait)
            if self.stopped():
                return
            self.counts.planned += 1
            journey_plan = plan()
            if self.pool.free_count() <= 0:
                self.counts.dropped += 1
                self.on_drop(journey_plan)
                continue
            self.counts.max_late_s = max(self.counts.max_late_s, self.clock() - intended)
            self.counts.sent += 1
            self.pool.spawn(journey, intended, journey_plan)
