"""The peak-day collector's rules, on plain reads: drift beyond the staleness allowance
and convergence lag as a bracket that always holds the true lag."""

from __future__ import annotations

import random

import pytest

from collectors.collect_lag import Lag, LagTracker, Read, default_resolution_s

CELL = ("SKU-1", "loc-1")


def tracker(staleness_s: float = 1.0, resolution_s: float = 10.0) -> LagTracker:
    return LagTracker(("web", "marketplace"), staleness_s=staleness_s, resolution_s=resolution_s)


def at(t: float, value: int, took: float = 0.01) -> Read:
    return Read(t, t + took, value)


class StepTruth:
    """Stock as a step function of time: ``changes`` are (time, new value)."""

    def __init__(self, start: int, changes: list[tuple[float, int]]) -> None:
        self.start, self.changes = start, sorted(changes)

    def __call__(self, t: float) -> int:
        value = self.start
        for when, new in self.changes:
            if when > t:
                break
            value = new
        return value


def simulate(lag_s: float, period_s: float, seed: int) -> list[Lag]:
    """Probe a view lagging exactly ``lag_s`` behind a truth that changes at random
    times, as the collector does (truth, view, truth; each read takes 5 ms and sees the
    value at a random instant within it)."""
    rng = random.Random(seed)
    changes, t, value = [], 0.5, 100
    while t < 60:
        t += rng.uniform(0.05, 3.0)
        value -= rng.randint(1, 3)
        changes.append((t, value))
    truth = StepTruth(100, changes)
    lags: list[Lag] = []
    track = tracker(staleness_s=2.0, resolution_s=1e9)

    def read(t0: float, at_time: float) -> Read:
        return Read(t0, t0 + 0.005, truth(at_time))

    now = 0.0
    while now < 70:
        track.truth(CELL, read(now, now + rng.uniform(0, 0.005)))
        now += 0.005
        seen = now + rng.uniform(0, 0.005)
        lags += track.look("web", CELL, Read(now, now + 0.005, truth(seen - lag_s)))
        now += 0.005
        track.truth(CELL, read(now, now + rng.uniform(0, 0.005)))
        now += period_s
    return lags


@pytest.mark.parametrize("lag_s", [0.0, 0.05, 0.3, 1.5, 4.0])
@pytest.mark.parametrize("period_s", [0.1, 0.8], ids=["probed every 0.1 s", "every 0.8 s"])
def test_every_lag_bracket_holds_the_true_lag(lag_s: float, period_s: float) -> None:
    lags = simulate(lag_s, period_s, seed=int(lag_s * 100 + period_s * 10))
    assert len(lags) > 10
    for lag in lags:
        assert lag.lower <= lag_s + 1e-9 <= lag.upper + 2e-9, lag


def test_a_bracket_wider_than_the_resolution_is_untimed() -> None:
    track = tracker(resolution_s=1.0)
    track.look("web", CELL, at(0.0, 10))
    track.truth(CELL, at(0.0, 10))
    track.truth(CELL, at(5.0, 9))  # changed somewhere in (0, 5]: a 5 s bracket at best
    (lag,) = track.look("web", CELL, at(5.1, 9))
    assert lag == Lag(0.0, pytest.approx(5.11), False)


def test_a_look_shows_a_change_and_every_older_one_but_not_a_newer_one() -> None:
    track = tracker()
    track.look("web", CELL, at(0.0, 10))
    for t, value in ((0.0, 10), (0.2, 9), (0.4, 8), (0.6, 7)):
        track.truth(CELL, at(t, value))
    assert len(track.look("web", CELL, at(0.7, 8))) == 2  # 9 and 8, not 7
    assert track.pending_s("web", 1.0) == pytest.approx(1.0 - 0.61)
    assert len(track.look("web", CELL, at(0.8, 7))) == 1
    assert track.pending_s("web", 1.0) == 0.0


def test_a_channel_that_never_showed_a_cell_does_not_wait_for_it() -> None:
    track = tracker()
    track.look("web", CELL, at(0.0, 10))
    track.truth(CELL, at(0.0, 10))
    track.truth(CELL, at(0.5, 9))
    assert track.pending_s("web", 10.0) > 9
    assert track.pending_s("marketplace", 10.0) == 0.0  # never listed this cell


