"""End to end, as a user runs it: the real reference OMS, a real Locust flood, the gate.

These start real processes on 127.0.0.1 and take ~15 s each.
"""

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

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PEAKOPS = [sys.executable, "-m", "cli"]


def peakops(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEAKOPS, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def only_run(root: Path) -> Path:
    runs = list(root.iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def plan_without_chaos(tmp_path: Path) -> Path:
    """The shipped plan without its chaos schedule (faults have their own test)."""
    text = (ROOT / "peak.yaml").read_text()
    path = tmp_path / "peak.yaml"
    path.write_text(text[: text.index("\nchaos:")] + "\n" + text[text.index("\nrollback:") :])
    return path


def test_v1_passes_every_slo_and_gate_and_drift_agree_on_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    plan = str(plan_without_chaos(tmp_path))
    done = peakops("rehearse", "--plan", plan, "--duration", "15s", "--run-dir", str(runs),
                   "--output", "json")  # fmt: skip
    verdict = json.loads(done.stdout)
    assert done.returncode == 0, (verdict["evaluations"], done.stderr[-2000:])
    statuses = {e["slo_id"]: e["status"] for e in verdict["evaluations"]}
    # Without faults, what judges faults has nothing to judge: n/a, never a pass.
    assert statuses["place-order-latency-under-faults"] == "n/a"
    assert statuses["orders-recover"] == "n/a"
    assert statuses["place-order-latency"] == "pass" and statuses["no-oversell"] == "pass"
    orders = next(e for e in verdict["endpoints"] if e["endpoint"] == "POST /orders")
    assert orders["requests"] >= 0.9 * orders["planned"] > 0
    run = only_run(runs)
    written = {name: (run / name).read_bytes() for name in ("verdict.json", "junit.xml",
                                                            "summary.md")}  # fmt: skip
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    # The gate is the only author: re-gating rewrites the same bytes.
    regate = peakops("gate", str(run), "--output", "json")
    assert regate.returncode == 0, regate.stderr
    assert {name: (run / name).read_bytes() for name in written} == written
    # peakops drift decides the drift SLOs through the same core.
    drift = peakops("drift", str(run), "--output", "json")
    assert drift.returncode == 0, drift.stdout[-2000:]
    judged = {e["slo_id"]: e["status"] for e in json.loads(drift.stdout)["verdict"]["evaluations"]}
    assert judged == {k: statuses[k] for k in judged}


def test_v2_fails_the_order_latency_slo_with_exit_1(tmp_path: Path) -> None:
    done = peakops(
        "rehearse", "--plan", str(plan_without_chaos(tmp_path)), "--duration", "15s",
        "--oms-version", "v2", "--run-dir", str(tmp_path / "runs"), "--output", "json",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    verdict = json.loads(done.stdout)
    latency = next(e for e in verdict["evaluations"] if e["slo_id"] == "place-order-latency")
    assert latency["status"] == "fail" and latency["observed"] >= 250, latency
    assert verdict["status"] == "fail" and verdict["exit_code"] == 1


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parallel  # judges no latency
def test_a_rehearsal_killed_with_sigkill_leaves_no_process_and_can_still_be_gated(
    tmp_path: Path,
) -> None:
    proc = subprocess.Popen(
        [*PEAKOPS, "rehearse", "--duration", "60s", "--run-dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def recorded_seconds() -> int:
            runs = list(tmp_path.iterdir())
            latency = runs[0] / "latency.jsonl" if runs else None
            if latency is None or not latency.exists():
                return 0
            return len({json.loads(line)["t"] for line in latency.read_text().splitlines() if line})

        assert _wait_for(lambda: recorded_seconds() >= 6, timeout=60), "no load recorded"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the rehearsal should have started the OMS and the load process"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        gone = _wait_for(
            lambda: not any(c.is_running() and c.status() != "zombie" for c in children), timeout=10
        )
        assert gone, [c.cmdline() for c in children if c.is_running()]
    finally:
        if proc.poll() is None:
            proc.kill()

    run = only_run(tmp_path)
    done = peakops("gate", str(run), "--output", "json")
    verdict = json.loads(done.stdout)
    assert done.returncode in (0, 1, 4), done.stderr
    assert verdict["load"]["complete"] is False
    # The flood is told of its parent's death (SIGTERM) and stops, or is killed first.
    assert any("interrupted" in r or "never finished" in r for r in verdict["reasons"])
    orders = next(e for e in verdict["endpoints"] if e["endpoint"] == "POST /orders")
    assert orders["requests"] > 0 and "p99_ms" in orders
    assert (run / "verdict.json").is_file()
