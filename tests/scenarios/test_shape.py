"""When an open-model load ends (``open_load_over``, what ``PeakShape`` asks each tick).

At most ``DRAIN_S`` after the duration for journeys in flight, and sooner once every
arrival was sent and answered. (A Locust master cannot see its workers' pools: it
passes ``drained=False`` and always waits the ``DRAIN_S``.)
"""

from __future__ import annotations

import pytest

from scenarios.arrivals import DRAIN_S, open_load_over

DURATION_S = 60.0


@pytest.mark.parametrize("elapsed", [0.0, DURATION_S - 1, DURATION_S + DRAIN_S - 0.1])
def test_the_load_runs_while_arrivals_are_due_or_in_flight(elapsed: float) -> None:
    assert not open_load_over(elapsed, DURATION_S, drained=False)


def test_the_load_ends_once_its_arrivals_are_answered_after_the_duration() -> None:
    assert open_load_over(DURATION_S + 0.5, DURATION_S, drained=True)


def test_an_early_drain_does_not_cut_the_duration_short() -> None:
    assert not open_load_over(DURATION_S - 1, DURATION_S, drained=True)


def test_journeys_still_in_flight_get_drain_s_at_most() -> None:
    assert open_load_over(DURATION_S + DRAIN_S + 0.1, DURATION_S, drained=False)