def test_a_frozen_view_is_pending_for_as_long_as_it_stays_frozen() -> None:
    track = tracker()
    track.look("web", CELL, at(0.0, 10))
    track.truth(CELL, at(0.0, 10))
    track.truth(CELL, at(1.0, 7))
    for t in range(2, 30):
        track.look("web", CELL, at(float(t), 10))
    assert track.pending_s("web", 30.0) == pytest.approx(30.0 - 1.01)


# -- drift beyond the staleness allowance ------------------------------------------


def judged(track: LagTracker, reads: list[Read], view: Read) -> int | None:
    for read in reads:
        track.truth(CELL, read)
    return track.drift("web", CELL, view)


@pytest.mark.parametrize(
    ("truth", "view", "expected"),
    [
        ([at(0.0, 10), at(3.0, 10)], at(2.0, 10), 0),
        ([at(0.0, 10), at(3.0, 7)], at(2.0, 10), 0),  # the truth changed after 0: may be stale
        ([at(0.0, 10), at(1.5, 7), at(3.0, 7)], at(2.4, 10), 0),
        ([at(0.0, 10), at(1.5, 7), at(3.0, 7)], at(2.8, 10), 3),
        ([at(0.0, 10), at(1.0, 7), at(2.5, 7), at(3.0, 7)], at(2.9, 10), 3),  # 7 from 1.01 on
        ([at(0.0, 10), at(1.0, 7), at(2.5, 7), at(3.0, 7)], at(2.9, 12), 5),  # above: invented
        ([at(0.0, 10), at(1.0, 7), at(2.5, 7), at(3.0, 7)], at(2.9, 8), 1),
        ([at(0.0, 10), at(1.0, 7), at(2.5, 5), at(3.0, 5)], at(2.9, 6), 0),  # between 7 and 5
        ([at(2.5, 7), at(3.0, 7)], at(2.9, 10), None),  # no truth read a second before: unjudged
    ],
    ids=[
        "the truth did not move: no drift",
        "the truth moved after the last read a second before the look: within the allowance",
        "the last truth read before the window (10) and the ones in it span the view",
        "a truth read (7) from before the window on: the view is 3 units outside",
        "the truth held 7 for the whole second before the look: 3 units outside",
        "a view above everything the truth held: outside",
        "one unit outside",
        "a value the truth passed through between two reads in the window: within",
        "no truth read from a second before the look: not judged",
    ],
)
def test_drift_counts_only_beyond_the_staleness_allowance(
    truth: list[Read], view: Read, expected: int | None
) -> None:
    assert judged(tracker(staleness_s=1.0), truth, view) == expected


def test_the_worst_drift_is_each_cells_last_judgement() -> None:
    track = tracker(staleness_s=1.0)
    other = ("SKU-2", "loc-1")
    for cell in (CELL, other):
        track.truth(cell, at(0.0, 10))
        track.truth(cell, at(1.5, 6))
    assert track.drift("web", CELL, at(3.0, 10)) == 4
    assert track.drift("web", other, at(3.0, 8)) == 2
    assert track.worst_drift("web") == 4
    track.truth(CELL, at(3.5, 6))
    assert track.drift("web", CELL, at(3.4, 6)) == 0  # caught up
    assert (track.worst_drift("web"), track.worst_drift("marketplace")) == (2, 0)


@pytest.mark.parametrize(
    ("hot", "rest", "rate", "expected"),
    [(10, 190, 10.0, 8.0), (2, 2, 20.0, 2.0), (0, 600, 10.0, 240.0), (40, 0, 10.0, 16.0)],
    ids=["ten hot SKUs at 10/s: each every 2 s", "tiny catalog: at least 2 s",
         "no hot SKUs: the whole catalog's revisit", "only hot SKUs"],
)  # fmt: skip
def test_the_default_resolution_is_four_hot_sku_revisits(
    hot: int, rest: int, rate: float, expected: float
) -> None:
    assert default_resolution_s(hot, rest, rate) == pytest.approx(expected)
