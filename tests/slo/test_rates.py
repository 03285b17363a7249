"""Rate strings for the command line."""

from __future__ import annotations

import pytest

from slo.rates import parse_rate


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("200/s", 200.0), ("900/min", 15.0), ("3600/h", 1.0), ("0.5/s", 0.5), (" 12 / sec ", 12.0)],
)
def test_rates_are_read_per_second(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("200", "invalid rate '200': use a number per unit, e.g. 200/s or 900/min"),
        ("fast/s", "invalid rate 'fast/s'"),
        ("200/day", "invalid rate '200/day'"),
        ("0/s", "invalid rate '0/s': must be more than zero"),
    ],
    ids=["a bare number", "not a number", "an unknown unit", "zero"],
)
def test_bad_rates_name_the_value(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("/", "/")):
        parse_rate(text)
