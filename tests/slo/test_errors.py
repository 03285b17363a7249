"""The exception tree: each error maps to its exit code; plan errors list their issues."""

from __future__ import annotations

import pytest

from slo.errors import (
    InfraError,
    PeakopsError,
    PlanError,
    PlanIssue,
    RevertError,
    RunDirError,
    UsageError,
)
from slo.exitcodes import ExitCode


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PlanError.single("peak.yaml", "no such file"), ExitCode.USAGE),
        (UsageError("unknown flag --fast"), ExitCode.USAGE),
        (RunDirError("runs/x: no run.json"), ExitCode.USAGE),
        (InfraError("target unreachable"), ExitCode.INFRA),
        (RevertError("fault still active"), ExitCode.REVERT_FAILED),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_every_error_knows_its_exit_code(error: PeakopsError, code: ExitCode) -> None:
    assert isinstance(error, PeakopsError)
    assert error.exit_code == code


@pytest.mark.parametrize(
    ("issue", "text"),
    [
        (PlanIssue("p.yaml", 3, "load.baseline", "'x'", "bad"), "p.yaml:3: load.baseline: bad"),
        (PlanIssue("p.yaml", None, "load.baseline", None, "bad"), "p.yaml: load.baseline: bad"),
        (PlanIssue("p.yaml", None, "", None, "no such file"), "p.yaml: no such file"),
        (PlanIssue("p.yaml", 4, "", None, "invalid YAML", column=7), "p.yaml:4:7: invalid YAML"),
    ],
    ids=["file line and field", "no line", "no field", "line and column"],
)
def test_an_issue_reads_like_a_compiler_message(issue: PlanIssue, text: str) -> None:
    assert str(issue) == text


def test_a_plan_error_lists_every_issue_on_its_own_line() -> None:
    issues = [
        PlanIssue("p.yaml", 1, "a", None, "first"),
        PlanIssue("p.yaml", 2, "b", None, "second"),
    ]
    error = PlanError(issues)
    assert error.issues == tuple(issues)
    assert str(error) == "p.yaml:1: a: first\np.yaml:2: b: second"


def test_a_plan_error_needs_an_issue() -> None:
    with pytest.raises(ValueError):
        PlanError([])
