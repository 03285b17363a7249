"""``peakops deploy``: flags, exit codes and output, against a fake rehearsal.

``FakeControl`` (tests/cli/test_rollback_local_cli.py) stands in for the rehearsal's
control API on 127.0.0.1 until ``rehearsal/control.py`` serves the real one. Exit
codes: 0 deployed, 2 a bad flag or no running rehearsal, 3 it does not answer, 5 the
rollout failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli import app
from collectors.rundir import RunDir
from slo.runfiles import CONTROL_FILE
from tests.cli.test_rollback_local_cli import RUN_ID, FakeControl, closed_port_url


@pytest.fixture
def control(tmp_path: Path) -> Iterator[FakeControl]:
    with FakeControl(RunDir.create(tmp_path, RUN_ID, plan={}, git_sha=None)) as fake:
        yield fake


def deploy(*args: str) -> Result:
    return CliRunner().invoke(app, ["deploy", *args], env={"COLUMNS": "200"})


def test_a_deploy_rolls_the_version_out_through_the_control_api(control: FakeControl) -> None:
    result = deploy("--run-dir", str(control.run.path), "--oms-version", "v1",
                    "--reason", "rehearse the rollback")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"deployed v1 to the local platform of run {RUN_ID}" in result.output
    assert control.posts("/deploy") == [
        {"version": "v1", "reason": "rehearse the rollback", "source": "cli"}]  # fmt: skip


def test_a_deploy_reports_json(control: FakeControl) -> None:
    result = deploy("--run-dir", str(control.run.path), "--oms-version", "v1", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["run_id"], report["version"], report["to_revision"]) == (RUN_ID, "v1", "v1")
    assert report["from_revision"] == "v2"


@pytest.mark.parametrize(
    "version", ["v3", "V2", "2", ""], ids=["v3", "upper case", "no v", "empty"]
)
def test_an_unknown_version_exits_2_naming_flag_and_value(
    control: FakeControl, version: str
) -> None:
    result = deploy("--run-dir", str(control.run.path), "--oms-version", version)
    assert result.exit_code == 2, result.output
    assert f"--oms-version: unknown version {version!r}" in result.output
    assert "v1, v2" in result.output
    assert control.requests == []


def test_no_run_dir_flag_exits_2() -> None:
    result = deploy("--oms-version", "v2")
    assert result.exit_code == 2, result.output
    assert "Missing option '--run-dir'" in result.output


def test_a_missing_run_dir_exits_2(tmp_path: Path) -> None:
    result = deploy("--run-dir", str(tmp_path / "nope"), "--oms-version", "v2")
    assert result.exit_code == 2, result.output
    assert "no such run directory" in result.output


def test_a_run_without_control_json_exits_2_naming_the_file(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, RUN_ID, plan={}, git_sha=None)
    result = deploy("--run-dir", str(run.path), "--oms-version", "v2")
    assert result.exit_code == 2, result.output
    assert f"{run.path / CONTROL_FILE}: not found" in result.output.replace("\n", "")


def test_a_rehearsal_that_does_not_answer_exits_3(control: FakeControl) -> None:
    control.write_control(closed_port_url())
    result = deploy("--run-dir", str(control.run.path), "--oms-version", "v2")
    assert result.exit_code == 3, result.output
    assert f"the rehearsal of run {RUN_ID} does not answer" in result.output


def test_a_failed_rollout_exits_5(control: FakeControl) -> None:
    control.failure = (500, {"error": "v1 replica 1 never became healthy", "exit_code": 5})
    result = deploy("--run-dir", str(control.run.path), "--oms-version", "v1")
    assert result.exit_code == 5, result.output
    assert "v1 replica 1 never became healthy" in result.output


def test_a_bad_timeout_exits_2(control: FakeControl) -> None:
    result = deploy("--run-dir", str(control.run.path), "--oms-version", "v1", "--timeout", "0s")
    assert result.exit_code == 2, result.output
    assert "--timeout: must be positive" in result.output
