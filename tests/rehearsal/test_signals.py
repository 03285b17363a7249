"""Every way a rehearsal is stopped puts the system back and says what happened.

A signal x phase matrix, with real processes: SIGINT (Ctrl-C), SIGTERM (CI cancelling a
job, Kubernetes stopping a pod) and SIGKILL (a machine dying), each sent while the
target starts, during the load, while a fault is active, while the rehearsal waits on
a chaos step, during settle and during the gate. Afterwards: no process of the run is
alive within 5 s (fault proxies included: no fault can remain), the run directory is
judged (inconclusive, or the real verdict when the gate had finished), and
``peakops gate`` on it gives no traceback. Short plans and one-second faults keep the
matrix inside the test budget.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from slo.runfiles import EVENTS_FILE, HEADER_FILE, VERDICT_FILE

# They judge what a stop leaves behind, not latency: make test runs them two at a time.
pytestmark = [pytest.mark.integration, pytest.mark.parallel]

ROOT = Path(__file__).resolve().parents[2]

# A small, fast rehearsal: one replica, no store, a 1 s cut whose runner is still checking
# its hypothesis (after the 5 s recovery allowance) when the 6 s load ends. Phases that
# need no fault run a shorter plan without the cut (QUICK).
PLAN = """\
apiVersion: peakops/v1
name: signals
target:
  kind: embedded
  replicas: 1
  catalog: {skus: 20, minStock: 50, maxStock: 80}
  probes: {rate: 5, hotSkus: 2, settleTimeout: 3s}
load: {profile: constant, duration: 6s, baseline: 300}
monitoring: {enabled: false}  # its own SIGKILL test: tests/rehearsal/test_monitoring_e2e.py
slos:
  minSamples: 5
  recoveryAllowance: 5s
  objectives:
    - {id: p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms,
       during: steady}
    - {id: errors, kind: error_ratio, max: 0.05, during: steady}
    - {id: no-oversell, kind: oversell, max: 0}
chaos:
  - {experiment: network-cut, offset: 1s, duration: 1s}
"""

QUICK = PLAN.replace("duration: 6s", "duration: 4s").replace(
    "settleTimeout: 3s", "settleTimeout: 2s"
)
QUICK = QUICK[: QUICK.index("chaos:")]
NEEDS_CHAOS = ("a fault is active", "the rehearsal waits on a chaos step")

Events = list[dict[str, Any]]


def events_of(runs: Path) -> tuple[Path | None, Events]:
    found = list(runs.glob(f"*/{EVENTS_FILE}"))
    if not found:
        return None, []
    lines = found[0].read_text(errors="replace").splitlines()
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return found[0].parent, events


def types(events: Events) -> list[str]:
    return [str(e.get("type")) for e in events]


def _open_fault(events: Events) -> bool:
    started = {e["id"] for e in events if e.get("type") == "fault_started"}
    stopped = {e["id"] for e in events if e.get("type") == "fault_stopped"}
    return bool(started - stopped)


def _waiting_on_chaos(events: Events) -> bool:
    names = types(events)
    return (
        "load_finished" in names
        and "views_settled" in names
        and (names.count("chaos_started") > names.count("chaos_finished"))
    )


def _gating(run: Path | None, events: Events) -> bool:
    if run is None or "verdict" in types(events):
        return False
    header = json.loads((run / HEADER_FILE).read_text())
    return header.get("status") != "running"


PHASES: dict[str, Callable[[Path | None, Events], bool]] = {
    "the target starts": lambda run, ev: "rehearsal_started" in types(ev),
    "the load runs": lambda run, ev: "load_started" in types(ev),
    "a fault is active": lambda run, ev: _open_fault(ev),
    "the rehearsal waits on a chaos step": lambda run, ev: _waiting_on_chaos(ev),
    "the views settle": lambda run, ev: (
        "load_finished" in types(ev) and "views_settled" not in types(ev)
    ),
    "the gate runs": _gating,
}


def run_processes(root_pid: int) -> list[psutil.Process]:
    """Every process whose command line points into this test's run directory."""
    try:
        return psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(procs: list[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(" ".join(proc.cmdline()[:4]))
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])  # fmt: skip
def test_a_stopped_rehearsal_reverts_everything_and_is_judged(
    tmp_path: Path, sig: signal.Signals, phase: str
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN if phase in NEEDS_CHAOS else QUICK)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "rehearse", "--plan", str(plan), "--run-dir", str(runs),
         "--output", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    children: list[psutil.Process] = []
    try:
        reached = False
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            run, events = events_of(runs)
            children = run_processes(proc.pid) or children
            if PHASES[phase](run, events):
                reached = True
                break
            time.sleep(0.02)
        assert reached, f"never reached: {phase} (exit {proc.poll()})"
        children = run_processes(proc.pid) or children
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    gone_by = time.monotonic() + 5
    while alive(children) and time.monotonic() < gone_by:
        time.sleep(0.1)
    assert alive(children) == [], f"left behind after {sig.name} while {phase}"
    assert "Traceback" not in err, err[-3000:]
    run, events = events_of(runs)
    assert run is not None
    if sig != signal.SIGKILL and reached:
        assert proc.returncode in (128 + sig, 0, 1, 4), (proc.returncode, err[-2000:])
        verdict = json.loads((run / VERDICT_FILE).read_text())
        header = json.loads((run / HEADER_FILE).read_text())
        if phase == "the gate runs":  # held until the verdict was written: the real one
            assert header["status"] == "completed", header
        elif proc.returncode == 128 + sig:
            assert header["status"] == "interrupted" and header["signal"] == sig.name
            assert verdict["status"] == "inconclusive", verdict["reasons"]
            assert any("interrupted" in r for r in verdict["reasons"]), verdict["reasons"]
        assert not _open_fault(events), "a fault window was never closed"
    gate = subprocess.run(
        [sys.executable, "-m", "cli", "gate", str(run), "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in gate.stderr, gate.stderr[-3000:]
    assert gate.returncode in (0, 1, 4), gate.stderr[-2000:]
    judged = json.loads(gate.stdout)
    if sig == signal.SIGKILL and phase != "the gate runs":
        assert judged["status"] == "inconclusive", judged["reasons"]


STORE_PLAN = PLAN.replace("  replicas: 1\n", "  replicas: 1\n  stores: 1\n").replace(
    "  - {experiment: network-cut, offset: 1s, duration: 1s}",
    "  - {experiment: store-offline, offset: 1s, duration: 4s}",
)


def test_a_sigterm_during_a_store_outage_plays_the_rollback_and_is_inconclusive(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(STORE_PLAN)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "rehearse", "--plan", str(plan), "--run-dir", str(runs),
         "--output", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _open_fault(events_of(runs)[1]):
            time.sleep(0.02)
        assert _open_fault(events_of(runs)[1]), "the store outage never began"
        os.kill(proc.pid, signal.SIGTERM)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    run, events = events_of(runs)
    assert run is not None
    started = next(e for e in events if e.get("type") == "fault_started")
    assert started["fault"] == "store-offline"
    stopped = [e for e in events if e.get("type") == "fault_stopped"]
    assert [e["id"] for e in stopped] == [started["id"]], "the store's link was not restored"
    header = json.loads((run / HEADER_FILE).read_text())
    assert (header["status"], header["signal"]) == ("interrupted", "SIGTERM")
    verdict = json.loads((run / VERDICT_FILE).read_text())
    assert verdict["status"] == "inconclusive" and verdict["exit_code"] == 4
    assert verdict["reasons"][0].startswith("the run was interrupted"), verdict["reasons"]
