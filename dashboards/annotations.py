"""A run's events -> Grafana annotations: fault, deploy, rollback and alert windows.

Pure. The caller reads the run directory (``collectors``) and hands over ``RunEvent``s:
fault windows as the timeline reader made them (kind ``fault``), every other event as
recorded. Each annotation is tagged ``peakops``, its kind and ``run:<id>``, which is
what the dashboards' annotation queries match (``dashboards.panels.annotation_queries``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from dashboards.panels import ANNOTATION_TAG
from slo.runfiles import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    ROLLBACK_FAILED,
    ROLLBACK_FINISHED,
    ROLLBACK_REFUSED,
    ROLLBACK_SKIPPED,
    ROLLBACK_STARTED,
    ROLLOUT_ABORTED,
)

__all__ = ["DEPLOY_EVENTS", "FAULT", "Annotation", "RunEvent", "run_annotations"]

FAULT: Final = "fault"
"""The kind of the fault windows the caller builds from the timeline."""
DEPLOY_EVENTS: Final = ("platform_started",)
"""A release (``version``) came up: the local platform's start (platforms/local.py);
slo.runfiles has no name for it yet."""


@dataclass(frozen=True)
class RunEvent:
    """One event: Unix seconds, type, a name (faults), an end (windows), its fields."""

    ts: float
    type: str
    name: str = ""
    end: float | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Annotation:
    """One Grafana annotation: a point (``end`` None) or a region, in Unix ms."""

    kind: str
    start_ms: int
    end_ms: int | None
    text: str
    tags: tuple[str, ...]

    def payload(self) -> dict[str, Any]:
        """The body of ``POST /api/annotations`` (organisation-wide: no dashboard)."""
        return {"time": self.start_ms, "timeEnd": self.end_ms or self.start_ms,
                "tags": list(self.tags), "text": self.text}  # fmt: skip


def _ms(ts: float) -> int:
    return round(ts * 1000)


def _note(kind: str, run_id: str, start: float, end: float | None, text: str,
          *extra: str) -> Annotation:  # fmt: skip
    tags = (ANNOTATION_TAG, kind, f"run:{run_id}", *filter(None, extra))
    return Annotation(kind, _ms(start), None if end is None else _ms(end), text, tags)


def _rollbacks(events: Sequence[RunEvent], run_id: str) -> list[Annotation]:
    out: list[Annotation] = []
    started: RunEvent | None = None
    for event in events:
        f = event.fields
        if event.type == ROLLBACK_STARTED:
            started = event
        elif event.type in (ROLLBACK_FINISHED, ROLLBACK_FAILED) and started is not None:
            what = "rolled back" if event.type == ROLLBACK_FINISHED else "rollback FAILED"
            target = started.fields.get("target", "")
            out.append(
                _note(
                    "rollback",
                    run_id,
                    started.ts,
                    event.ts,
                    f"{what} {target}: {started.fields.get('reason', '')}".strip(": "),
                )
            )
            started = None
        elif event.type in (ROLLBACK_SKIPPED, ROLLBACK_REFUSED, ROLLOUT_ABORTED):
            word = event.type.replace("_", " ")
            out.append(
                _note(
                    "rollback",
                    run_id,
                    event.ts,
                    None,
                    f"{word} {f.get('target', '')}: {f.get('reason', '')}".strip(": "),
                )
            )
    if started is not None:  # no end recorded: a point, so the window is not invented
        out.append(
            _note(
                "rollback",
                run_id,
                started.ts,
                None,
                f"rollback started {started.fields.get('target', '')}".strip(),
            )
        )
    return out  # fmt: skip


def _alerts(events: Sequence[RunEvent], run_id: str, run_end: float) -> list[Annotation]:
    resolved = {_alert_key(e.fields) for e in events if e.type == ALERT_RESOLVED}
    out = []
    for event in events:
        f = event.fields
        if event.type == ALERT_RESOLVED or (
            event.type == ALERT_FIRING and _alert_key(f) not in resolved
        ):
            start = float(f.get("started_ts", event.ts))
            end = float(f.get("ended_ts", run_end))
            text = f"{f.get('alert', 'alert')} {f.get('severity', '')} SLO {f.get('slo', '')}"
            out.append(
                _note(
                    "alert",
                    run_id,
                    start,
                    end,
                    " ".join(text.split()),
                    str(f.get("slo", "")),
                    str(f.get("severity", "")),
                )
            )
    return out


def _alert_key(fields: Mapping[str, Any]) -> tuple[str, str]:
    return str(fields.get("alert", "")), str(fields.get("started_at", ""))


def run_annotations(run_id: str, events: Iterable[RunEvent]) -> tuple[Annotation, ...]:
    """Every fault, deploy, rollback and alert of the run, in time order."""
    ordered = sorted(events, key=lambda e: e.ts)
    run_end = max((e.end or e.ts for e in ordered), default=0.0)
    out = [
        _note(FAULT, run_id, e.ts, e.end, f"fault {e.name}", e.name)
        for e in ordered if e.type == FAULT
    ]  # fmt: skip
    out += [
        _note("deploy", run_id, e.ts, None, f"deploy {e.fields.get('version', '')}".strip())
        for e in ordered if e.type in DEPLOY_EVENTS
    ]  # fmt: skip
    out += _rollbacks(ordered, run_id)
    out += _alerts(ordered, run_id, run_end)
    return tuple(sorted(out, key=lambda a: (a.start_ms, a.kind, a.text)))
