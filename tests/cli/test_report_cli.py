"""``peakops report RUN_DIR``: rebuilds report.html from any run directory, by exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from cli import app
from rollout.gate import gate_run
from slo.runfiles import LATENCY_FILE, REPORT_FILE, VERDICT_FILE
from tests.rollout.synthetic import write_run

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_report_rebuilds_the_gates_report_byte_for_byte(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path)
    gate_run(run, plan)
    written = run.file(REPORT_FILE).read_bytes()
    run.file(REPORT_FILE).unlink()
    done = runner.invoke(app, ["report", str(run.path)])
    assert done.exit_code == 0, done.output
    assert f"report: {run.file(REPORT_FILE)}" in done.output
    assert run.file(REPORT_FILE).read_bytes() == written


def test_a_run_never_gated_is_gated_first(tmp_path: Path) -> None:
    run, _ = write_run(tmp_path)
    done = runner.invoke(app, ["report", str(run.path), "--output", "json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["gated"] is True and data["bytes"] < 1_000_000
    assert run.file(VERDICT_FILE).is_file() and Path(data["report"]).is_file()


@pytest.mark.parametrize(
    ("name", "words"),
    [("nowhere", "no such run directory"), ("empty", "missing: not a peakops run directory")],
    ids=["a directory that does not exist", "a directory without run.json"],
)
def test_not_a_run_directory_is_exit_2_with_a_message(
    tmp_path: Path, name: str, words: str
) -> None:
    (tmp_path / "empty").mkdir()
    done = runner.invoke(app, ["report", str(tmp_path / name)])
    assert done.exit_code == 2
    assert "peakops: error:" in done.output and words in done.output
    assert "Traceback" not in done.output


def test_a_corrupt_run_still_gets_a_report_that_says_why(tmp_path: Path) -> None:
    run, _ = write_run(tmp_path)
    lines = run.file(LATENCY_FILE).read_text().splitlines()
    run.file(LATENCY_FILE).write_text("\n".join([lines[0], '{"endpoint": 5}', *lines[1:]]) + "\n")
    done = runner.invoke(app, ["report", str(run.path)])
    assert done.exit_code == 0, done.output
    html = run.file(REPORT_FILE).read_text()
    assert "the gate could not judge this run" in html
    assert "latency.jsonl: 1 unreadable line(s) skipped" in html


def test_a_baseline_adds_the_comparison(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path / "a")
    baseline, _ = write_run(tmp_path / "b", "baseline")
    gate_run(run, plan)
    done = runner.invoke(app, ["report", str(run.path), "--baseline", str(baseline.path)])
    assert done.exit_code == 0, done.output
    html = run.file(REPORT_FILE).read_text()
    assert 'id="baseline"' in html and "baseline" in html


def test_a_bad_baseline_is_exit_2(tmp_path: Path) -> None:
    run, _ = write_run(tmp_path)
    done = runner.invoke(app, ["report", str(run.path), "--baseline", str(tmp_path / "none")])
    assert done.exit_code == 2 and "no such run directory" in done.output


KILL_PLAN = """\
apiVersion: peakops/v1
name: report-kill
target:
  kind: embedded
  replicas: 1
  catalog: {skus: 20, minStock: 50, maxStock: 80}
  probes: {rate: 5, hotSkus: 2, settleTimeout: 2s}
load: {profile: constant, duration: 20s, baseline: 300}
monitoring: {enabled: false}
slos:
  minSamples: 5
  objectives:
    - {id: p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: no-oversell, kind: oversell, max: 0}
"""


def _recorded_seconds(runs: Path) -> int:
    found = list(runs.glob(f"*/{LATENCY_FILE}"))
    if not found:
        return 0
    seconds = set()
    for line in found[0].read_text(errors="replace").splitlines():
        try:
            seconds.add(json.loads(line)["t"])
        except (ValueError, KeyError):
            continue
    return len(seconds)


@pytest.mark.integration
@pytest.mark.parallel  # judges no latency
def test_a_rehearsal_killed_with_sigkill_halfway_gets_a_report(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(KILL_PLAN)
    runs = tmp_path / "runs"
    peakops = [sys.executable, "-m", "cli"]
    proc = subprocess.Popen(
        [*peakops, "rehearse", "--plan", str(plan), "--run-dir", str(runs)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while _recorded_seconds(runs) < 5:  # a quarter of the 20 s flood
            assert time.monotonic() < deadline and proc.poll() is None, "no load recorded"
            time.sleep(0.2)
        children = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        psutil.wait_procs(children, timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (run,) = list(runs.iterdir())
    assert not (run / REPORT_FILE).exists()  # killed before its gate
    done = subprocess.run(
        [*peakops, "report", str(run)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and f"report: {run / REPORT_FILE}" in done.stdout
    html = (run / REPORT_FILE).read_text()
    assert len(html.encode()) < 1_000_000
    assert "did not finish" in html and 'id="verdict-table"' in html
    assert "inconclusive" in html and "POST /orders" in html
