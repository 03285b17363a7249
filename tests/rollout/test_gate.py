"""The gate on synthetic run directories: verdict, exit code and the files it writes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from collectors.latency import IntervalRecorder
from collectors.rundir import RunDir
from rollout.gate import GateResult, gate_run, plan_of_run
from slo.errors import RunDirError
from slo.loader import load_plan_text
from slo.plan import Plan, plan_snapshot
from slo.runfiles import (
    EVENTS_FILE,
    LATENCY_FILE,
    LEDGER_FILE,
    LOAD_FILE,
    STOCK_FILE,
    STORES_FILE,
)
from tests.rollout.synthetic import JOURNAL, write_run

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
    if finished:
        run.finish("completed")
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


def test_a_run_killed_midway_is_judged_on_what_was_recorded_and_is_inconclusive(
    tmp_path: Path,
) -> None:
    run, plan = record_run(tmp_path, latency_s=0.010, seconds=5, finished=False)
    result = gate_run(run, plan)
    assert result.window is not None and not result.window.complete
    assert result.window.elapsed_s == pytest.approx(5.0)
    assert any("never finished" in r for r in result.verdict.reasons)
    # 50 requests in 5 s of a 10/s plan meet every SLO, but a run that never finished
    # can neither pass nor fail a release.
    assert result.verdict.status.value == "inconclusive" and result.verdict.exit_code == 4
    assert [e.status.value for e in result.verdict.evaluations].count("pass") == 4


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"status": "interrupted", "signal": "SIGTERM", "reason": "SIGTERM received"},
         "the run was interrupted (SIGTERM received): inconclusive"),
        ({"status": "crashed"}, "the rehearsal crashed before it finished"),
    ],
    ids=["interrupted by a signal", "crashed"],
)  # fmt: skip
def test_a_run_that_did_not_finish_is_inconclusive_even_with_a_breach(
    tmp_path: Path, fields: dict[str, str], words: str
) -> None:
    run, plan = record_run(tmp_path, latency_s=0.400)  # breaches the latency SLO
    run.update_header(**fields)
    verdict = gate_run(run, plan).verdict
    assert verdict.status.value == "inconclusive" and verdict.exit_code == 4
    assert verdict.reasons[0] == words or verdict.reasons[0].startswith(words)


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


# -- corrupt and incomplete run directories (tests/rollout/synthetic.py) ----------------


def without_fault_lines(run: RunDir) -> None:
    lines = run.file(EVENTS_FILE).read_text().splitlines(keepends=True)
    run.file(EVENTS_FILE).write_text("".join(line for line in lines if '"fault_' not in line))


def statuses(result: GateResult) -> dict[str, str]:
    return {e.slo_id: e.status.value for e in result.verdict.evaluations}


def test_the_synthetic_run_passes(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path)
    assert gate_run(run, plan).verdict.status.value == "pass"


def test_fault_windows_lost_from_the_events_are_read_from_the_chaos_journal(
    tmp_path: Path,
) -> None:
    """The drift checker reads events.jsonl only: drift during the tolerated store outage
    can then not be told apart, so it is inconclusive, never a failure."""
    run, plan = write_run(tmp_path)
    without_fault_lines(run)
    result = gate_run(run, plan)
    assert result.verdict.status.value == "inconclusive"
    found = statuses(result)
    assert found["no-drift"] == "inconclusive" and found["store-reconciles"] == "pass"
    assert found["place-p99"] == "pass"  # steady state is judged on the journal's windows
    reasons = result.verdict.reasons
    assert (
        f"fault windows read from the chaos journals ({JOURNAL}): events.jsonl has no fault event"
    ) in reasons
    assert "fault store-offline 3.0s\N{EN DASH}6.0s" in reasons


def test_with_no_fault_event_anywhere_the_fault_windows_are_unknown(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path)
    without_fault_lines(run)
    run.file(JOURNAL).unlink()
    result = gate_run(run, plan)
    found = statuses(result)
    assert found["no-drift"] == found["place-p99"] == "inconclusive"
    assert "fail" not in found.values()
    assert any(r.startswith("fault windows unknown: ") for r in result.verdict.reasons)


def test_a_run_without_its_timeline_never_passes(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path, latency_s=0.020)  # no chaos: fault windows known (none)
    run.file(EVENTS_FILE).write_text("")
    result = gate_run(run, plan)
    assert result.verdict.status.value == "inconclusive" and result.verdict.exit_code == 4
    assert result.verdict.reasons[0] == (
        "events.jsonl is missing or empty: the run's timeline is unknown, so it cannot pass"
    )


def test_drift_with_no_order_operation_recorded_is_inconclusive(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path)
    run.file(LEDGER_FILE).unlink()  # the truth moved, but no order says why
    found = statuses(gate_run(run, plan))
    assert found["no-drift"] == "inconclusive" and found["no-oversell"] == "pass"


def test_stores_never_polled_leave_reconciliation_inconclusive(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path)
    run.file(STORES_FILE).write_text("")
    assert statuses(gate_run(run, plan))["store-reconciles"] == "inconclusive"


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path)
    with run.file(LATENCY_FILE).open("a") as fh:
        fh.write('{"endpoint": "POST /orders", "t": 10')
    assert gate_run(run, plan).verdict.status.value == "pass"


def edit_first(run: RunDir, name: str, **changes: Any) -> int:
    """Change the first record of ``name`` that has every key changed; its line number."""
    lines = run.file(name).read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        record = json.loads(line)
        if set(changes) <= set(record):
            record.update(changes)
            lines[number - 1] = json.dumps(record)
            run.file(name).write_text("\n".join(lines) + "\n")
            return number
    raise AssertionError(f"no record of {name} has {sorted(changes)}")


@pytest.mark.parametrize(
    ("name", "changes", "words"),
    [
        (LATENCY_FILE, {"ok": "many"},
         "field 'ok': expected a whole number, not negative, got 'many'"),
        (LATENCY_FILE, {"fail": -1}, "field 'fail'"),
        (LATENCY_FILE, {"t": None}, "field 't': expected a Unix time in seconds, got None"),
        (LATENCY_FILE, {"interval_s": 0}, "field 'interval_s': expected a number above 0"),
        (LATENCY_FILE, {"endpoint": 5}, "field 'endpoint': expected a string"),
        (LATENCY_FILE, {"hist": "!!not-base64!!"}, "field 'hist': corrupt HdrHistogram"),
        (LATENCY_FILE, {"hist": "HISTFAAAACl4nJNpmSzMwMDAyQ"}, "field 'hist': corrupt"),
        (LATENCY_FILE, {"hist_fail": ""}, "field 'hist_fail'"),
        (LOAD_FILE, {"cpu_percent": "x"}, "field 'cpu_percent'"),
        (LOAD_FILE, {"arrivals_planned": float("nan")}, "field 'arrivals_planned'"),
        (LOAD_FILE, {"planned": {"POST /orders": "x"}}, "field 'planned': field 'POST /orders'"),
        (EVENTS_FILE, {"ts": "x"}, "field 'ts'"),
        (STORES_FILE, {"pending": "x"}, "field 'pending'"),
        (LEDGER_FILE, {"qty": "x"}, "bad ledger record"),
        (LEDGER_FILE, {"t": None}, "missing or non-numeric time field 't': None"),
        (LEDGER_FILE, {"qty": [1]}, "bad ledger record"),
        (STOCK_FILE, {"available": "x"}, "bad stock record"),
    ],
    ids=lambda value: str(value)[:50],
)  # fmt: skip
def test_a_record_of_the_wrong_shape_is_an_error_naming_file_and_line(
    tmp_path: Path, name: str, changes: dict[str, Any], words: str
) -> None:
    run, plan = write_run(tmp_path)
    number = edit_first(run, name, **changes)
    with pytest.raises(RunDirError) as raised:
        gate_run(run, plan)
    assert str(raised.value).startswith(f"{run.file(name)}:{number}: ")
    assert words in str(raised.value)


def test_a_header_without_its_plan_is_an_error_naming_it(tmp_path: Path) -> None:
    run, _ = write_run(tmp_path)
    header = run.header()
    del header["plan"]
    run.write_header(header)
    with pytest.raises(RunDirError, match=r"run\.json: no plan snapshot"):
        plan_of_run(RunDir.open(run.path))


@pytest.mark.parametrize("command", ["gate", "drift"])
@pytest.mark.parametrize("output", ["table", "json"])
def test_the_cli_reports_a_corrupt_run_in_one_line_with_exit_2(
    tmp_path: Path, command: str, output: str
) -> None:
    run, _ = write_run(tmp_path)
    number = edit_first(run, LEDGER_FILE if command == "drift" else LATENCY_FILE, t=None)
    done = CliRunner().invoke(app, [command, str(run.path), "--output", output])
    assert done.exit_code == 2, done.output
    (line,) = done.output.strip().splitlines()
    name = LEDGER_FILE if command == "drift" else LATENCY_FILE
    assert line.startswith(f"peakops: error: {run.file(name)}:{number}: ")


def test_a_bad_value_that_looks_like_markup_is_printed_as_it_is(tmp_path: Path) -> None:
    run, _ = write_run(tmp_path)
    edit_first(run, LATENCY_FILE, ok="[/bold]")
    done = CliRunner().invoke(app, ["gate", str(run.path)])
    assert done.exit_code == 2 and "[/bold]" in done.output


def test_an_endpoint_name_that_looks_like_markup_is_shown_as_it_is(tmp_path: Path) -> None:
    run, _ = write_run(tmp_path)
    lines = run.file(LATENCY_FILE).read_text().replace("GET /stock/{sku}", "GET /[/x]")
    run.file(LATENCY_FILE).write_text(lines)
    done = CliRunner().invoke(app, ["gate", str(run.path)])
    assert done.exit_code == 0 and "GET /[/x]" in done.output
