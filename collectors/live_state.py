"""What a rehearsal looks like right now, folded from its run directory as it grows.

``RunTail`` follows ``events.jsonl``, ``latency.jsonl`` and ``load.jsonl`` (reading
only what was appended since its last look) and ``LiveState`` folds their records into
a ``LiveSnapshot``: elapsed against planned load time, arrivals planned and sent, the
p95 latency and error ratio of the last few seconds (their HDR histograms merged),
orders a minute, the faults in place and the alerts firing. It is a view, never a
judge: a record it cannot use is counted and skipped (the gate reports bad records),
and the stock drift is not in it, because nothing records it until the gate runs.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from collectors.jsonl import open_stream
from collectors.latency import HdrDistribution, decode_histogram
from slo.runfiles import ALERT_FIRING, ALERT_RESOLVED, EVENTS_FILE, LATENCY_FILE, LOAD_FILE

__all__ = ["WINDOW_S", "JsonlTail", "LiveSnapshot", "LiveState", "RunTail"]

WINDOW_S = 5.0
"""The "last interval" of the live figures: the newest few seconds recorded."""

Record = Mapping[str, Any]


class JsonlTail:
    """The complete lines appended to one JSON-lines file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.skipped = 0  # lines that were not a JSON object

    def new(self) -> list[dict[str, Any]]:
        try:  # plain, or its .gz once the run compressed it (the last lines are read there)
            with open_stream(self.path) as stream:
                stream.seek(self.offset)
                data = stream.read()
        except (OSError, EOFError, zlib.error):  # not there yet; being replaced
            return []
        end = data.rfind(b"\n") + 1  # a line still being written waits for next time
        self.offset += end
        records = []
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                record = None
            if isinstance(record, dict):
                records.append(record)
            elif line.strip():
                self.skipped += 1
        return records


@dataclass(frozen=True)
class LiveSnapshot:
    """The rehearsal at one moment (None: nothing to say yet)."""

    phase: str
    elapsed_s: float
    planned_s: float
    arrivals_planned: float
    arrivals_sent: int
    arrivals_dropped: int
    window_s: float  # seconds the interval figures cover (0: none recorded yet)
    p95_ms: float | None
    error_ratio: float | None
    orders_per_min: float | None
    faults: tuple[str, ...]  # in place now
    faults_ended: int  # started earlier in the run, stopped (or their lease ran out) since
    alerts: tuple[str, ...]  # firing now
    skipped: int = 0  # records the view could not use


@dataclass(frozen=True)
class _Interval:
    """One checked interval record: when, how long, and what the view needs of it."""

    t: float
    span_s: float
    ok: int = 0
    fail: int = 0
    hist: str = ""
    confirmed: float = 0.0


@dataclass
class _Window:
    """Interval records of the newest ``span_s`` seconds (by their own ``t``)."""

    span_s: float
    records: deque[_Interval] = field(default_factory=deque)
    newest: float = -math.inf

    def add(self, record: _Interval) -> None:
        self.newest = max(self.newest, record.t)
        self.records.append(record)
        while self.records and self.records[0].t <= self.newest - self.span_s:
            self.records.popleft()

    def seconds(self) -> float:
        """The time the held records cover: distinct intervals times their length
        (several load processes each write one record per interval)."""
        return sum({r.t: r.span_s for r in self.records}.values())


