"""A failing gate after the flood rolls the release back, and a probe flood shows recovery.

``rehearse`` with fakes (no processes): a platform that runs v2 after v1 and records its
rollback, and a load that writes a flood which has just ended (its records in the past,
``load_finished`` now), slow for the release and fast for the probe that follows the
rollback. The in-flood analysis never concludes here (``failures: 100``), so the
rollback is the gate's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from collectors.latency import IntervalRecorder
from collectors.rundir import EventLog, RunDir
from platforms.base import Endpoints, FaultTargets, Health, Platform
from rehearsal.run import rehearse
from rehearsal.seams import Seams
from slo.loader import load_plan_text
from slo.plan import Plan
from slo.runfiles import EVENTS_FILE, LATENCY_FILE, LOAD_FILE, PROBE_DIR, VERDICT_FILE

PLAN = """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 6s, profile: constant, baseline: 1200}
rollback:
  on: fail
  probe: 4s
  analysis: {failures: 100}
slos:
  minSamples: 20
  objectives:
    - {id: place-p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: errors, kind: error_ratio, max: 0.05}
"""


@dataclass
class ReleasedPlatform:
    """Runs v2 (shipped after v1); a rollback puts v1 back."""

    kind: str = "local"
    history: list[str] = field(default_factory=lambda: ["v1", "v2"])
    calls: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def endpoints(self) -> Endpoints:
        return Endpoints(base_url="http://127.0.0.1:9")

    def current_revision(self) -> str | None:
        return self.history[-1]

    def revisions(self) -> list[str]:
        return list(self.history)

    def deploy(self, revision: str) -> None:
        self.history.append(revision)

    def rollback(self, to_revision: str | None = None) -> str:
        self.calls.append(f"rollback to {to_revision}")
        self.history.append(str(to_revision))
        return str(to_revision)

    def health(self) -> Health:
        return Health(True, "fake")

    def fault_targets(self) -> FaultTargets:
        return FaultTargets(kind="fake")

    def reap_faults(self) -> list[str]:
        return []


class JustEndedLoad:
    """Each call writes a flood of ``duration_s`` that ends now: 20 orders a second, slow
    while v2 runs, fast once the platform is back on v1."""

    def __init__(self, platform: ReleasedPlatform) -> None:
        self.platform = platform
        self.runs: list[Path] = []

    def run(
        self, run: RunDir, endpoints: Endpoints, *, duration_s: float, grace_s: float,
        on_tick: Callable[[float], None],
    ) -> None:  # fmt: skip
        self.runs.append(run.path)
        latency_s = 0.400 if self.platform.current_revision() == "v2" else 0.010
        end = time.time()
        start = end - duration_s
        events = run.appender(EVENTS_FILE)
        events.append({"ts": start, "type": "load_started", "source": "load"})
        clock = [start]
        latency, load = run.appender(LATENCY_FILE), run.appender(LOAD_FILE)
        recorder = IntervalRecorder(latency.append, clock=lambda: clock[0])
        for second in range(int(duration_s)):
            for i in range(20):
                clock[0] = start + second + i / 20
                recorder.record("POST /orders", latency_s, ok=True)
            load.append({
                "t": start + second, "interval_s": 1.0, "source": "load",
                "arrivals_planned": 20, "arrivals_sent": 20, "arrivals_dropped": 0,
                "orders_confirmed": 20, "active_max": 1, "cpu_percent": 10.0,
                "planned": {"POST /orders": 20},
            })  # fmt: skip
        recorder.flush(final=True)
        events.append({"ts": end, "type": "load_finished", "interrupted": False})


def _rehearse(tmp_path: Path, text: str) -> tuple[ReleasedPlatform, JustEndedLoad, RunDir, int]:
    platform = ReleasedPlatform()
    load = JustEndedLoad(platform)

    def build(plan: Plan, run: RunDir, events: EventLog) -> Platform:
        return platform

    seams = Seams(platform=build, load=load, chaos=lambda: None)  # type: ignore[arg-type,return-value]
    result = rehearse(load_plan_text(text, "plan.yaml"), tmp_path, seams=seams)
    (path,) = tmp_path.iterdir()
    return platform, load, RunDir.open(path), result.verdict.exit_code


def _evaluations(run: RunDir) -> dict[str, dict[str, object]]:
    verdict = json.loads(run.file(VERDICT_FILE).read_text())
    return {e["slo_id"]: e for e in verdict["evaluations"]}


def test_a_release_that_failed_its_gate_is_rolled_back_and_the_probe_shows_recovery(
    tmp_path: Path,
) -> None:
    platform, load, run, exit_code = _rehearse(tmp_path, PLAN)
    assert exit_code == 1  # the release failed its gate, rolled back or not
    assert platform.calls.count("rollback to v1") == 1
    assert load.runs == [run.path, run.file(PROBE_DIR)]  # the flood, then the probe
    evaluations = _evaluations(run)
    assert evaluations["place-p99"]["status"] == "fail"
    assert evaluations["rollback"]["status"] == "pass"
    assert "rolled back to v1 by gate" in str(evaluations["rollback"]["reason"])
    recovery = evaluations["rollback-recovery"]
    assert recovery["status"] == "pass", recovery["reason"]
    assert "probe of" in str(recovery["reason"]) and "recovered" in str(recovery["reason"])
    kinds = [e["type"] for e in run.events()]
    assert kinds.index("rollback_finished") < kinds.index("probe_started")


def test_without_the_rollback_policy_a_failing_gate_rolls_nothing_back(tmp_path: Path) -> None:
    platform, load, run, exit_code = _rehearse(tmp_path, PLAN.replace("on: fail", "on: never"))
    assert exit_code == 1
    assert not [call for call in platform.calls if call.startswith("rollback")]
    assert load.runs == [run.path]
    assert not run.file(PROBE_DIR).exists()
