"""Window sets are data: factors computed from budget shares, every window >= 4 scrapes."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from alerts.durations import format_window, parse_window
from alerts.window_sets import MIN_SAMPLES_PER_WINDOW, WindowSet, load_window_set
from slo.conventions import ALERT_WINDOWS


@pytest.mark.parametrize(
    ("name", "factors"),
    [
        ("google-30d", (14.4, 6.0, 3.0, 1.0)),
        ("google-28d", (13.44, 5.6, 2.8, 0.9333333333)),
        ("rehearsal", (14.4, 6.0, 3.0, 1.0)),
    ],
    ids=["30 days: the workbook's factors", "28 days: lower factors", "rehearsal: same as 30d"],
)
def test_burn_factors_are_budget_share_times_period_over_long_window(
    name: str, factors: tuple[float, ...]
) -> None:
    windows = load_window_set(name)
    assert tuple(p.factor for p in windows.pairs) == factors
    for pair in windows.pairs:
        expected = pair.budget_fraction * windows.period / pair.long_s
        assert pair.factor == pytest.approx(expected, rel=1e-9)


def test_the_google_windows_are_the_workbook_ones() -> None:
    windows = load_window_set("google-30d")
    pairs = [(p.severity, p.speed, p.long, p.short) for p in windows.pairs]
    assert pairs == [
        ("page", "quick", "1h", "5m"),
        ("page", "slow", "6h", "30m"),
        ("ticket", "quick", "1d", "2h"),
        ("ticket", "slow", "3d", "6h"),
    ]
    assert [format_window(w) for w in windows.windows_s] == [
        "5m",
        "30m",
        "1h",
        "2h",
        "6h",
        "1d",
        "3d",
    ]


def test_the_rehearsal_windows_are_the_google_ones_compressed_thirty_times() -> None:
    google, rehearsal = load_window_set("google-30d"), load_window_set("rehearsal")
    assert google.period == 30 * rehearsal.period
    for slow, fast in zip(google.pairs, rehearsal.pairs, strict=True):
        assert (slow.long_s, slow.short_s) == (30 * fast.long_s, 30 * fast.short_s)
    assert [format_window(w) for w in rehearsal.windows_s] == [
        "10s", "1m", "2m", "4m", "12m", "48m", "144m",
    ]  # fmt: skip
    assert (rehearsal.scrape_interval, rehearsal.evaluation_interval) == (1, 1)


@pytest.mark.parametrize("name", ALERT_WINDOWS)
def test_every_window_holds_at_least_four_scrapes(name: str) -> None:
    windows = load_window_set(name)
    assert min(windows.windows_s) >= MIN_SAMPLES_PER_WINDOW * windows.scrape_interval
    assert windows.no_data >= MIN_SAMPLES_PER_WINDOW * windows.scrape_interval


def _set(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "apiVersion": "peakops/v1", "kind": "AlertWindows", "period": "1d",
        "scrapeInterval": "1s", "noData": "30s",
        "page": {"quick": {"budgetFraction": 0.02, "longWindow": "2m", "shortWindow": "10s"},
                 "slow": {"budgetFraction": 0.05, "longWindow": "12m", "shortWindow": "1m"}},
        "ticket": {"quick": {"budgetFraction": 0.1, "longWindow": "48m", "shortWindow": "4m"},
                   "slow": {"budgetFraction": 0.1, "longWindow": "144m", "shortWindow": "12m"}},
        "alertmanager": {"groupWait": "1s", "groupInterval": "5s", "repeatInterval": "1m"},
    }  # fmt: skip
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scrapeInterval": "5s"}, "holds fewer than 4 scrapes of 5s"),
        (
            {
                "page": {
                    "quick": {"budgetFraction": 0.02, "longWindow": "2m", "shortWindow": "2m"},
                    "slow": {"budgetFraction": 0.05, "longWindow": "12m", "shortWindow": "1m"},
                }
            },
            "need shortWindow < longWindow <= period",
        ),
        ({"period": "1h"}, "need shortWindow < longWindow <= period"),
        ({"noData": "2s"}, "noData 2s is shorter than 4s"),
        ({"period": "1.5d"}, "invalid duration '1.5d'"),
    ],
    ids=[
        "a short window of two scrapes",
        "a short window as long as the long one",
        "a long window beyond the period",
        "a no-data window of two scrapes",
        "a fractional duration",
    ],
)
def test_a_broken_window_set_is_refused_with_the_reason(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        WindowSet.model_validate(_set(**changes))


def test_the_shipped_rehearsal_file_is_what_the_test_data_says() -> None:
    assert load_window_set("rehearsal") == WindowSet.model_validate(_set(evaluationInterval="1s"))


def test_an_unknown_window_set_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown alert window set 'google-7d'"):
        load_window_set("google-7d")


@pytest.mark.parametrize(
    ("text", "seconds", "written"),
    [
        ("5m", 300, "5m"),
        ("1h30m", 5400, "90m"),
        ("30d", 2_592_000, "30d"),
        ("144m", 8640, "144m"),
        ("86400s", 86_400, "1d"),
    ],
)
def test_prometheus_durations_read_and_write(text: str, seconds: int, written: str) -> None:
    assert parse_window(text) == seconds
    assert format_window(seconds) == written


@pytest.mark.parametrize("text", ["", "5", "0s", "1w", "5m1h", "-1m", "1.5h"])
def test_bad_prometheus_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_window(text)


def test_window_files_parse_as_plain_yaml_with_comments() -> None:
    from importlib import resources

    for name in ALERT_WINDOWS:
        text = resources.files("alerts").joinpath(f"windows/{name}.yaml").read_text("utf-8")
        assert text.startswith("#") and yaml.safe_load(text)["kind"] == "AlertWindows"
