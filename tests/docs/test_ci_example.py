"""docs/examples/github-actions.yml, run here: its ``run:`` commands, in order, with its
``if:`` conditions, against the embedded reference OMS instead of staging.

What only GitHub has is done by the test: ``uses:`` steps (checkout, artifacts, the JUnit
reporter) are skipped, peakops is already installed in this virtualenv, and the
baseline artefact of the last good run is a first rehearsal's run directory. The
staging plan is swapped for docs/plans/release-gate-local.yaml through ``PEAKOPS_PLAN``,
as docs/ci.md tells a reader trying it on a laptop.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from slo.loader import load_plan

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "examples" / "github-actions.yml"
LOCAL_PLAN = ROOT / "docs" / "plans" / "release-gate-local.yaml"
DONE_BY_THE_TEST = {"install", "fetch-baseline"}
DURATION = "8s"  # three rehearsals: well under a minute of load in all


def workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def steps() -> list[dict[str, Any]]:
    jobs = workflow()["jobs"]
    assert list(jobs) == ["release-gate"]
    found: list[dict[str, Any]] = jobs["release-gate"]["steps"]
    return found


@dataclass
class Job:
    """One run of the workflow's job on this machine."""

    work: Path
    env: dict[str, str]
    failed: bool = False
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    ran: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def lookup(self, name: str) -> str:
        parts = name.split(".")
        if parts[0] == "steps" and parts[2] == "outputs":
            return self.outputs.get(parts[1], {}).get(parts[3], "")
        if name == "github.ref":
            return self.env["GITHUB_REF"]
        raise AssertionError(f"the test does not know the expression {name!r}")

    def condition(self, expression: str | None) -> bool:
        if expression is None:
            return not self.failed
        return all(self._term(term.strip()) for term in expression.split("&&"))

    def _term(self, term: str) -> bool:
        calls = {"always()": True, "failure()": self.failed, "success()": not self.failed}
        if term in calls:
            return calls[term]
        match = re.fullmatch(r"([\w.-]+) == '([^']*)'", term)
        assert match is not None, f"the test does not know the condition {term!r}"
        return self.lookup(match.group(1)) == match.group(2)

    def run(self, step: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        output = self.work / f".output-{step['id']}"
        output.write_text("")
        env = {**self.env, "GITHUB_OUTPUT": str(output)}
        for key, value in (step.get("env") or {}).items():
            env[key] = re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: self.lookup(m.group(1)),
                              str(value))  # fmt: skip
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=self.work, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        lines = output.read_text().splitlines()
        self.outputs[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
        self.ran[step["id"]] = done
        self.failed = self.failed or done.returncode != 0
        return done

    def run_all(self) -> None:
        for step in steps():
            if "uses" in step or step.get("id") in DONE_BY_THE_TEST:
                continue
            if self.condition(step.get("if")):
                self.run(step)


def environment(tmp_path: Path, plan: Path) -> dict[str, str]:
    env = {**os.environ, **{k: str(v) for k, v in workflow()["env"].items()}}
    env.update({
        "PEAKOPS_PLAN": str(plan), "PEAKOPS_DURATION": DURATION,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "GITHUB_REF": "refs/heads/main", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        # No cluster here: the rollback step's API is a closed loopback port (exit 3).
        "PEAKOPS_KUBE_HOST": "http://127.0.0.1:9",
    })  # fmt: skip
    return env


def job_in(directory: Path, plan: Path) -> Job:
    directory.mkdir()
    return Job(directory, environment(directory, plan))


def test_the_workflow_rehearses_gates_against_the_baseline_uploads_and_rolls_back() -> None:
    order = [step.get("id") or step.get("name") for step in steps()]
    assert order.index("fetch-baseline") < order.index("rehearse") < order.index("gate")
    assert order.index("gate") < order.index("Upload the run directory and its report")
    assert order.index("Upload the run directory and its report") < order.index("rollback")
    gate = next(step for step in steps() if step.get("id") == "gate")
    assert "--baseline" in gate["run"] and "--exit-code-on-breach 99" in gate["run"]
    rollback = next(step for step in steps() if step.get("id") == "rollback")
    assert rollback["if"] == "failure() && steps.gate.outputs.code == '99'"
    staging = load_plan(ROOT / workflow()["env"]["PEAKOPS_PLAN"])
    local = load_plan(LOCAL_PLAN)
    assert staging.regression is not None and local.regression is not None
    assert staging.load.profile == local.load.profile and staging.slos.breach_exit_code == 99


@pytest.mark.integration
def test_the_example_passes_a_rerun_and_rolls_back_a_regressed_release(tmp_path: Path) -> None:
    # The last good run, as the baseline artefact holds it: the run directory's contents.
    first = job_in(tmp_path / "last-good", LOCAL_PLAN)
    rehearse = next(step for step in steps() if step.get("id") == "rehearse")
    done = first.run(rehearse)
    assert done.returncode == 0, done.stderr[-3000:]
    (last_good,) = (first.work / "runs").iterdir()

    # A release that changed nothing: it passes the gate, compared with the baseline.
    same = job_in(tmp_path / "same", LOCAL_PLAN)
    shutil.copytree(last_good, same.work / "baseline")
    same.run_all()
    gate = same.ran["gate"]
    assert same.outputs["gate"]["code"] == "0", (gate.stdout[-3000:], gate.stderr[-3000:])
    assert "rollback" not in same.ran
    summary = Path(same.env["GITHUB_STEP_SUMMARY"]).read_text()
    assert f"## Compared with baseline `{last_good.name}`" in summary
    assert "regression-p99-POST /orders" in summary

    # The regressed release (OMS v2: slow and overselling): exit 99, then the rollback.
    bad_plan = tmp_path / "release-gate-v2.yaml"
    bad_plan.write_text(LOCAL_PLAN.read_text().replace("omsVersion: v1", "omsVersion: v2"))
    bad = job_in(tmp_path / "bad", bad_plan)
    shutil.copytree(last_good, bad.work / "baseline")
    bad.run_all()
    assert bad.outputs["rehearse"]["code"] == "99", bad.ran["rehearse"].stderr[-3000:]
    assert bad.outputs["gate"]["code"] == "99"
    assert "regression-" in bad.ran["gate"].stdout
    rolled = bad.ran["rollback"]
    assert rolled.returncode == 3, rolled.stderr  # its flags parsed; no cluster answered
    assert "oms-staging/oms" in rolled.stderr
