"""``rehearse`` with fakes for its seams (platform, load runner, chaos launcher): no processes.

The fake load writes what a real flood would (events, latency intervals, load records)
with synthetic times; the fake chaos step writes a fault window and exits with the code
a test chooses. What is checked is the orchestration: the verdict has one author and is
written once, chaos outcomes reach it, and Ctrl-C still gates what was recorded.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from collectors.latency import IntervalRecorder
from collectors.rundir import EventLog, RunDir
from platforms.base import Endpoints, FaultTargets, Health, Platform
from rehearsal.run import rehearse
from rehearsal.seams import Seams
from rehearsal.shutdown import Stopped
from rollout.gate import gate_run
from slo.loader import load_plan_text
from slo.plan import ChaosStep, Plan
from slo.runfiles import (
    EVENTS_FILE,
    HEADER_FILE,
    JUNIT_FILE,
    LATENCY_FILE,
    LOAD_FILE,
    SUMMARY_FILE,
    VERDICT_FILE,
)

PLAN = """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, profile: constant, baseline: 1200}
slos:
  minSamples: 20
  recoveryAllowance: 2s
  objectives:
    - {id: place-p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms,
       during: steady}
    - {id: errors, kind: error_ratio, max: 0.05}
"""
CHAOS = """
chaos:
  - {experiment: network-cut, offset: 0s, duration: 1s}
