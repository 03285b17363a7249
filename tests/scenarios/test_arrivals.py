"""The open-model scheduler against a fake clock: counts, drops, intended-start latency."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

import pytest

from scenarios.arrivals import ArrivalPlanner, ArrivalScheduler


def planner(
    rate: Callable[[float], float],
    duration: float,
    *,
    poisson: bool,
    seed: int = 1,
    share: float = 1.0,
    phase: float = 0.5,
) -> ArrivalPlanner:
    return ArrivalPlanner(rate, duration_s=duration, poisson=poisson, rng=random.Random(seed),
                          share=share, phase=phase)  # fmt: skip


def test_uniform_arrivals_are_evenly_spaced_at_the_planned_rate() -> None:
    times = list(planner(lambda t: 10.0, 2.0, poisson=False))
    assert len(times) == 20
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(abs(g - 0.1) < 1e-9 for g in gaps)


def test_poisson_arrivals_follow_a_time_varying_rate() -> None:
    # 100/s for the first 10 s, 300/s for the next 10 s: expect ~1000 and ~3000.
    times = list(planner(lambda t: 100.0 if t < 10 else 300.0, 20.0, poisson=True, seed=3))
    first = sum(t < 10 for t in times)
    second = len(times) - first
    assert abs(first - 1000) < 4 * 1000**0.5
    assert abs(second - 3000) < 4 * 3000**0.5


def test_poisson_gaps_are_exponential() -> None:
    times = list(planner(lambda t: 200.0, 50.0, poisson=True, seed=5))
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    median = gaps[len(gaps) // 2]
    assert median == pytest.approx(0.693 / 200, rel=0.05)  # ln 2 / λ


def test_shares_of_several_processes_add_up_to_the_plan() -> None:
    parts = [
        list(planner(lambda t: 90.0, 10.0, poisson=False, share=1 / 3, phase=(i + 0.5) / 3))
        for i in range(3)
    ]
    merged = sorted(t for p in parts for t in p)
    assert len(merged) == 900
    gaps = [b - a for a, b in itertools.pairwise(merged)]
    assert max(gaps) < 1.5 / 90  # the three processes interleave


def test_the_multiplier_steers_the_rate_while_running() -> None:
    plan = planner(lambda t: 10.0, 10.0, poisson=False)
    early = [plan.next_arrival() for _ in range(10)]  # the first second at 10/s
    plan.multiplier = 2.0
    rest = list(plan)
    assert early[-1] == pytest.approx(0.95)
    assert len(rest) == 181  # the remaining 9.05 s at 20/s


class FakeWorld:
    """A fake clock plus a pool whose journeys take simulated time on a target."""

    def __init__(self, capacity: int, service: Callable[[float], float]) -> None:
        self.now = 0.0
        self.capacity = capacity
        self.service = service  # actual start -> completion time
        self.in_flight: list[float] = []
        self.latencies: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        while self.in_flight and self.in_flight[0] <= self.now:
            heapq.heappop(self.in_flight)

    def free_count(self) -> int:
        return self.capacity - len(self.in_flight)

    def spawn(self, func: Callable[..., object], *args: object) -> None:
        func(*args)

    def journey(self, intended: float, _plan: object) -> None:
        done = self.service(self.now)
        heapq.heappush(self.in_flight, done)
        self.latencies.append(done - intended)


def freezing_target(start: float) -> float:
    """Answers in 1 ms, except that it freezes during the last second of every 5."""
    phase = start % 5.0
    return start + (5.0 - phase if phase >= 4.0 else 0.001)


def run_world(world: FakeWorld, rate: float, duration: float) -> ArrivalScheduler:
    sched = ArrivalScheduler(
        planner(lambda t: rate, duration, poisson=False), world,
        clock=world.clock, sleep=world.sleep,
    )  # fmt: skip
    sched.run(world.journey, lambda: None)
    return sched


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(pct / 100 * len(ordered)))]


def test_a_freezing_target_shows_its_true_tail_and_every_arrival_is_sent() -> None:
    world = FakeWorld(capacity=1000, service=freezing_target)
    sched = run_world(world, rate=200.0, duration=30.0)
    assert sched.counts.planned == sched.counts.sent == 6000 and sched.counts.dropped == 0
    assert percentile(world.latencies, 99) == pytest.approx(0.95, abs=0.01)
    assert percentile(world.latencies, 95) == pytest.approx(0.75, abs=0.01)


def test_arrivals_that_find_no_free_slot_are_dropped_and_counted() -> None:
    world = FakeWorld(capacity=50, service=freezing_target)
    sched = run_world(world, rate=200.0, duration=10.0)
    counts = sched.counts
    assert counts.planned == 2000
    assert counts.sent + counts.dropped == counts.planned
    # Each 1 s freeze takes 200 arrivals; 50 slots hold, 150 are dropped, twice.
    assert counts.dropped == pytest.approx(300, abs=4)


def test_a_late_scheduler_charges_its_lateness_to_the_request() -> None:
    world = FakeWorld(capacity=10, service=lambda start: start + 0.001)
    original_sleep = world.sleep

    def oversleep(seconds: float) -> None:  # every wake-up is 20 ms late
        original_sleep(seconds + 0.020)

    sched = ArrivalScheduler(
        planner(lambda t: 10.0, 1.0, poisson=False), world, clock=world.clock, sleep=oversleep
    )
    sched.run(world.journey, lambda: None)
    assert min(world.latencies) >= 0.020
    assert sched.counts.max_late_s >= 0.020


def test_stopping_ends_the_schedule_early() -> None:
    world = FakeWorld(capacity=10, service=lambda start: start)
    sched = ArrivalScheduler(
        planner(lambda t: 10.0, 10.0, poisson=False), world,
        clock=world.clock, sleep=world.sleep, stopped=lambda: world.now > 2.0,
    )  # fmt: skip
    sched.run(world.journey, lambda: None)
    assert sched.counts.planned == 20
