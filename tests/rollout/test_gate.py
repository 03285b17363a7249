"""The gate on synthetic run directories: verdict, exit code and the files it writes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from collectors.latency import IntervalRecorder
from collectors.rundir import RunDir
from rollout.gate import gate_run
from slo.loader import load_plan_text
from slo.plan import Plan, plan_snapshot
from slo.runfiles import LATENCY_FILE

PLAN = """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, profile: constant, baseline: 600}
slos:
  minSamples: 20
  objectives:
    - {id: place-p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: errors, kind: error_ratio, max: 0.05}
    - {id: throughput, kind: throughput, minRatio: 0.9}
"""


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def record_run(
    tmp_path: Path,
    *,
    latency_s: float,
    per_second: int = 10,
    seconds: int = 10,
    finished: bool = True,
    fail_every: int = 0,
    cpu: float = 20.0,
) -> tuple[RunDir, Plan]:
    plan = load_plan_text(PLAN, "test.yaml")
    run = RunDir.create(tmp_path, "run-1", plan=plan_snapshot(plan), git_sha=None)
    clock = Clock()
    with run.appender(LATENCY_FILE) as out:
        rec = IntervalRecorder(out.append, clock=clock)
        n = 0
        for second in range(seconds):
            for i in range(per_second):
                clock.now = 1000.0 + second + i / per_second
                n += 1
                rec.record("POST /orders", latency_s, ok=not (fail_every and n % fail_every == 0))
        rec.flush(final=True)
    with run.appender("load.jsonl") as load:
        for second in range(seconds):
            load.append({
                "t": 1000.0 + second, "interval_s": 1.0, "source": "load",
                "arrivals_planned": 10, "arrivals_sent": per_second, "arrivals_dropped": 0,
                "orders_confirmed": per_second, "active_max": 1, "cpu_percent": cpu,
                "planned": {"POST /orders": 10},
            })  # fmt: skip
    with run.appender("events.jsonl") as events:
        events.append({"type": "load_started", "ts": 1000.0})
        if finished:
            events.append({"type": "load_finished", "ts": 1000.0 + seconds})
    return run, plan


def test_a_healthy_run_passes_and_writes_all_three_files(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path, latency_s=0.020)
    result = gate_run(run, plan)
    assert result.verdict.status.value == "pass" and result.verdict.exit_code == 0
    verdict = json.loads(run.file("verdict.json").read_text())
    assert verdict["status"] == "pass"
    orders = next(e for e in verdict["endpoints"] if e["endpoint"] == "POST /orders")
    assert orders["requests"] == 100 and orders["planned"] == 100.0
    assert 19.9 < orders["p99_ms"] < 20.1
    suite = ET.parse(run.file("junit.xml")).getroot().find("testsuite")
    # three SLOs, plus the load generator's own health check
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "0"
    assert verdict["load"]["arrivals"] == {"planned": 100.0, "sent": 100, "dropped": 0}
    assert "# peakops verdict: PASS" in run.file("summary.md").read_text()


def test_a_slow_run_fails_the_latency_slo_with_exit_1_and_a_junit_failure(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path, latency_s=0.400)
    result = gate_run(run, plan)
    assert result.verdict.exit_code == 1
    assert [e.slo_id for e in result.verdict.failed()] == ["place-p99"]
    failures = ET.parse(run.file("junit.xml")).getroot().findall(".//testcase/failure")
    assert len(failures) == 1 and "POST /orders" in (failures[0].get("message") or "")


def test_too_many_errors_fail_the_error_ratio_slo(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path, latency_s=0.010, fail_every=10)
    result = gate_run(run, plan)
    assert [e.slo_id for e in result.verdict.failed()] == ["errors"]


def test_a_run_killed_midway_is_judged_on_what_was_recorded(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path, latency_s=0.010, seconds=5, finished=False)
    result = gate_run(run, plan)
    assert result.window is not None and not result.window.complete
    assert result.window.elapsed_s == pytest.approx(5.0)
    assert any("never finished" in r for r in result.verdict.reasons)
    assert result.verdict.exit_code == 0  # 50 requests in 5 s of a 10/s plan: all SLOs met


def test_a_run_with_no_requests_is_inconclusive_and_fails_closed(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path, latency_s=0.010, seconds=0)
    result = gate_run(run, plan)
    assert result.verdict.status.value == "inconclusive" and result.verdict.exit_code == 4


def test_a_run_whose_generator_saturated_is_inconclusive(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path, latency_s=0.010, cpu=95.0)
    result = gate_run(run, plan)
    assert result.verdict.status.value == "inconclusive" and result.verdict.exit_code == 4
    generator = next(e for e in result.verdict.evaluations if e.slo_id == "load-generator")
    assert "95% CPU" in generator.reason


def test_a_run_that_sent_too_little_of_the_plan_is_inconclusive(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path, latency_s=0.010, per_second=9)
    result = gate_run(run, plan)
    generator = next(e for e in result.verdict.evaluations if e.slo_id == "load-generator")
    assert generator.status.value == "inconclusive"
    assert "sent 90 of 100 planned arrivals" in generator.reason


def test_a_stress_ramp_reports_the_load_at_which_latency_broke(tmp_path: Path) -> None:
    plan = load_plan_text(PLAN.replace("profile: constant", "profile: stress"), "t.yaml")
    run = RunDir.create(tmp_path, "stress", plan=plan_snapshot(plan), git_sha=None)
    clock = Clock()
    with run.appender(LATENCY_FILE) as out, run.appender("load.jsonl") as load:
        rec = IntervalRecorder(out.append, clock=clock)
        for second in range(20):  # 10 orders/s more every 5 s; slow from second 10 on
            clock.now = 1000.0 + second
            orders = 10 * (1 + second // 5)
            for _ in range(orders):
                rec.record("POST /orders", 0.400 if second >= 10 else 0.020, ok=True)
            load.append({"t": clock.now, "interval_s": 1.0, "source": "load",
                         "arrivals_planned": orders, "arrivals_sent": orders,
                         "arrivals_dropped": 0, "orders_confirmed": orders, "active_max": 1,
                         "cpu_percent": 10.0, "planned": {"POST /orders": orders}})  # fmt: skip
        rec.flush(final=True)
    result = gate_run(run, plan)
    assert "stress: place-p99 broke at 1,800 orders/min (10 s in; held up to 1,200)" in (
        result.verdict.reasons
    )
