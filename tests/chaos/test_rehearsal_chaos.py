"""A real rehearsal with the default plan's faults, moved into a 25 s flood."""

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
    # Far enough apart that each hypothesis is checked after the previous fault healed.
    for old, new in (("duration: 60s", "duration: 25s"), ("offset: 20s", "offset: 3s"),
                     ("offset: 35s", "offset: 9s"), ("offset: 45s", "offset: 17s"),
                     ("duration: 8s", "duration: 3s")):  # fmt: skip
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "peak.yaml"
    path.write_text(text)
    return path


def test_the_faults_run_on_time_revert_and_are_listed_in_the_verdict(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "rehearse", "--plan", str(short_plan(tmp_path)),
         "--run-dir", str(runs), "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]
    verdict = json.loads(done.stdout)
    faults = [r for r in verdict["reasons"] if r.startswith("fault ")]
    names = [f.split()[1] for f in faults]
    assert names == ["kill-replica", "network-cut", "store-offline"], verdict["reasons"]
    (run,) = runs.iterdir()
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    finished = [e["exit_code"] for e in events if e["type"] == "chaos_finished"]
    assert len(finished) == 3 and set(finished) <= {0, 1}, events[-10:]  # 1: deviated
    started = {e["id"] for e in events if e["type"] == "fault_started"}
    assert started == {e["id"] for e in events if e["type"] == "fault_stopped"}
    assert (run / "chaos-1-kill-replica.journal.json").is_file()
    assert (run / "chaos-2-network-cut.journal.json").is_file()
    assert (run / "chaos-3-store-offline.journal.json").is_file()
    assert any(r.startswith("store outage ") for r in verdict["reasons"]), verdict["reasons"]
    assert json.loads((run / "verdict.json").read_text())["reasons"] == verdict["reasons"]
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if "chaos.runner" in (p.info["cmdline"] or [])
    ]
    assert leftovers == []
