"""promtool and amtool run on the generated files: the default plan and synthetic ones.

Skipped (with the reason) only when promtool or amtool is not installed; CI installs
them. The generated tests must also catch a broken rule (they are not vacuous).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts import generate_files
from slo.loader import load_plan
from slo.plan import Plan
from tests.alerts.plans import ROOT, plan_with, run_tool

SYNTHETIC = {
    "rehearsal windows, low-traffic guard, zero budgets, all endpoints": (
        "    - {id: any-latency, kind: latency, percentile: 99.9, threshold: 1s}\n"
        "    - {id: no-errors, kind: error_ratio, max: 0}\n"
        "    - {id: orders-fail, kind: error_ratio, endpoint: POST /orders, max: 0.05}\n"
        "    - {id: lag-max, kind: convergence_lag, percentile: 100, threshold: 2s}\n"
        "    - {id: some-drift, kind: drift_outside_interval, max: 3}\n",
        "  alertWindows: rehearsal\n  alertMinEvents: 500\n",
    ),
    "28-day windows, overlapping latency SLOs on one endpoint": (
        "    - {id: p50, kind: latency, endpoint: 'GET /stock/{sku}', percentile: 50,\n"
        "       threshold: 10ms}\n"
        "    - {id: p99, kind: latency, endpoint: 'GET /stock/{sku}', percentile: 99,\n"
        "       threshold: 100ms}\n"
        "    - {id: oversell, kind: oversell, max: 0}\n",
        "  alertWindows: google-28d\n",
    ),
}


def _plans() -> dict[str, Plan]:
    plans = {"the default plan (peak.yaml)": load_plan(ROOT / "peak.yaml")}
    for index, (what, (objectives, extra)) in enumerate(SYNTHETIC.items()):
        plans[what] = plan_with(objectives, name=f"synthetic-{index}", extra=extra)
    return plans


PLANS = _plans()


def _write(plan: Plan, directory: Path) -> dict[str, str]:
    files = generate_files(plan)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return files


@pytest.mark.parametrize("plan", PLANS.values(), ids=PLANS.keys())
def test_the_generated_rules_pass_promtool_and_their_own_tests(plan: Plan, tmp_path: Path) -> None:
    _write(plan, tmp_path)
    checked = run_tool("promtool", "check", "rules", f"{plan.name}.rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run_tool("promtool", "test", "rules", f"{plan.name}.tests.yaml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.parametrize("plan", PLANS.values(), ids=PLANS.keys())
def test_the_generated_alertmanager_config_passes_amtool(plan: Plan, tmp_path: Path) -> None:
    _write(plan, tmp_path)
    done = run_tool("amtool", "check-config", "alertmanager.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 inhibit rules" in done.stdout


MUTATIONS = {
    "a page factor raised 1.5x": ("(14.4 * 0.01)", "(21.6 * 0.01)"),
    "a ticket factor lowered to half": ("(1 * 0.01)", "(0.5 * 0.01)"),
    "the no-data window doubled": ("[10m])", "[20m])"),
    "a latency bucket moved": ('le="0.25"', 'le="0.5"'),
    "the failed outcome dropped from the error ratio": ('outcome="fail"', 'outcome="ok"'),
}


SMALL = plan_with(
    "    - {id: errors, kind: error_ratio, max: 0.01}\n"
    "    - {id: fast, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}\n",
    name="small",
)


@pytest.mark.parametrize(("old", "new"), MUTATIONS.values(), ids=MUTATIONS.keys())
def test_the_generated_tests_fail_on_a_broken_rule(old: str, new: str, tmp_path: Path) -> None:
    plan = SMALL
    files = _write(plan, tmp_path)
    rules = tmp_path / f"{plan.name}.rules.yaml"
    text = files[rules.name]
    assert old in text
    rules.write_text(text.replace(old, new), encoding="utf-8")
    tested = run_tool("promtool", "test", "rules", f"{plan.name}.tests.yaml", cwd=tmp_path)
    assert tested.returncode != 0
    assert "FAILED" in tested.stdout + tested.stderr


def test_the_generated_tests_fail_without_the_low_traffic_guard(tmp_path: Path) -> None:
    plan = PLANS["rehearsal windows, low-traffic guard, zero budgets, all endpoints"]
    files = _write(plan, tmp_path)
    rules = tmp_path / f"{plan.name}.rules.yaml"
    rules.write_text(files[rules.name].replace(">= 500", ">= 0"), encoding="utf-8")
    tested = run_tool("promtool", "test", "rules", f"{plan.name}.tests.yaml", cwd=tmp_path)
    assert tested.returncode != 0
    assert "silent under alertMinEvents" in tested.stdout + tested.stderr
