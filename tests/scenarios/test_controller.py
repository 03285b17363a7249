"""The orders-per-minute controller, driven against simulated plants."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from scenarios.controller import OrdersPerMinuteController

BASE_PER_MIN = 900.0  # arrivals per minute the profile asks for, before the multiplier
WINDOW_S = 10.0


Plant = Callable[[float], int]
"""Confirmed orders in one window, given the multiplier applied to the arrivals."""


def steady_plant(share: float) -> Plant:
    """Confirms ``share`` of the arrivals of a window, exactly (rounded to whole orders)."""

    def confirmed(multiplier: float) -> int:
        return round(BASE_PER_MIN * multiplier * WINDOW_S / 60 * share)

    return confirmed


def drive(controller: OrdersPerMinuteController, plant: Plant, steps: int) -> list[float]:
    multipliers = []
    for _ in range(steps):
        multipliers.append(controller.update(plant(controller.multiplier), WINDOW_S))
    return multipliers


def confirmed_per_min(share: float, multiplier: float) -> float:
    return BASE_PER_MIN * multiplier * share


@pytest.mark.parametrize(
    ("share", "target"),
    [
        pytest.param(0.6, 1200.0, id="60 % of arrivals confirm and the target needs more load"),
        pytest.param(0.6, 300.0, id="60 % of arrivals confirm and the target needs less load"),
        pytest.param(0.95, 900.0, id="nearly every arrival confirms"),
        pytest.param(0.2, 1500.0, id="few arrivals confirm and the target needs 8x the load"),
    ],
)
def test_it_converges_to_the_target_within_twelve_windows(share: float, target: float) -> None:
    controller = OrdersPerMinuteController(target)
    multipliers = drive(controller, steady_plant(share), steps=40)
    needed = target / (BASE_PER_MIN * share)
    first_close = next(
        k
        for k, m in enumerate(multipliers)
        if all(abs(x / needed - 1) < 0.02 for x in multipliers[k:])
    )
    assert first_close < 12
    assert confirmed_per_min(share, multipliers[-1]) == pytest.approx(target, rel=0.01)


def test_the_error_shrinks_geometrically_without_sustained_oscillation() -> None:
    controller = OrdersPerMinuteController(1200.0)
    plant = steady_plant(0.6)
    errors = []
    for _ in range(15):
        observed = plant(controller.multiplier) * 60 / WINDOW_S
        errors.append(abs(math.log(1200.0 / observed)))
        controller.update(plant(controller.multiplier), WINDOW_S)
    assert errors[8] < errors[0] * 0.05
    assert max(errors[4:]) < errors[0] * 0.3


@pytest.mark.parametrize(
    ("share", "target", "bound"),
    [
        pytest.param(0.05, 5000.0, 10.0, id="an unreachable target parks at the maximum"),
        pytest.param(0.9, 10.0, 0.1, id="a tiny target parks at the minimum"),
        pytest.param(0.0, 900.0, 10.0, id="nothing confirms at all (the OMS is down)"),
    ],
)
def test_it_never_leaves_its_bounds(share: float, target: float, bound: float) -> None:
    controller = OrdersPerMinuteController(target)
    multipliers = drive(controller, steady_plant(share), steps=60)
    assert all(0.1 <= m <= 10.0 for m in multipliers)
    assert multipliers[-1] == pytest.approx(bound)


def test_it_leaves_a_bound_as_soon_as_the_target_becomes_reachable() -> None:
    controller = OrdersPerMinuteController(1200.0)
    drive(controller, steady_plant(0.0), steps=30)  # outage: winds up to the maximum
    assert controller.multiplier == pytest.approx(10.0)
    multipliers = drive(controller, steady_plant(0.6), steps=15)  # recovered
    assert multipliers[-1] == pytest.approx(1200.0 / (BASE_PER_MIN * 0.6), rel=0.02)


def test_a_noisy_poisson_plant_stays_bounded_and_near_the_target_on_average() -> None:
    rng = random.Random(7)

    def noisy(multiplier: float) -> int:
        arrivals = BASE_PER_MIN * multiplier * WINDOW_S / 60
        # Poisson arrivals (normal approximation), each confirming with probability 0.6
        drawn = max(0, round(rng.gauss(arrivals, math.sqrt(arrivals))))
        return sum(rng.random() < 0.6 for _ in range(drawn))

    controller = OrdersPerMinuteController(1200.0, gain=0.3)
    multipliers = drive(controller, noisy, steps=200)
    assert all(0.1 <= m <= 10.0 for m in multipliers)
    tail = multipliers[50:]
    mean_confirmed = sum(confirmed_per_min(0.6, m) for m in tail) / len(tail)
    assert mean_confirmed == pytest.approx(1200.0, rel=0.05)


def test_custom_bounds_are_honoured() -> None:
    controller = OrdersPerMinuteController(5000.0, min_multiplier=0.5, max_multiplier=2.0)
    assert drive(controller, steady_plant(0.6), steps=30)[-1] == pytest.approx(2.0)


def test_the_first_multiplier_is_one() -> None:
    assert OrdersPerMinuteController(100.0).multiplier == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"target_per_min": 0.0}, "target must be > 0", id="a zero target"),
        pytest.param({"target_per_min": 10.0, "gain": 1.0}, "gain must be in", id="gain of one"),
        pytest.param({"target_per_min": 10.0, "gain": 0.0}, "gain must be in", id="gain of zero"),
        pytest.param(
            {"target_per_min": 10.0, "min_multiplier": 2.0},
            "bounds must satisfy",
            id="a minimum above one",
        ),
        pytest.param(
            {"target_per_min": 10.0, "max_multiplier": 0.5},
            "bounds must satisfy",
            id="a maximum below one",
        ),
    ],
)
def test_impossible_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OrdersPerMinuteController(**kwargs)


@pytest.mark.parametrize(
    ("confirmed", "window_s", "message"),
    [
        pytest.param(-1, 10.0, "confirmed orders must be >= 0", id="negative confirmations"),
        pytest.param(5, 0.0, "window must be > 0", id="an empty window"),
    ],
)
def test_impossible_measurements_are_refused(confirmed: int, window_s: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OrdersPerMinuteController(100.0).update(confirmed, window_s)
