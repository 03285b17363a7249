"""Read a run's timeline (``events.jsonl``) into what the gate judges: the load window,
the fault windows, what each chaos step did, and how complete the stock measurements were.

One pass over the events. A fault without a recorded stop (its injector was killed)
lasts until its lease expiry (``expires_ts``), or, for runs that did not record one,
until the end of the run. Chaos outcomes are matched to the plan's steps by index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from slo.experiments import ChaosRecord, StepRecord
from slo.runfiles import chaos_log
from slo.timeline import FaultWindow

__all__ = ["Probing", "RunTimeline", "read_timeline"]

Event = dict[str, Any]


@dataclass(frozen=True)
class Probing:
    """What the stock watch said of itself (``probes_finished``, ``unknown_resolved`` ...)."""

    reads: int = 0
    errors: int = 0
    failure: str | None = None
    unknown: int = 0
    resolved: int = 0
    resolve_failure: str | None = None
    finished: bool = False


@dataclass(frozen=True)
class RunTimeline:
    """The parts of ``events.jsonl`` the gate needs (times are Unix seconds)."""

    events: int = 0
    load_start: float | None = None
    load_end: float | None = None
    load_interrupted: bool = False
    first_ts: float | None = None
    last_ts: float | None = None
    faults: tuple[FaultWindow, ...] = ()
    chaos: ChaosRecord = field(default_factory=ChaosRecord)
    probing: Probing | None = None

    @property
    def origin(self) -> float:
        """Where reported times count from: the load start, else the first event."""
        if self.load_start is not None:
            return self.load_start
        return self.first_ts if self.first_ts is not None else 0.0


class _Reader:
    """Accumulates one pass over the events."""

    def __init__(self) -> None:
        self.count = 0
        self.load_start: float | None = None
        self.load_end: float | None = None
        self.interrupted = False
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.open: dict[str, Event] = {}
        self.windows: list[FaultWindow] = []
        self.steps: dict[int, dict[str, Any]] = {}
        self.halts: list[Event] = []
        self.schedule_error: str | None = None
        self.probing: dict[str, Any] = {}

    def take(self, event: Event) -> None:
        self.count += 1
        ts = float(event.get("ts", 0.0))
        self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
        self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        kind = event.get("type")
        if kind == "load_started" and self.load_start is None:
            self.load_start = ts
        elif kind == "load_finished":
            self.load_end = ts
            self.interrupted = bool(event.get("interrupted", False))
        elif kind == "fault_started":
            self.open[str(event["id"])] = event
        elif kind == "fault_stopped":
            started = self.open.pop(str(event["id"]), None)
            if started is not None:
                self.windows.append(
                    FaultWindow(str(started["fault"]), float(started["ts"]), ts, stopped=True)
                )
        elif kind in _CHAOS:
            self._chaos(kind, event, ts)
        elif kind in _PROBING:
            self._probing(kind, event)

    def _chaos(self, kind: str, event: Event, ts: float) -> None:
        if kind == "chaos_halted":
            self.halts.append(event)
            return
        if kind == "chaos_schedule_failed":
            self.schedule_error = str(event.get("error", "unknown error"))
            return
        index = event.get("index")
        if not isinstance(index, int):
            return
        step = self.steps.setdefault(index, {"experiment": str(event.get("experiment", ""))})
        if kind == "chaos_started":
            step.update(started=ts)
        elif kind == "chaos_finished":
            step.update(finished=ts, exit_code=int(event["exit_code"]))
        elif kind == "chaos_skipped":
            step.update(skipped=str(event.get("reason") or "the load ended before its offset"))
        elif kind == "chaos_stopped":
            step.update(stopped=str(event.get("reason") or "the rehearsal stopped it"))

    def _probing(self, kind: str, event: Event) -> None:
        if kind == "probes_finished":
            self.probing.update(
                reads=int(event.get("probe_reads", 0)),
                errors=int(event.get("probe_errors", 0)),
                finished=True,
            )
        elif kind == "probe_failed":
            self.probing["failure"] = f"{event.get('error')} (in {event.get('call', '?')})"
        elif kind == "unknown_resolved":
            self.probing.update(
                unknown=int(event.get("unknown", 0)), resolved=int(event.get("resolved", 0))
            )
            if event.get("error"):
                self.probing["resolve_failure"] = str(event["error"])

    def result(self) -> RunTimeline:
        end_of_run = self.load_end if self.load_end is not None else self.last_ts
        windows = list(self.windows)
        for started in self.open.values():  # no stop recorded: its injector died
            expires = started.get("expires_ts")
            end = float(expires) if expires is not None else (end_of_run or float(started["ts"]))
            windows.append(FaultWindow(str(started["fault"]), float(started["ts"]), end, False))
        windows.sort(key=lambda w: (w.start, w.name))
        probing = Probing(**self.probing) if self.probing else None
        return RunTimeline(
            events=self.count,
            load_start=self.load_start,
            load_end=self.load_end,
            load_interrupted=self.interrupted,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            faults=tuple(windows),
            chaos=ChaosRecord(self._steps(), self.schedule_error),
            probing=probing,
        )

    def _steps(self) -> tuple[StepRecord, ...]:
        origin = self.load_start if self.load_start is not None else (self.first_ts or 0.0)
        records = []
        for index, step in sorted(self.steps.items()):
            name = step["experiment"]
            records.append(
                StepRecord(
                    index=index,
                    experiment=name,
                    started="started" in step,
                    exit_code=step.get("exit_code"),
                    skipped=step.get("skipped"),
                    stopped=step.get("stopped"),
                    halted=self._halt(name, step, origin),
                    log=chaos_log(index, name),
                )
            )
        return tuple(records)

    def _halt(self, name: str, step: dict[str, Any], origin: float) -> str | None:
        start, end = step.get("started"), step.get("finished", float("inf"))
        if start is None:
            return None
        for halt in self.halts:
            ts = float(halt.get("ts", 0.0))
            if halt.get("fault") == name and start <= ts <= end:
                return _halt_line(halt, ts - origin)
        return None


_CHAOS = frozenset(
    {"chaos_started", "chaos_finished", "chaos_skipped", "chaos_stopped", "chaos_halted",
     "chaos_schedule_failed"}
)  # fmt: skip
_PROBING = frozenset({"probes_finished", "probe_failed", "unknown_resolved"})


def _halt_line(halt: Event, at_s: float) -> str:
    what = str(halt.get("burn", "error-budget"))
    return (
        f"halted by its stop condition at {at_s:.1f}s: {what} burn {halt.get('burn_rate')}x "
        f"(stop at {halt.get('stop_burn_rate')}x); rolled back"
    )


def read_timeline(events: Iterable[Event]) -> RunTimeline:
    """Read the events (in file order) into a ``RunTimeline``."""
    reader = _Reader()
    for event in events:
        reader.take(event)
    return reader.result()
