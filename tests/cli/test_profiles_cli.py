"""`peakops profiles list|show` as a user meets them: tables, charts, JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from slo.conventions import PROFILES

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
PLAN = str(ROOT / "peak.yaml")


@pytest.mark.parametrize(
    "command",
    [["profiles"], ["profiles", "list"], ["profiles", "show"]],
    ids=lambda c: " ".join(c),
)
def test_every_profiles_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_list_shows_every_profile_with_its_natural_length() -> None:
    result = runner.invoke(app, ["profiles", "list"])
    assert result.exit_code == 0, result.output
    for name in PROFILES:
        assert name in result.output
    assert "24h" in result.output and "1h" in result.output and "the run" in result.output


def test_list_json_is_one_object_per_profile() -> None:
    result = runner.invoke(app, ["profiles", "list", "--output", "json"])
    assert result.exit_code == 0, result.output
    presets = json.loads(result.stdout)
    assert [p["name"] for p in presets] == list(PROFILES)
    lengths = {p["name"]: p["natural_length_s"] for p in presets}
    assert (lengths["bfcm"], lengths["flash_sale"], lengths["soak"]) == (86400.0, 3600.0, None)
    assert all(p["description"] for p in presets)


def test_show_draws_the_chart_with_the_plans_numbers() -> None:
    result = runner.invoke(app, ["profiles", "show", "bfcm", "--plan", PLAN])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("bfcm: Black-Friday day")
    assert "orders/min" in lines[1]
    assert lines[2].startswith("   2,700 ┤")  # peak.yaml: baseline 900 x peakMultiplier 3
    assert lines[-2].split() == ["0s", "30s", "60s"]
    assert lines[-1].startswith("peak 2,700 orders/min at 51.2s")
    assert "24h curve at 1440x" in lines[-1]


def test_flags_override_the_plans_duration_baseline_and_peak() -> None:
    args = ["profiles", "show", "stress", "--plan", PLAN, "--duration", "10m"]
    result = runner.invoke(app, [*args, "--baseline", "100", "--peak", "400"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].startswith("     400 ┤")
    assert lines[-2].split() == ["0s", "5m", "10m"]
    assert lines[-1] == "peak 400 orders/min at 10m, mean 250 orders/min, 2,500 orders in 10m"


def test_show_json_samples_the_curve_every_second_with_totals() -> None:
    args = ["profiles", "show", "flash_sale", "--plan", PLAN, "--output", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    samples = data["samples"]
    assert [s["t"] for s in samples] == [float(t) for t in range(61)]
    assert samples[10]["orders_per_min"] == 900.0 and samples[20]["orders_per_min"] == 2700.0
    assert data["totals"]["expected_orders"] == pytest.approx(1740.0)
    assert (data["name"], data["hot_skus"], data["hot_window_s"]) == ("flash_sale", 5, [15, 35])


def test_show_does_not_need_the_plans_own_profile(tmp_path: Path) -> None:
    plan = tmp_path / "soak.yaml"
    plan.write_text(Path(PLAN).read_text().replace("profile: bfcm", "profile: soak"))
    result = runner.invoke(app, ["profiles", "show", "flash_sale", "--plan", str(plan)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("flash_sale:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["bfcm2"],
            "unknown profile 'bfcm2' (expected one of: constant, bfcm, flash_sale, soak, stress)",
            id="an unknown profile lists the known ones",
        ),
        pytest.param(
            ["bfcm", "--baseline", "5000", "--peak", "100"],
            "overrides: load.peak: peak (100) must not be below baseline (5000)",
            id="a peak below the baseline is refused",
        ),
        pytest.param(
            ["bfcm", "--baseline", "0"],
            "overrides: load.baseline: expected a number > 0, got 0",
            id="a baseline of zero is refused",
        ),
        pytest.param(
            ["bfcm", "--duration", "soon"],
            "--duration: invalid duration 'soon'",
            id="a bad duration flag is refused",
        ),
    ],
)
def test_a_bad_show_request_is_a_one_line_error_with_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["profiles", "show", *args, "--plan", PLAN])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_unknown_profile_is_refused_before_the_plan_is_read(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    result = runner.invoke(app, ["profiles", "show", "nope", "--plan", missing])
    assert result.exit_code == 2
    assert "unknown profile 'nope'" in result.output


def test_a_missing_plan_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["profiles", "show", "bfcm", "--plan", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_plan_validate_summarises_the_load_model() -> None:
    result = runner.invoke(app, ["plan", "validate", PLAN])
    assert result.exit_code == 0, result.output
    expected = "ok (12 SLOs, bfcm profile, 60 s, 900→2700 orders/min, open model)"
    assert expected in result.output
