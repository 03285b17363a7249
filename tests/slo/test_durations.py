"""Duration strings: parsing, clear errors, and formatting that reads back exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slo.durations import format_duration, format_duration_ms, parse_duration, parse_duration_ms


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("60s", 60.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("2h", 7200.0),
        ("1m30s", 90.0),
        ("0s", 0.0),
        (" 10s ", 10.0),
    ],
    ids=lambda value: repr(value),
)
def test_a_duration_string_is_parsed_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_duration_can_be_read_as_milliseconds() -> None:
    assert parse_duration_ms("1.5s") == 1500.0
    assert parse_duration_ms("250.5ms") == 250.5


@pytest.mark.parametrize(
    "text",
    ["25Oms", "", "5", "s", "-1s", "1 s", "1s2h", "1s1s", "1e3s", "5 minutes", "1d"],
    ids=lambda value: f"{value!r} is refused",
)
def test_a_bad_duration_names_the_value_and_shows_examples(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value) == (
        f"invalid duration {text!r}: use a number and a unit, e.g. 250ms, 30s, 5m"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (1.5, "1.5s"), (90, "1m30s"), (5400, "1h30m"), (3600, "1h")],
    ids=lambda value: repr(value),
)
def test_format_duration_writes_the_shortest_readable_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_refuses_what_no_duration_string_can_express() -> None:
    with pytest.raises(ValueError, match="finite number >= 0"):
        format_duration(-1)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_formatted_seconds_parse_back_exactly(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_formatted_milliseconds_parse_back_exactly(millis: float) -> None:
    assert parse_duration_ms(format_duration_ms(millis)) == millis
