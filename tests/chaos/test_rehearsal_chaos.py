"""A real rehearsal of the shipped plan with its three faults, compressed into a 42 s flood.

Only the offsets and durations change (each fault still followed by 10 s without one,
so its recovery can be timed): the verdict of the default plan on v1 is a pass, with
every fault judged by its own objectives and every chaos step's hypothesis held.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def short_plan(tmp_path: Path) -> Path:
    text = (ROOT / "peak.yaml").read_text()
    # A runner checks its hypothesis for 2 s before its fault and again after the 5 s
    # recovery allowance; the next fault starts after that, and >= 10 s after the last
    # one ended, so its recovery can be timed (threshold + window).
    for old, new in (("duration: 60s", "duration: 42s"), ("offset: 8s", "offset: 1s"),
                     ("offset: 18s", "offset: 13s"), ("offset: 32s", "offset: 27s"),
                     ("duration: 8s", "duration: 4s")):  # fmt: skip
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "peak.yaml"
    path.write_text(text)
    return path


def test_the_default_plan_passes_on_v1_with_every_fault_judged(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "rehearse", "--plan", str(short_plan(tmp_path)),
         "--run-dir", str(runs), "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    verdict = json.loads(done.stdout)
    statuses = {e["slo_id"]: (e["status"], e["reason"]) for e in verdict["evaluations"]}
    assert done.returncode == 0, statuses
    for step in ("chaos-1-kill-replica", "chaos-2-network-cut", "chaos-3-store-offline"):
        assert statuses[step][0] == "pass", statuses[step]
    assert statuses["orders-recover"][0] == "pass", statuses["orders-recover"]
    assert statuses["place-order-latency-under-faults"][0] == "pass"
    faults = [r for r in verdict["reasons"] if r.startswith("fault ")]
    assert [f.split()[1] for f in faults] == ["kill-replica", "network-cut", "store-offline"]
    (run,) = runs.iterdir()
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["exit_code"] for e in events if e["type"] == "chaos_finished"] == [0, 0, 0]
    started = {e["id"] for e in events if e["type"] == "fault_started"}
    assert started == {e["id"] for e in events if e["type"] == "fault_stopped"}
    for index, name in enumerate(("kill-replica", "network-cut", "store-offline"), start=1):
        assert (run / f"chaos-{index}-{name}.journal.json").is_file()
    assert any(r.startswith("store outage ") for r in verdict["reasons"]), verdict["reasons"]
    assert json.loads((run / "verdict.json").read_text())["reasons"] == verdict["reasons"]
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if "chaos.runner" in (p.info["cmdline"] or [])
    ]
    assert leftovers == []
