"""A v1 that stays broken after a fault fails ``recovery``, with real processes.

The plan cuts orders -> inventory for 2 s. As the cut is healed, the test puts a cut of
its own on the same link and keeps renewing it until the load ends: the fault window
the chaos runner recorded is over, yet the link never comes back (a firewall rule
left behind, a connection pool that never reconnects). Steady-state objectives are not
loosened to excuse it, and ``orders-recover`` must fail.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from platforms.faultproxy.client import FaultProxyClient
from slo.errors import InfraError
from slo.runfiles import CHAOS_HANDLE_FILE, EVENTS_FILE

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "peak.yaml"


def cut_only_plan(tmp_path: Path) -> Path:
    """The shipped plan, 18 s, with only its network cut, at 1 s; no stop condition.
    The views cannot converge over a link that stays cut: they get 2 s, not 15 s."""
    text = PLAN.read_text()
    text = text.replace("  probes:\n", "  probes:\n    settleTimeout: 2s\n", 1)
    head, rest = text[: text.index("\nchaos:")], text[text.index("\nrollback:") :]
    chaos = "\nchaos:\n  - experiment: network-cut\n    offset: 1s\n    duration: 2s\n"
    chaos += "    stopBurnRate: 1000\n"  # let the cut run: this test is about what follows
    path = tmp_path / "peak.yaml"
    path.write_text(head.replace("duration: 60s", "duration: 18s") + chaos + rest)
    return path


def keep_the_link_cut(runs: Path, done: threading.Event) -> None:
    """Once the plan's cut is healed, cut the link again and keep it cut."""
    while not done.is_set():
        found = list(runs.glob("*/" + EVENTS_FILE))
        if found and '"fault_stopped"' in found[0].read_text():
            break
        time.sleep(0.05)
    else:
        return
    handle = json.loads((found[0].parent / CHAOS_HANDLE_FILE).read_text())
    with FaultProxyClient(handle["fault_proxies"]["orders-inventory"]) as proxy:
        proxy.add("left-behind", "timeout", {"timeout_ms": 0}, stream="both", lease_s=3)
        with contextlib.suppress(InfraError):  # the proxy stops with the rehearsal
            while not done.wait(1.0) and proxy.renew("left-behind", lease_s=3) is not None:
                pass


def test_a_cut_that_never_heals_fails_recovery(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    done = threading.Event()
    saboteur = threading.Thread(target=keep_the_link_cut, args=(runs, done), daemon=True)
    saboteur.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "cli", "rehearse", "--plan", str(cut_only_plan(tmp_path)),
             "--run-dir", str(runs), "--output", "json"],
            cwd=ROOT, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        done.set()
        saboteur.join(10)
    verdict = json.loads(result.stdout)
    statuses = {e["slo_id"]: e for e in verdict["evaluations"]}
    assert result.returncode == 1, statuses
    recover = statuses["orders-recover"]
    assert recover["status"] == "fail", recover
    assert "network-cut not recovered" in recover["reason"], recover
    assert statuses["error-ratio"]["status"] == "fail"  # steady state is not excused
