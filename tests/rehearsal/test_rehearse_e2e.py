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


def test_v1_passes_every_slo_and_writes_the_verdict_files(tmp_path: Path) -> None:
    done = peakops("rehearse", "--duration", "15s", "--run-dir", str(tmp_path), "--output", "json")
    verdict = json.loads(done.stdout)
    assert done.returncode == 0, (verdict["evaluations"], done.stderr[-2000:])
    assert verdict["status"] == "pass"
    orders = next(e for e in verdict["endpoints"] if e["endpoint"] == "POST /orders")
    assert orders["requests"] >= 0.9 * orders["planned"] > 0
    run = only_run(tmp_path)
    for name in (
        "run.json",
        "events.jsonl",
        "latency.jsonl",
        "verdict.json",
        "junit.xml",
        "summary.md",
    ):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text())["status"] == "pass"


def test_v2_fails_the_order_latency_slo_with_exit_1(tmp_path: Path) -> None:
    done = peakops(
        "rehearse", "--duration", "15s", "--oms-version", "v2", "--run-dir", str(tmp_path)
    )
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]
    assert "place-order-latency" in done.stdout and "fail" in done.stdout


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


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