"""


@dataclass
class FakePlatform:
    """A platform that runs nothing and records what was asked of it."""

    kind: str = "fake"
    calls: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def endpoints(self) -> Endpoints:
        return Endpoints(base_url="http://127.0.0.1:9")

    def current_revision(self) -> str | None:
        return "v1"

    def revisions(self) -> list[str]:
        return ["v1"]

    def deploy(self, revision: str) -> None:
        self.calls.append(f"deploy {revision}")

    def rollback(self, to_revision: str | None = None) -> str:
        self.calls.append("rollback")
        return "v1"

    def health(self) -> Health:
        return Health(True, "fake")

    def fault_targets(self) -> FaultTargets:
        return FaultTargets(kind="fake")

    def reap_faults(self) -> list[str]:
        self.calls.append("reap_faults")
        return []


class FakeLoad:
    """Writes ``duration_s`` seconds of 20 orders a second, as a flood would record them."""

    def __init__(
        self, *, latency_s: float = 0.010, interrupt_at: int | None = None,
        chaos_started: threading.Event | None = None,
    ) -> None:  # fmt: skip
        self.latency_s = latency_s
        self.interrupt_at = interrupt_at
        self.chaos_started = chaos_started

    def run(
        self, run: RunDir, endpoints: Endpoints, *, duration_s: float, grace_s: float,
        on_tick: Callable[[float], None],
    ) -> None:  # fmt: skip
        t0 = time.time()
        events = run.appender(EVENTS_FILE)
        events.append({"ts": t0, "type": "load_started", "source": "load"})
        if self.chaos_started is not None:  # the schedule polls the timeline for the start
            assert self.chaos_started.wait(5), "the chaos step never started"
        clock = [t0]
        latency, load = run.appender(LATENCY_FILE), run.appender(LOAD_FILE)
        recorder = IntervalRecorder(latency.append, clock=lambda: clock[0])
        for second in range(int(duration_s)):
            if second == self.interrupt_at:  # Ctrl-C, as the terminal sends it
                recorder.flush(final=True)
                os.kill(os.getpid(), signal.SIGINT)
            for i in range(20):
                clock[0] = t0 + second + i / 20
                recorder.record("POST /orders", self.latency_s, ok=True)
            load.append({
                "t": t0 + second, "interval_s": 1.0, "source": "load", "arrivals_planned": 20,
                "arrivals_sent": 20, "arrivals_dropped": 0, "orders_confirmed": 20,
                "active_max": 1, "cpu_percent": 10.0, "planned": {"POST /orders": 20},
            })  # fmt: skip
            on_tick(second + 1)
        recorder.flush(final=True)
        events.append({"ts": t0 + duration_s, "type": "load_finished", "interrupted": False})


@dataclass
class FakeStep:
    code: int
    pid: int = 4242
    signals: list[int] = field(default_factory=list)

    def poll(self) -> int | None:
        return self.code

    def wait(self, timeout: float | None = None) -> int:
        return self.code

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)

    def kill(self) -> None:
        self.signals.append(9)


class FakeLauncher:
    """Each step writes a one-second fault window at its offset and exits ``code``."""

    def __init__(self, code: int, started: threading.Event) -> None:
        self.code = code
        self.started = started

    def start(self) -> None:
        pass

    def launch(
        self, index: int, step: ChaosStep, variables: Mapping[str, Any], run: RunDir
    ) -> FakeStep:
        origin = next(e["ts"] for e in run.events() if e["type"] == "load_started")
        events = run.appender(EVENTS_FILE)
        start = origin + step.offset_s
        events.append({"ts": start, "type": "fault_started", "fault": step.experiment, "id": "f1"})
        events.append({"ts": start + 1, "type": "fault_stopped", "fault": step.experiment,
                       "id": "f1"})  # fmt: skip
        self.started.set()
        return FakeStep(self.code)

    def close(self) -> None:
        pass


def seams(platform: FakePlatform, load: FakeLoad, launcher: FakeLauncher | None = None) -> Seams:
    def build(plan: Plan, run: RunDir, events: EventLog) -> Platform:
        return platform

    return Seams(
        platform=build, load=load, chaos=lambda: launcher or FakeLauncher(0, threading.Event())
    )


def plan(chaos: bool = False) -> Plan:
    return load_plan_text(PLAN + (CHAOS if chaos else ""), "plan.yaml")


def only_run(root: Path) -> RunDir:
    (path,) = root.iterdir()
    return RunDir.open(path)


def test_the_verdict_is_written_once_by_the_gate_and_regating_reproduces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[str] = []
    original = RunDir.write_json

    def counting(self: RunDir, name: str, data: Any) -> None:
        writes.append(name)
        original(self, name, data)

    monkeypatch.setattr(RunDir, "write_json", counting)
    platform = FakePlatform()
    result = rehearse(plan(), tmp_path, seams=seams(platform, FakeLoad()))
    assert result.verdict.status.value == "pass" and result.verdict.exit_code == 0
    assert writes.count(VERDICT_FILE) == 1
    assert platform.calls == ["start", "stop"]
    run = only_run(tmp_path)
    before = {
        name: run.file(name).read_bytes() for name in (VERDICT_FILE, JUNIT_FILE, SUMMARY_FILE)
    }
    gate_run(run, plan())
    after = {name: run.file(name).read_bytes() for name in before}
    assert after == before
    assert json.loads(run.file(HEADER_FILE).read_text())["status"] == "completed"
    verdicts = [e for e in run.events() if e["type"] == "verdict"]
    assert [(v["status"], v["exit_code"]) for v in verdicts] == [("pass", 0)]


def test_a_deviated_chaos_step_fails_the_verdict(tmp_path: Path) -> None:
    started = threading.Event()
    load = FakeLoad(chaos_started=started)
    result = rehearse(plan(chaos=True), tmp_path,
                      seams=seams(FakePlatform(), load, FakeLauncher(1, started)))  # fmt: skip
    chaos = next(e for e in result.verdict.evaluations if e.kind == "chaos")
    assert (chaos.slo_id, chaos.status.value) == ("chaos-1-network-cut", "fail")
    assert result.verdict.status.value == "fail" and result.verdict.exit_code == 1
    assert "fault network-cut 0.0s\N{EN DASH}1.0s" in result.verdict.reasons


def test_a_fault_left_behind_makes_the_rehearsal_exit_5(tmp_path: Path) -> None:
    started = threading.Event()
    load = FakeLoad(chaos_started=started)
    result = rehearse(plan(chaos=True), tmp_path,
                      seams=seams(FakePlatform(), load, FakeLauncher(5, started)))  # fmt: skip
    assert result.verdict.exit_code == 5


def test_a_fault_is_judged_by_its_own_phase_not_by_loosening_steady_state(tmp_path: Path) -> None:
    started = threading.Event()
    load = FakeLoad(latency_s=0.010, chaos_started=started)
    platform = FakePlatform()
    result = rehearse(plan(chaos=True), tmp_path,
                      seams=seams(platform, load, FakeLauncher(0, started)))  # fmt: skip
    steady = next(e for e in result.verdict.evaluations if e.slo_id == "place-p99")
    assert steady.status.value == "pass" and "in steady state" in steady.reason
    assert "reap_faults" in platform.calls  # swept before the flood


def test_ctrl_c_still_gates_what_was_recorded(tmp_path: Path) -> None:
    platform = FakePlatform()
    with pytest.raises(Stopped) as stopped:
        rehearse(plan(), tmp_path, seams=seams(platform, FakeLoad(interrupt_at=5)))
    assert stopped.value.signum == signal.SIGINT
    assert stopped.value.result.verdict.status.value == "inconclusive"
    run = only_run(tmp_path)
    assert platform.calls == ["start", "stop"]
    verdict = json.loads(run.file(VERDICT_FILE).read_text())
    assert verdict["status"] == "inconclusive" and verdict["exit_code"] == 4
    assert "interrupted" in verdict["reasons"][0], verdict["reasons"]
    place = next(e for e in verdict["evaluations"] if e["slo_id"] == "place-p99")
    assert place["samples"] == 100  # the five seconds recorded before Ctrl-C
    header = json.loads(run.file(HEADER_FILE).read_text())
    assert (header["status"], header["signal"]) == ("interrupted", "SIGINT")


class StuckLoad(FakeLoad):
    """A flood that never returns (a hung load process)."""

    def run(self, run: RunDir, endpoints: Endpoints, **_: Any) -> None:
        run.appender(EVENTS_FILE).append({"ts": time.time(), "type": "load_started"})
        threading.Event().wait()


@pytest.mark.integration  # waits for a real timer
def test_past_its_deadline_a_rehearsal_is_stopped_reverted_and_inconclusive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rehearsal.run.deadline_s", lambda plan: 0.5)
    platform = FakePlatform()
    with pytest.raises(Stopped) as stopped:
        rehearse(plan(), tmp_path, seams=seams(platform, StuckLoad()))
    assert stopped.value.signum == signal.SIGALRM and "deadline" in stopped.value.reason
    assert platform.calls == ["start", "stop"]
    verdict = json.loads(only_run(tmp_path).file(VERDICT_FILE).read_text())
    assert verdict["status"] == "inconclusive"
    assert "deadline" in verdict["reasons"][0], verdict["reasons"]
