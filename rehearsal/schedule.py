"""The chaos schedule of a rehearsal: start each step on time, watch it, stop it when due.

A background thread follows the run's timeline (``events.jsonl``, read as it grows):
it starts each ``plan.chaos`` step ``offset`` after ``load_started``, reaps every
runner as soon as it exits (``chaos_finished``), and when the load ends
(``load_finished``) stops every step whose fault is still active, so no fault outlives
the flood into the settle phase. Leaving the block by an exception (a signal, a crash)
stops every running step; every stop is recorded (``chaos_stopped``) and the runner
plays its rollbacks. Nothing here judges: the gate reads these events.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from chaos.catalog import experiment_path
from collectors.rundir import EventLog, RunDir
from rehearsal.chaos import chaos_variables
from rehearsal.seams import ChaosLauncher, StepProcess
from slo.plan import ChaosStep, Plan
from slo.policy import policy
from slo.runfiles import EVENTS_FILE

__all__ = ["POLL_S", "ChaosSchedule", "EventTail"]

POLL_S = 0.25
"""How often the schedule looks at the timeline and its runners."""


class EventTail:
    """Reads the complete lines appended to ``events.jsonl`` since the last call."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0

    def new(self) -> list[dict[str, Any]]:
        try:
            with self._path.open("rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # a line still being written waits for next time
        self._offset += end
        events = []
        for line in data[:end].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the gate reports a corrupt timeline; the schedule carries on
            if isinstance(event, dict):
                events.append(event)
        return events


@dataclass
class _Child:
    index: int
    step: ChaosStep
    proc: StepProcess
    started: float
    stopping: bool = False


class ChaosSchedule:
    """Runs the plan's chaos steps beside the load (a context manager; see the module doc)."""

    def __init__(
        self,
        plan: Plan,
        run: RunDir,
        events: EventLog,
        *,
        launcher: ChaosLauncher,
        handle: Path | None,
    ) -> None:
        self._plan = plan
        self._run = run
        self._events = events
        self._launcher = launcher
        self._handle = handle
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._running: list[_Child] = []
        self._active: dict[str, set[str]] = {}  # experiment -> fault ids not yet stopped
        self._tail = EventTail(run.file(EVENTS_FILE))
        self._thread = threading.Thread(target=self._schedule, name="peakops-chaos", daemon=True)

    def __enter__(self) -> ChaosSchedule:
        if self._plan.chaos:
            for step in self._plan.chaos:
                experiment_path(step.experiment)  # an unknown name fails before the flood
            self._launcher.start()
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cancel.set()
        if self._thread.is_alive():
            self._thread.join(10)
        if exc is not None:
            for child in self._children():
                self._stop(child, f"the rehearsal stopped ({_why(exc)})")
        for child in self._children():
            self._wait(child)
        if self._plan.chaos:
            self._launcher.close()

    # -- the thread ------------------------------------------------------------------

    def _schedule(self) -> None:
        try:
            load = self._await_load_start()
            if load is None:
                return
            started_at, metrics_url = load
            pending = sorted(enumerate(self._plan.chaos, start=1), key=lambda s: s[1].offset_s)
            load_over = False
            while not self._cancel.is_set():
                while pending and started_at + pending[0][1].offset_s <= time.time():
                    index, step = pending.pop(0)
                    if load_over:
                        self._skip(index, step, "the load ended before its offset")
                    else:
                        self._start(index, step, metrics_url)
                load_over = self._follow() or load_over
                self._reap()
                self._cancel.wait(POLL_S)
            for index, step in pending:
                self._skip(index, step, "the load ended before its offset")
        except Exception as err:  # recorded for the gate, which judges every step not started
            self._events.emit("chaos_schedule_failed", error=f"{type(err).__name__}: {err}")

    def _follow(self) -> bool:
        """Track active faults; at the end of the load, stop the steps still faulting."""
        ended = False
        for event in self._tail.new():
            kind, experiment = event.get("type"), str(event.get("experiment", ""))
            if kind == "fault_started":
                self._active.setdefault(experiment, set()).add(str(event.get("id")))
            elif kind == "fault_stopped":
                self._active.get(experiment, set()).discard(str(event.get("id")))
            elif kind == "load_finished":
                ended = True
        if ended:
            for child in self._children():
                if self._active.get(child.step.experiment):
                    self._stop(child, "the load ended with its fault still active")
        return ended

    def _await_load_start(self) -> tuple[float, str] | None:
        deadline = time.monotonic() + policy().chaos.load_start_timeout_s
        while not self._cancel.wait(0.1):
            for event in self._tail.new():
                if event.get("type") == "load_started":
                    return float(event["ts"]), str(event.get("metrics_url") or "")
            if time.monotonic() > deadline:
                break
        for index, step in enumerate(self._plan.chaos, start=1):
            self._skip(index, step, "the load never started")
        return None

    # -- steps -------------------------------------------------------------------------

    def _start(self, index: int, step: ChaosStep, metrics_url: str) -> None:
        variables = chaos_variables(self._plan, step, metrics_url=metrics_url, handle=self._handle)
        proc = self._launcher.launch(index, step, variables, self._run)
        with self._lock:
            self._running.append(_Child(index, step, proc, time.monotonic()))
        self._events.emit(
            "chaos_started", experiment=step.experiment, index=index,
            offset_s=step.offset_s, duration_s=step.duration_s, pid=proc.pid,
        )  # fmt: skip

    def _skip(self, index: int, step: ChaosStep, reason: str) -> None:
        self._events.emit("chaos_skipped", experiment=step.experiment, index=index, reason=reason)

    def _children(self) -> list[_Child]:
        with self._lock:
            return list(self._running)

    def _reap(self) -> None:
        """Record every runner that has exited (waiting on it: no zombie is left)."""
        for child in self._children():
            code = child.proc.poll()
            if code is not None:
                self._finished(child, code)

    def _finished(self, child: _Child, code: int) -> None:
        with self._lock:
            if child not in self._running:
                return
            self._running.remove(child)
        self._events.emit(
            "chaos_finished", experiment=child.step.experiment, index=child.index, exit_code=code
        )

    def _stop(self, child: _Child, reason: str) -> None:
        if child.stopping or child.proc.poll() is not None:
            return
        child.stopping = True
        self._events.emit(
            "chaos_stopped", experiment=child.step.experiment, index=child.index, reason=reason
        )
        child.proc.send_signal(signal.SIGTERM)  # it plays its rollbacks

    def _wait(self, child: _Child) -> None:
        """Wait for a runner to end: its whole step, or its rollbacks once stopped."""
        grace = policy().chaos
        if child.stopping:
            remaining = grace.rollback_grace_s
        else:
            budget = (child.step.duration_s or 0) + grace.child_grace_s
            remaining = max(1.0, child.started + budget - time.monotonic())
        try:
            code = child.proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            if not child.stopping:
                self._stop(child, f"it overran its duration by {grace.child_grace_s:g} s")
                return self._wait(child)
            child.proc.kill()  # its faults lapse with their leases
            code = child.proc.wait()
        self._finished(child, code)
        return None


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else type(exc).__name__
