"""The CLI as a user meets it: exit codes and messages, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "command",
    [[], ["rehearse"], ["gate"], ["plan", "validate"], ["oms", "serve"]],
    ids=lambda c: " ".join(c) or "peakops",
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_the_shipped_plan_is_valid() -> None:
    result = runner.invoke(app, ["plan", "validate", str(ROOT / "peak.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_a_bad_plan_exits_2_naming_file_line_and_field(tmp_path: Path) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text((ROOT / "peak.yaml").read_text().replace("baseline: 900", "baseline: fast"))
    result = runner.invoke(app, ["plan", "validate", str(plan)])
    assert result.exit_code == 2
    assert "bad.yaml:" in result.output and "load.baseline" in result.output
    assert "fast" in result.output and "Traceback" not in result.output


def test_plan_validate_json_lists_every_issue(tmp_path: Path) -> None:
    plan = tmp_path / "bad.yaml"
    text = (ROOT / "peak.yaml").read_text()
    plan.write_text(
        text.replace("baseline: 900", "baseline: fast").replace("users: 20", "users: -1")
    )
    result = runner.invoke(app, ["plan", "validate", str(plan), "--output", "json"])
    assert result.exit_code == 2
    issues = json.loads(result.stdout)["issues"]
    assert {i["field"] for i in issues} == {"load.baseline", "load.users"}


def test_a_missing_plan_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rehearse", "--plan", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_a_bad_duration_flag_exits_2_before_anything_starts(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "rehearse",
            "--plan",
            str(ROOT / "peak.yaml"),
            "--duration",
            "soon",
            "--run-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "--duration" in result.output and "soon" in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_oms_version_is_a_usage_error() -> None:
    result = runner.invoke(app, ["rehearse", "--oms-version", "v9"])
    assert result.exit_code == 2


def test_gate_on_a_directory_that_is_not_a_run_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["gate", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a peakops run directory" in result.output