class LiveState:
    """Folds a run's records into ``LiveSnapshot``s (``add_*``, then ``snapshot``)."""

    def __init__(self, planned_s: float, *, window_s: float = WINDOW_S) -> None:
        self.planned_s = planned_s
        self.phase = "starting"
        self.load_started: float | None = None
        self.load_finished: float | None = None
        self.planned = 0.0
        self.sent = 0
        self.dropped = 0
        self.latency = _Window(window_s)
        self.load = _Window(window_s)
        self.faults: dict[str, tuple[str, float | None]] = {}  # id -> (fault, expires_ts)
        self.faults_started = 0
        self.alerts: dict[str, str] = {}  # key -> "alert (severity)"
        self.skipped = 0

    def add_events(self, records: Iterable[Record]) -> None:
        for record in records:
            self._safely(self._event, record)

    def add_latency(self, records: Iterable[Record]) -> None:
        for record in records:
            self._safely(self._latency, record)

    def add_load(self, records: Iterable[Record]) -> None:
        for record in records:
            self._safely(self._load, record)

    def _safely(self, fold: Any, record: Record) -> None:
        try:
            fold(record)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.skipped += 1

    def _event(self, event: Record) -> None:
        kind = event["type"]
        if kind in _PHASES:
            self.phase = _PHASES[kind]
        if kind == "load_started":
            self.load_started = float(event["ts"])
            self.planned_s = float(event.get("duration_s") or self.planned_s)
        elif kind == "load_finished":
            self.load_finished = float(event["ts"])
        elif kind == "fault_started":
            expires = event.get("expires_ts")
            self.faults[str(event["id"])] = (str(event["fault"]), _maybe_float(expires))
            self.faults_started += 1
        elif kind == "fault_stopped":
            self.faults.pop(str(event["id"]), None)
        elif kind in (ALERT_FIRING, ALERT_RESOLVED):
            self._alert(kind, event)
        elif kind == "verdict":
            self.phase = f"verdict: {event['status']} (exit {event['exit_code']})"

    def _alert(self, kind: str, event: Record) -> None:
        labels = json.dumps(event.get("labels") or {}, sort_keys=True)
        key = f"{event['alert']}|{event.get('slo')}|{event.get('severity')}|{labels}"
        if kind == ALERT_FIRING:
            self.alerts[key] = f"{event['alert']} ({event.get('severity') or '?'})"
        else:
            self.alerts.pop(key, None)

    def _latency(self, record: Record) -> None:
        if not isinstance(record["hist"], str):
            raise TypeError("hist")
        ok, fail = int(record["ok"]), int(record["fail"])
        self.latency.add(_Interval(_time(record), _span(record), ok, fail, record["hist"]))

    def _load(self, record: Record) -> None:
        planned, sent = float(record["arrivals_planned"]), int(record["arrivals_sent"])
        dropped = int(record.get("arrivals_dropped", 0))
        confirmed = float(record.get("orders_confirmed", 0))
        self.load.add(_Interval(_time(record), _span(record), confirmed=confirmed))
        self.planned += planned
        self.sent += sent
        self.dropped += dropped

    def snapshot(self, now: float) -> LiveSnapshot:
        """The figures at ``now`` (Unix seconds: ends the elapsed time and fault leases)."""
        p95, errors = self._interval_latency()
        elapsed = self._elapsed(now)
        faults = sorted(f for f, ends in self.faults.values() if ends is None or now < ends)
        phase = self.phase
        if phase == _PHASES["load_started"] and elapsed >= self.planned_s:
            phase = "flood done: resolving orders, settling stock views"
        return LiveSnapshot(
            phase=phase,
            elapsed_s=elapsed,
            planned_s=self.planned_s,
            arrivals_planned=self.planned,
            arrivals_sent=self.sent,
            arrivals_dropped=self.dropped,
            window_s=self.latency.seconds(),
            p95_ms=p95,
            error_ratio=errors,
            orders_per_min=self._orders_per_min(),
            faults=tuple(faults),
            faults_ended=self.faults_started - len(faults),
            alerts=tuple(sorted(self.alerts.values())),
            skipped=self.skipped,
        )

    def _elapsed(self, now: float) -> float:
        if self.load_started is None:
            return 0.0
        end = self.load_finished if self.load_finished is not None else now
        return max(0.0, end - self.load_started)

    def _interval_latency(self) -> tuple[float | None, float | None]:
        merged = HdrDistribution()
        ok = fail = 0
        for record in self.latency.records:
            ok, fail = ok + record.ok, fail + record.fail
            try:
                merged.add(decode_histogram(record.hist))
            except ValueError:
                continue  # a bad histogram: the gate names it; the view goes on
        p95 = merged.value_at_percentile(95) if merged.total_count else None
        return p95, (fail / (ok + fail) if ok + fail else None)

    def _orders_per_min(self) -> float | None:
        seconds = self.load.seconds()
        if not seconds:
            return None
        return sum(r.confirmed for r in self.load.records) * 60.0 / seconds


_PHASES = {
    "rehearsal_started": "starting the target",
    "target_ready": "target up, load starting",
    "load_started": "flood",
    "load_finished": "after the flood: settle, cleanup, gate",
}


def _time(record: Record) -> float:
    t = record["t"]
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        raise ValueError("t")
    return float(t)


def _span(record: Record) -> float:
    span = _maybe_float(record.get("interval_s", 1.0))
    if span is None or not 0 < span < 3600:
        raise ValueError("interval_s")
    return span


def _maybe_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class RunTail:
    """Follows one run directory's timeline, latency and load streams into a ``LiveState``."""

    def __init__(self, path: Path, state: LiveState) -> None:
        self.state = state
        self._events = JsonlTail(path / EVENTS_FILE)
        self._latency = JsonlTail(path / LATENCY_FILE)
        self._load = JsonlTail(path / LOAD_FILE)

    def poll(self, now: float) -> LiveSnapshot:
        """Read what was appended since the last poll; the snapshot at ``now``."""
        self.state.add_events(self._events.new())
        self.state.add_latency(self._latency.new())
        self.state.add_load(self._load.new())
        lines = self._events.skipped + self._latency.skipped + self._load.skipped
        snapshot = self.state.snapshot(now)
        return replace(snapshot, skipped=snapshot.skipped + lines)
