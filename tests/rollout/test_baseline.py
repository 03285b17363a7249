"""``gate --baseline``: a run judged against the last good run, on synthetic run directories."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from collectors.latency import IntervalRecorder
from collectors.rundir import RunDir
from rollout.baseline import compare_runs
from rollout.gate import gate_run
from slo.errors import UsageError
from slo.loader import load_plan_text
from slo.plan import Plan, plan_snapshot
from slo.runfiles import EVENTS_FILE, LATENCY_FILE, LOAD_FILE

PLAN = """
apiVersion: peakops/v1
name: release-gate
target: {kind: embedded}
load: {duration: 10s, profile: constant, baseline: 600}
slos:
  minSamples: 20
  objectives:
    - {id: place-p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: errors, kind: error_ratio, max: 0.05}
regression:
  p99: +10%
  errorRatio: +0.5pp
  throughput: -5%
"""


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(root: Path, name: str, *, latency_s: float, plan_text: str = PLAN,
           status: str = "completed") -> tuple[RunDir, Plan]:  # fmt: skip
    """Ten seconds of ten orders a second, each taking ``latency_s``."""
    plan = load_plan_text(plan_text, "peak.yaml")
    run = RunDir.create(root, name, plan=plan_snapshot(plan), git_sha=None)
    clock = Clock()
    with run.appender(LATENCY_FILE) as out:
        recorder = IntervalRecorder(out.append, clock=clock)
        for second in range(10):
            for i in range(10):
                clock.now = 1000.0 + second + i / 10
                recorder.record("POST /orders", latency_s, ok=True)
        recorder.flush(final=True)
    with run.appender(LOAD_FILE) as load:
        for second in range(10):
            load.append({
                "t": 1000.0 + second, "interval_s": 1.0, "source": "load",
                "arrivals_planned": 10, "arrivals_sent": 10, "arrivals_dropped": 0,
                "orders_confirmed": 10, "active_max": 1, "cpu_percent": 20.0,
                "planned": {"POST /orders": 10},
            })  # fmt: skip
    with run.appender(EVENTS_FILE) as events:
        events.append({"type": "load_started", "ts": 1000.0})
        events.append({"type": "load_finished", "ts": 1010.0})
    run.finish(status)
    return run, plan


def test_a_p99_regression_beyond_the_limit_fails_the_gate(tmp_path: Path) -> None:
    baseline, _ = record(tmp_path, "good", latency_s=0.100)
    run, plan = record(tmp_path, "release", latency_s=0.125)  # +25 %, still under 250 ms
    result = gate_run(run, plan, baseline=baseline)
    assert result.verdict.status.value == "fail" and result.verdict.exit_code == 1
    failed = [e.slo_id for e in result.verdict.failed()]
    assert failed == ["regression-p99-POST /orders", "regression-p99-*"]
    reason = result.verdict.failed()[0].reason
    assert reason.startswith("p99 of POST /orders 100") and "limit +10 %" in reason
    assert "(+25" in reason


def test_an_identical_rerun_passes(tmp_path: Path) -> None:
    baseline, _ = record(tmp_path, "good", latency_s=0.100)
    run, plan = record(tmp_path, "rerun", latency_s=0.100)
    result = gate_run(run, plan, baseline=baseline)
    assert result.verdict.status.value == "pass", result.verdict.reasons
    regressions = [e for e in result.verdict.evaluations if e.kind == "regression"]
    assert len(regressions) == 6 and {e.status.value for e in regressions} == {"pass"}
    assert "compared with baseline run good" in result.verdict.reasons


def test_verdict_json_records_the_baseline_and_the_deltas(tmp_path: Path) -> None:
    baseline, _ = record(tmp_path, "good", latency_s=0.100)
    run, plan = record(tmp_path, "release", latency_s=0.125)
    gate_run(run, plan, baseline=baseline)
    written = json.loads(run.file("verdict.json").read_text())["baseline"]
    assert written["run_id"] == "good" and written["comparable"] is True
    orders = next(e for e in written["endpoints"] if e["endpoint"] == "POST /orders")
    assert orders["change"]["p99_percent"] == pytest.approx(25, abs=1)
    assert orders["baseline"]["requests"] == orders["current"]["requests"] == 100
    place = next(s for s in written["slos"] if s["slo_id"] == "place-p99")
    assert place["baseline"] == pytest.approx(100, abs=1)
    assert place["current"] == pytest.approx(125, abs=1)
    summary = run.file("summary.md").read_text()
    assert "## Compared with baseline `good`" in summary and "(+25" in summary


def test_junit_names_the_regression_with_its_reason_and_every_case_its_source(
    tmp_path: Path,
) -> None:
    baseline, _ = record(tmp_path, "good", latency_s=0.100)
    run, plan = record(tmp_path, "release", latency_s=0.125)
    gate_run(run, plan, baseline=baseline)
    root = ET.parse(run.file("junit.xml")).getroot()
    case = next(c for c in root.iter("testcase") if c.get("name") == "regression-p99-POST /orders")
    failure = case.find("failure")
    assert failure is not None and "limit +10 %" in (failure.get("message") or "")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["source"] == "baseline" and props["baseline"] == "good"
    passing = next(c for c in root.iter("testcase") if c.get("name") == "errors")
    assert {p.get("name"): p.get("value") for p in passing.iter("property")}["source"] == "client"


def test_runs_of_another_load_are_refused_with_the_differences(tmp_path: Path) -> None:
    baseline, _ = record(tmp_path, "good", latency_s=0.1, plan_text=PLAN.replace("600", "900"))
    run, plan = record(tmp_path, "release", latency_s=0.1)
    with pytest.raises(UsageError) as err:
        gate_run(run, plan, baseline=baseline)
    assert "not comparable" in str(err.value)
    assert "load.baseline: 900.0 → 600.0" in str(err.value)
    assert not run.file("verdict.json").exists()


def test_a_baseline_that_did_not_finish_is_refused(tmp_path: Path) -> None:
    baseline, _ = record(tmp_path, "good", latency_s=0.1, status="interrupted")
    run, plan = record(tmp_path, "release", latency_s=0.1)
    comparison = compare_runs(run, baseline, plan)
    assert comparison.refused == ("the baseline run did not finish (status: interrupted)",)


def test_a_plan_without_regression_limits_compares_but_judges_nothing(tmp_path: Path) -> None:
    plain = PLAN.split("regression:")[0]
    baseline, _ = record(tmp_path, "good", latency_s=0.100, plan_text=plain)
    run, plan = record(tmp_path, "release", latency_s=0.200, plan_text=plain)
    result = gate_run(run, plan, baseline=baseline)
    assert result.verdict.status.value == "pass"
    assert result.comparison is not None and result.comparison.baseline_run_id == "good"
    assert any("no regression limits" in reason for reason in result.verdict.reasons)


runner = CliRunner()


def test_the_cli_exits_99_on_a_regression_and_appends_the_summary_for_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline, _ = record(tmp_path, "good", latency_s=0.100)
    run, _ = record(tmp_path, "release", latency_s=0.125)
    summary = tmp_path / "step-summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    args = ["gate", str(run.path), "--baseline", str(baseline.path), "--exit-code-on-breach", "99"]
    result = runner.invoke(app, args)
    assert result.exit_code == 99, result.output
    assert json.loads(run.file("verdict.json").read_text())["exit_code"] == 99
    text = summary.read_text()
    assert text.startswith("# earlier step\n# peakops verdict: FAIL (exit 99)")
    assert "regression-p99-POST /orders" in text


def test_the_cli_refuses_an_incomparable_baseline_with_exit_2(tmp_path: Path) -> None:
    baseline, _ = record(tmp_path, "good", latency_s=0.1, plan_text=PLAN.replace("10s", "20s"))
    run, _ = record(tmp_path, "release", latency_s=0.1)
    result = runner.invoke(app, ["gate", str(run.path), "--baseline", str(baseline.path)])
    assert result.exit_code == 2
    assert "load.duration: 20s → 10s" in result.output


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("3", "exit code 3 is reserved for infrastructure errors"),
        ("200", "less than or equal to 125"),
    ],
    ids=["a reserved code", "beyond 125"],
)
def test_a_bad_exit_code_on_breach_is_a_usage_error(tmp_path: Path, code: str, words: str) -> None:
    run, _ = record(tmp_path, "release", latency_s=0.1)
    args = ["gate", str(run.path), "--exit-code-on-breach", code]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and words in result.output


@pytest.mark.parametrize("command", ["rehearse", "gate", "load", "drift", "watch"])
def test_every_judging_command_takes_exit_code_on_breach(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert "--exit-code-on-breach" in result.output
