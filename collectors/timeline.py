"""Read a run's timeline (``events.jsonl``) into what the gate judges: the load window,
the fault windows, what each chaos step did, and how complete the stock measurements were.

One pass over the events, each checked once as it is read (``parse_event``: a record
without the fields its type promises is a ``RunDirError`` naming file and line). A fault
without a recorded stop (its injector was killed) lasts until its lease expiry
(``expires_ts``), or, for runs that did not record one, until the end of the run. Chaos
outcomes are matched to the plan's steps by index.

``run_timeline`` also knows where the fault windows came from. When ``events.jsonl``
has no fault event (missing, emptied, or its fault lines lost) it reads them from the
chaos journals instead (``collectors.journals``) and says so. When neither has one, the
windows are known only if nothing could have injected a fault: the plan scheduled no
chaos, or every scheduled step was skipped or left a journal (a runner writes its
journal last, so a journal without a fault is a step that injected none). Otherwise
they are unknown (``faults_known`` false) and the objectives that need them say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from collectors.journals import Journals, fault_id, read_journals
from collectors.jsonl import (
    RecordError,
    count,
    flag,
    integer,
    maybe_number,
    maybe_text,
    maybe_unix_time,
    parse_jsonl,
    text,
    unix_time,
)
from collectors.rundir import RunDir
from slo.errors import RunDirError
from slo.experiments import ChaosRecord, StepRecord
from slo.runfiles import EVENTS_FILE, chaos_log
from slo.timeline import FaultWindow

__all__ = [
    "FROM_EVENTS",
    "FROM_JOURNALS",
    "Event",
    "FaultSpan",
    "Probing",
    "RunTimeline",
    "parse_event",
    "read_timeline",
    "run_timeline",
]

FROM_EVENTS = "events"
FROM_JOURNALS = "journals"

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Event:
    """One checked event: its time, its type and the fields of that type, typed."""

    ts: float
    type: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def _fault(record: Record) -> str:
    name = text(record, "fault")
    if not name.strip():
        raise RecordError("field 'fault': expected a fault name, got ''")
    return name


def _index(record: Record) -> int:
    index = count(record, "index")
    if index < 1:
        raise RecordError(f"field 'index': expected a step number from 1, got {index}")
    return index


def _step(record: Record) -> dict[str, Any]:
    return {"index": _index(record), "experiment": text(record, "experiment", "")}


_FIELDS: dict[str, Callable[[Record], dict[str, Any]]] = {
    "load_finished": lambda r: {"interrupted": flag(r, "interrupted", False)},
    "fault_started": lambda r: {
        "id": fault_id(r), "fault": _fault(r),
        "expires_ts": maybe_unix_time(r, "expires_ts"), "experiment": maybe_text(r, "experiment"),
    },
    "fault_stopped": lambda r: {"id": fault_id(r)},
    "chaos_started": _step,
    "chaos_finished": lambda r: {**_step(r), "exit_code": integer(r, "exit_code")},
    "chaos_skipped": lambda r: {**_step(r), "reason": maybe_text(r, "reason")},
    "chaos_stopped": lambda r: {**_step(r), "reason": maybe_text(r, "reason")},
    "chaos_halted": lambda r: {
        "fault": maybe_text(r, "fault"), "burn": maybe_text(r, "burn"),
        "burn_rate": maybe_number(r, "burn_rate"),
        "stop_burn_rate": maybe_number(r, "stop_burn_rate"),
    },
    "chaos_schedule_failed": lambda r: {"error": maybe_text(r, "error")},
    "probes_finished": lambda r: {
        "probe_reads": count(r, "probe_reads", 0), "probe_errors": count(r, "probe_errors", 0),
    },
    "probe_failed": lambda r: {"error": maybe_text(r, "error"), "call": maybe_text(r, "call")},
    "unknown_resolved": lambda r: {
        "unknown": count(r, "unknown", 0), "resolved": count(r, "resolved", 0),
        "error": maybe_text(r, "error"),
    },
}  # fmt: skip
"""The fields the gate reads, per event type (docs/run-directory.md); others pass unread."""


def parse_event(record: Record, where: str = "") -> Event:
    """One ``events.jsonl`` record, checked: ``ts``, ``type`` and its type's fields."""
    kind = text(record, "type")
    check = _FIELDS.get(kind)
    return Event(unix_time(record, "ts"), kind, check(record) if check else {})


