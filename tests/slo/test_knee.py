"""Finding the breaking point of a stress ramp."""

from __future__ import annotations

from slo.knee import Knee, Window, find_knee


def ramp(values: list[float]) -> list[Window]:
    return [Window(5.0 * i, 600.0 + 300 * i, v) for i, v in enumerate(values)]


def test_the_first_breaching_window_is_the_knee_with_the_last_load_that_held() -> None:
    assert find_knee(ramp([20, 30, 90, 260, 400]), 250) == Knee(15.0, 1500.0, 1200.0)


def test_a_ramp_that_never_breaches_has_no_knee() -> None:
    assert find_knee(ramp([20, 30, 40]), 250) is None


def test_a_breach_in_the_first_window_held_nothing() -> None:
    assert find_knee(ramp([300]), 250) == Knee(0.0, 600.0, None)


def test_equal_to_the_threshold_is_a_breach_like_the_latency_slo() -> None:
    assert find_knee(ramp([100, 250]), 250) == Knee(5.0, 900.0, 600.0)
