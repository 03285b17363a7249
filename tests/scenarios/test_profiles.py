"""Traffic profiles as pure functions of rehearsal time, the shipped presets, and the chart."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from scenarios.profile_chart import profile_samples, profile_to_dict, render_chart
from scenarios.profiles import (
    Preset,
    Profile,
    build_profile,
    list_presets,
    load_preset,
    resolve_compression,
)
from slo.conventions import PROFILES
from slo.plan import Load

DAY = 24 * 3600.0

# A small made-up curve over a 100 s natural length: ramp, plateau, step down, decay.
TOY = Preset(
    name="toy",
    description="a toy curve",
    natural_length_s=100.0,
    points=((0.0, 0.0), (0.2, 1.0), (0.5, 1.0), (0.5, 0.4), (1.0, 0.0)),
    hot_skus=3,
    hot_share=0.7,
    hot_window=(0.2, 0.5),
)


def toy(duration_s: float = 100.0, compression: float = 1.0) -> Profile:
    return Profile(TOY, 600.0, 1800.0, duration_s, compression)


def plan_profile(profile: str, **fields: object) -> Profile:
    load = Load(profile=profile, duration_s=60, baseline_per_min=900, **fields)  # type: ignore[arg-type]
    return build_profile(load)


def numeric_orders(profile: Profile, t0: float, t1: float, steps: int = 200_000) -> float:
    """A fine midpoint sum of the rate; windows put steps of the curve on its grid."""
    h = (t1 - t0) / steps
    return sum(profile.rate(t0 + (i + 0.5) * h) for i in range(steps)) * h


@pytest.mark.parametrize(
    ("t", "level"),
    [
        pytest.param(0.0, 0.0, id="the curve starts at its first point"),
        pytest.param(10.0, 0.5, id="halfway up the ramp the level is half"),
        pytest.param(20.0, 1.0, id="the top of the ramp is the peak"),
        pytest.param(35.0, 1.0, id="the plateau holds the peak"),
        pytest.param(49.999, 1.0, id="just before a step the level is the old one"),
        pytest.param(50.0, 0.4, id="at a step the level is the new one"),
        pytest.param(75.0, 0.2, id="the decay is linear between points"),
        pytest.param(100.0, 0.0, id="the curve ends at its last point"),
        pytest.param(-5.0, 0.0, id="before the run the level is clamped to the start"),
        pytest.param(250.0, 0.0, id="after the run the level is clamped to the end"),
    ],
)
def test_the_level_interpolates_the_preset_points(t: float, level: float) -> None:
    assert toy().level(t) == pytest.approx(level)


@pytest.mark.parametrize(
    ("t", "orders_per_min"),
    [
        pytest.param(0.0, 600.0, id="level 0 is the baseline"),
        pytest.param(20.0, 1800.0, id="level 1 is the peak"),
        pytest.param(10.0, 1200.0, id="level one half is halfway between"),
    ],
)
def test_orders_per_minute_map_the_level_between_baseline_and_peak(
    t: float, orders_per_min: float
) -> None:
    profile = toy()
    assert profile.orders_per_min(t) == pytest.approx(orders_per_min)
    assert profile.rate(t) == pytest.approx(orders_per_min / 60)


@pytest.mark.parametrize(
    ("compression", "t", "level"),
    [
        pytest.param(2.0, 10.0, 1.0, id="twice compressed the peak comes twice as early"),
        pytest.param(2.0, 25.0, 0.4, id="twice compressed the step comes at 25 s"),
        pytest.param(2.0, 80.0, 0.0, id="past the end of the curve the last level holds"),
        pytest.param(0.5, 40.0, 1.0, id="stretched the run ends before the curve does"),
        pytest.param(0.5, 100.0, 0.4, id="stretched the run ends at the curve's midpoint"),
    ],
)
def test_compression_maps_rehearsal_time_to_natural_time(
    compression: float, t: float, level: float
) -> None:
    assert toy(compression=compression).level(t) == pytest.approx(level)


@pytest.mark.parametrize(
    ("profile", "given", "expected"),
    [
        pytest.param("bfcm", None, 1440.0, id="none fits the 24 h day into the 60 s run"),
        pytest.param("bfcm", 720.0, 720.0, id="a given compression is kept"),
        pytest.param("flash_sale", None, 60.0, id="none fits the one-hour sale into the run"),
        pytest.param("stress", 5.0, 1.0, id="a profile without a natural length ignores it"),
    ],
)
def test_the_compression_is_resolved_from_the_plan(
    profile: str, given: float | None, expected: float
) -> None:
    assert plan_profile(profile, compression=given).compression == expected
    assert resolve_compression(load_preset(profile), 60.0, given) == expected


def test_with_the_resolved_compression_the_bfcm_day_spans_the_run() -> None:
    profile = plan_profile("bfcm")
    evening = 20.5 / 24 * 60  # the evening peak, 20:30 of the day
    assert profile.orders_per_min(evening) == pytest.approx(2700.0)
    assert profile.level(60.0) == pytest.approx(load_preset("bfcm").points[-1][1])


@pytest.mark.parametrize(
    ("profile", "t0", "t1"),
    [
        pytest.param(toy(), 0.0, 100.0, id="the whole toy run"),
        pytest.param(toy(), 12.5, 62.5, id="a window that cuts through the toy's step"),
        pytest.param(toy(compression=2.0), 0.0, 100.0, id="a compressed toy that ends early"),
        pytest.param(toy(), -10.0, 110.0, id="a window wider than the run (clamped rate)"),
        pytest.param(plan_profile("bfcm"), 0.0, 60.0, id="the shipped black-friday day"),
        pytest.param(plan_profile("bfcm"), 3.3, 47.9, id="an unaligned window of the day"),
        pytest.param(plan_profile("flash_sale"), 5.0, 45.0, id="the shipped flash sale"),
        pytest.param(plan_profile("stress"), 0.0, 60.0, id="the shipped stress ramp"),
    ],
)
def test_expected_orders_is_the_exact_integral_of_the_rate(
    profile: Profile, t0: float, t1: float
) -> None:
    exact = profile.expected_orders(t0, t1)
    assert exact == pytest.approx(numeric_orders(profile, t0, t1), rel=1e-6)


def test_expected_orders_of_simple_shapes_are_known_in_closed_form() -> None:
    assert plan_profile("constant").expected_orders(0, 60) == pytest.approx(900.0)
    assert plan_profile("stress").expected_orders(0, 60) == pytest.approx(1800.0)
    assert toy().expected_orders(30, 30) == 0.0
    assert toy().expected_orders(60, 40) == pytest.approx(-toy().expected_orders(40, 60))


def test_expected_orders_add_up_over_adjacent_windows() -> None:
    profile = plan_profile("bfcm")
    pieces = sum(profile.expected_orders(s, s + 1) for s in range(60))
    assert pieces == pytest.approx(profile.expected_orders(0, 60), rel=1e-12)


@pytest.mark.parametrize(
    ("t", "share"),
    [
        pytest.param(10.0, 0.0, id="before the hot window no share"),
        pytest.param(20.0, 0.7, id="the window starts inclusive"),
        pytest.param(35.0, 0.7, id="inside the window the preset share"),
        pytest.param(50.0, 0.0, id="the window ends exclusive"),
        pytest.param(90.0, 0.0, id="after the window no share"),
    ],
)
def test_the_hot_share_applies_only_inside_the_hot_window(t: float, share: float) -> None:
    assert toy().hot_share(t) == share


def test_the_flash_sale_hot_skus_are_hot_during_the_sale_only() -> None:
    profile = plan_profile("flash_sale")  # 1 h in 60 s: the sale is minutes 15-35
    assert profile.preset.hot_skus == 5
    window = profile.hot_window_s()
    assert window is not None and window == pytest.approx((15.0, 35.0))
    assert [profile.hot_share(t) for t in (10, 15, 30, 35, 50)] == [0, 0.8, 0.8, 0, 0]
    assert all(plan_profile(name).hot_share(30) == 0 for name in ("bfcm", "soak", "stress"))


def test_every_plan_profile_name_has_a_shipped_preset() -> None:
    assert [preset.name for preset in list_presets()] == list(PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_every_shipped_preset_loads_and_stays_within_baseline_and_peak(name: str) -> None:
    preset = load_preset(name)
    assert preset.description and "\n" not in preset.description
    assert all(0.0 <= level <= 1.0 for _, level in preset.points)
    assert preset.points[0][0] == 0.0 and preset.points[-1][0] == pytest.approx(1.0)
    profile = plan_profile(name)
    for sample in profile_samples(profile, step_s=0.25):
        assert 900.0 <= sample["orders_per_min"] <= 2700.0


@pytest.mark.parametrize(
    ("name", "natural_length_s"),
    [("bfcm", DAY), ("flash_sale", 3600.0), ("soak", None), ("stress", None), ("constant", None)],
)
def test_presets_have_their_documented_natural_length(
    name: str, natural_length_s: float | None
) -> None:
    assert load_preset(name).natural_length_s == natural_length_s


def test_the_bfcm_day_has_its_spike_dip_ramp_and_evening_peak() -> None:
    level = plan_profile("bfcm", compression=DAY / 24).level  # one rehearsal second per hour
    assert level(0.25) > level(0) and level(0.25) > level(2)  # midnight doors-open spike
    assert level(5) == min(level(h / 4) for h in range(96))  # overnight dip
    assert level(5) < level(10) < level(13)  # morning ramp
    assert level(20.5) == 1.0 == max(level(h / 4) for h in range(96))  # evening peak


def test_the_stress_ramp_never_goes_down() -> None:
    samples = [s["orders_per_min"] for s in profile_samples(plan_profile("stress"), 0.5)]
    assert samples == sorted(samples)
    assert (samples[0], samples[-1]) == (900.0, 2700.0)


@pytest.mark.parametrize("name", ["soak", "constant"])
def test_flat_profiles_stay_at_the_baseline(name: str) -> None:
    samples = {s["orders_per_min"] for s in profile_samples(plan_profile(name, peak=5000))}
    assert samples == {900.0}


def test_an_unknown_preset_is_a_value_error_listing_the_names() -> None:
    with pytest.raises(ValueError) as caught:
        load_preset("bfcm2")
    expected = "unknown profile 'bfcm2' (expected one of: constant, bfcm, flash_sale, soak, stress)"
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"baseline_per_min": 0.0}, "baseline must be > 0", id="zero baseline"),
        pytest.param({"peak_per_min": 100.0}, "must not be below baseline", id="peak too low"),
        pytest.param({"duration_s": 0.0}, "duration must be > 0", id="an empty run"),
        pytest.param({"compression": -1.0}, "compression must be > 0", id="negative compression"),
    ],
)
def test_a_profile_refuses_impossible_numbers(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(toy(), **fields)  # type: ignore[arg-type]


def test_profiles_and_presets_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        toy().duration_s = 5  # type: ignore[misc]


@pytest.mark.integration  # a fresh interpreter: this one may have imported Locust already
def test_the_profile_modules_do_not_import_locust() -> None:
    code = (
        "import sys, scenarios.profiles, scenarios.profile_chart, scenarios.controller; "
        "sys.exit('locust' in sys.modules or 'gevent' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_chart_has_the_requested_size_axes_and_summary() -> None:
    lines = render_chart(plan_profile("stress"), width=40, height=8).splitlines()
    assert lines[0].strip() == "orders/min"
    plot = lines[1:9]
    assert plot[0].startswith("   2,700 ┤") and plot[-1].startswith("     338 ┤")
    assert all(len(line.split("┤")[1]) <= 40 for line in plot)
    assert lines[9] == "       0 └" + "─" * 40
    assert lines[10].split() == ["0s", "30s", "60s"]
    assert lines[11] == "peak 2,700 orders/min at 60s, mean 1,800 orders/min, 1,800 orders in 60s"


def test_the_chart_draws_the_mean_of_each_column_in_eighths() -> None:
    plot = render_chart(plan_profile("constant"), width=10, height=3).splitlines()[1:4]
    # 900 of a 2700 top on three rows: exactly the bottom row, nothing above it
    assert [line.split("┤")[1] for line in plot] == ["", "", "█" * 10]


def test_the_chart_summary_names_compression_and_hot_skus() -> None:
    summary = render_chart(plan_profile("flash_sale")).splitlines()[-1]
    assert "1h curve at 60x" in summary
    assert "5 hot SKUs take 80% of orders 15s-35s" in summary


def test_the_chart_refuses_a_size_too_small_to_read() -> None:
    with pytest.raises(ValueError, match="at least 8 x 2"):
        render_chart(toy(), width=4)


def test_the_json_form_samples_every_second_and_carries_the_totals() -> None:
    data = profile_to_dict(plan_profile("bfcm"))
    assert [s["t"] for s in data["samples"]] == [float(t) for t in range(61)]
    assert data["samples"][0] == {"t": 0.0, "orders_per_min": pytest.approx(1530.0)}
    totals = data["totals"]
    assert totals["expected_orders"] == pytest.approx(plan_profile("bfcm").expected_orders(0, 60))
    assert totals["mean_per_min"] == pytest.approx(totals["expected_orders"])  # a 1-minute run
    assert (totals["max_per_min"], totals["max_at_s"]) == (2700.0, pytest.approx(51.25))
    assert (data["name"], data["compression"], data["natural_length_s"]) == ("bfcm", 1440.0, DAY)