@dataclass(frozen=True)
class FaultSpan:
    """One fault as the timeline recorded it: ``stopped`` is None when no stop was
    recorded (then ``end`` is its lease expiry, or the end of the run)."""

    id: str
    name: str
    start: float
    stopped: float | None
    end: float

    def window(self) -> FaultWindow:
        return FaultWindow(self.name, self.start, self.end, stopped=self.stopped is not None)


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
    """The parts of ``events.jsonl`` the gate needs (times are Unix seconds).

    ``events`` counts the records of ``events.jsonl`` (0: missing or empty).
    ``fault_source`` says where the fault windows came from (``FROM_EVENTS``,
    ``FROM_JOURNALS``; None when neither had one); ``faults_known`` whether the run's
    fault windows are known at all (module docstring); ``notes`` says so for people.
    """

    events: int = 0
    load_start: float | None = None
    load_end: float | None = None
    load_interrupted: bool = False
    first_ts: float | None = None
    last_ts: float | None = None
    spans: tuple[FaultSpan, ...] = ()
    chaos: ChaosRecord = field(default_factory=ChaosRecord)
    probing: Probing | None = None
    fault_source: str | None = None
    faults_known: bool = False
    notes: tuple[str, ...] = ()

    @property
    def faults(self) -> tuple[FaultWindow, ...]:
        """The fault windows, in time order."""
        return tuple(span.window() for span in self.spans)

    @property
    def drift_faults_known(self) -> bool:
        """Did the drift checker see the fault windows? It reads ``events.jsonl`` alone,
        so not those recovered from the journals."""
        return self.faults_known and self.fault_source != FROM_JOURNALS

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
        self.spans: list[FaultSpan] = []
        self.fault_events = 0
        self.steps: dict[int, dict[str, Any]] = {}
        self.halts: list[Event] = []
        self.schedule_error: str | None = None
        self.probing: dict[str, Any] = {}

    def take(self, event: Event, *, counted: bool = True) -> None:
        self.count += counted
        ts = event.ts
        self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
        self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        kind = event.type
        if kind == "load_started" and self.load_start is None:
            self.load_start = ts
        elif kind == "load_finished":
            self.load_end = ts
            self.interrupted = bool(event.get("interrupted"))
        elif kind == "fault_started":
            self.fault_events += 1
            self.open[event.get("id")] = event
        elif kind == "fault_stopped":
            self.fault_events += 1
            started = self.open.pop(event.get("id"), None)
            if started is not None:
                self.spans.append(
                    FaultSpan(started.get("id"), started.get("fault"), started.ts, ts, ts)
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
            self.schedule_error = event.get("error") or "unknown error"
            return
        index = event.get("index")
        step = self.steps.setdefault(index, {"experiment": event.get("experiment")})
        if kind == "chaos_started":
            step.update(started=ts)
        elif kind == "chaos_finished":
            step.update(finished=ts, exit_code=event.get("exit_code"))
        elif kind == "chaos_skipped":
            step.update(skipped=event.get("reason") or "the load ended before its offset")
        elif kind == "chaos_stopped":
            step.update(stopped=event.get("reason") or "the rehearsal stopped it")

    def _probing(self, kind: str, event: Event) -> None:
        if kind == "probes_finished":
            self.probing.update(
                reads=event.get("probe_reads"), errors=event.get("probe_errors"), finished=True
            )
        elif kind == "probe_failed":
            self.probing["failure"] = f"{event.get('error')} (in {event.get('call') or '?'})"
        elif kind == "unknown_resolved":
            self.probing.update(unknown=event.get("unknown"), resolved=event.get("resolved"))
            if event.get("error"):
                self.probing["resolve_failure"] = event.get("error")

    def result(self) -> RunTimeline:
        end_of_run = self.load_end if self.load_end is not None else self.last_ts
        spans = list(self.spans)
        for started in self.open.values():  # no stop recorded: its injector died
            expires = started.get("expires_ts")
            end = expires if expires is not None else (end_of_run or started.ts)
            spans.append(FaultSpan(started.get("id"), started.get("fault"), started.ts, None, end))
        spans.sort(key=lambda w: (w.start, w.name))
        probing = Probing(**self.probing) if self.probing else None
        return RunTimeline(
            events=self.count,
            load_start=self.load_start,
            load_end=self.load_end,
            load_interrupted=self.interrupted,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            spans=tuple(spans),
            chaos=ChaosRecord(self._steps(), self.schedule_error),
            probing=probing,
            fault_source=FROM_EVENTS if self.fault_events else None,
            faults_known=self.count > 0,
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
            if halt.get("fault") == name and start <= halt.ts <= end:
                return _halt_line(halt, halt.ts - origin)
        return None


_CHAOS = frozenset(
    {"chaos_started", "chaos_finished", "chaos_skipped", "chaos_stopped", "chaos_halted",
     "chaos_schedule_failed"}
)  # fmt: skip
_PROBING = frozenset({"probes_finished", "probe_failed", "unknown_resolved"})


def _halt_line(halt: Event, at_s: float) -> str:
    what = halt.get("burn") or "error-budget"
    return (
        f"halted by its stop condition at {at_s:.1f}s: {what} burn {halt.get('burn_rate')}x "
        f"(stop at {halt.get('stop_burn_rate')}x); rolled back"
    )


def read_timeline(events: Iterable[Record | Event]) -> RunTimeline:
    """Read events (in file order; records or checked ``Event``s) into a ``RunTimeline``.

    Without the plan or the journals: the fault windows count as known when there was
    any event at all. A bad record raises ``RunDirError`` naming its position.
    """
    reader = _Reader()
    for number, event in enumerate(events, start=1):
        reader.take(event if isinstance(event, Event) else _checked(event, f"event {number}"))
    return reader.result()


def run_timeline(run: RunDir, experiments: Sequence[str] = ()) -> RunTimeline:
    """The run's timeline, fault windows from the journals when ``events.jsonl`` has none.

    ``experiments``: the chaos steps of the plan the run is judged by, in order (see the
    module docstring for when the fault windows are known).
    """
    reader = _Reader()
    for event in parse_jsonl(run.file(EVENTS_FILE), parse_event):
        reader.take(event)
    if reader.fault_events:
        return replace(reader.result(), fault_source=FROM_EVENTS, faults_known=True)
    journals = read_journals(run.path)
    for ts, kind, fields in journals.events:
        reader.take(Event(ts, kind, fields), counted=False)
    timeline = reader.result()
    if journals.events:
        note = (
            f"fault windows read from the chaos journals ({', '.join(journals.sources)}): "
            f"{EVENTS_FILE} has no fault event"
        )
        return replace(timeline, fault_source=FROM_JOURNALS, faults_known=True, notes=(note,))
    unaccounted = _unaccounted(experiments, timeline.chaos, journals)
    if not unaccounted:
        return replace(timeline, fault_source=None, faults_known=True)
    note = (
        f"fault windows unknown: neither {EVENTS_FILE} nor a chaos journal has a fault event, "
        f"and nothing shows that chaos step {', '.join(unaccounted)} injected none"
    )
    return replace(timeline, fault_source=None, faults_known=False, notes=(note,))


def _unaccounted(experiments: Sequence[str], chaos: ChaosRecord, journals: Journals) -> list[str]:
    """The scheduled steps that may have injected a fault nobody recorded."""
    skipped = {(s.index, s.experiment) for s in chaos.steps if s.skipped and not s.started}
    return [
        f"{index} ({name})"
        for index, name in enumerate(experiments, start=1)
        if (index, name) not in skipped and (index, name) not in journals.steps
    ]


def _checked(record: Record, where: str) -> Event:
    try:
        return parse_event(record, where)
    except RecordError as err:
        raise RunDirError(f"{where}: {err}") from err
