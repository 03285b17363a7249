"""Fault windows from the chaos journals, for a run whose ``events.jsonl`` lost them.

Each chaos step's runner writes its Chaos Toolkit journal as it exits
(``chaos-<n>-<experiment>.journal.json``). Its activities (``run``, then
``rollbacks``) carry ISO ``start``/``end`` times and their outputs; our start actions
output ``{"event": "fault_started", "fault", "id", "expires_ts"}`` and our heals
``{"event": "fault_stopped", "fault"}``. ``read_journals`` turns them into the events the
runner appended to ``events.jsonl`` as they happened, the same way (chaos/runner.py
``FaultWindows``): a succeeded start opens its fault, at the activity's end; the first
succeeded stop of that fault after it closes it, at its end. A journal that is not
JSON, or a fault activity without its fields, is a ``RunDirError`` naming the file and
the activity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.jsonl import RecordError, maybe_unix_time, shown, text
from slo.errors import RunDirError

__all__ = ["JournalEvent", "Journals", "fault_id", "read_journals"]

JournalEvent = tuple[float, str, dict[str, Any]]
"""``(ts, type, fields)`` of a ``fault_started`` or ``fault_stopped`` event."""

_JOURNAL = re.compile(r"chaos-(?P<index>[1-9][0-9]{0,5})-(?P<experiment>.+)\.journal\.json")
_PARTS = ("run", "rollbacks")


@dataclass(frozen=True)
class Journals:
    """The run's chaos journals: which steps left one, and the fault events they hold."""

    steps: frozenset[tuple[int, str]]
    """(index, experiment) of every journal found."""
    sources: tuple[str, ...]
    """The journals that had a fault event (file names)."""
    events: tuple[JournalEvent, ...]
    """``fault_started`` / ``fault_stopped`` events, in time order."""


def read_journals(run_dir: Path) -> Journals:
    """Read every ``chaos-<n>-<experiment>.journal.json`` of ``run_dir``."""
    steps: set[tuple[int, str]] = set()
    sources: list[str] = []
    events: list[JournalEvent] = []
    try:
        names = sorted(p.name for p in run_dir.iterdir())
    except OSError as err:
        raise RunDirError(f"{run_dir}: cannot list: {err.strerror or err}") from err
    for name in names:
        match = _JOURNAL.fullmatch(name)
        if match is None:
            continue
        index, experiment = int(match["index"]), match["experiment"]
        steps.add((index, experiment))
        found = _journal_events(run_dir / name, experiment)
        if found:
            sources.append(name)
            events += found
    events.sort(key=lambda e: e[0])
    return Journals(frozenset(steps), tuple(sources), tuple(events))


def _journal_events(path: Path, experiment: str) -> list[JournalEvent]:
    journal = _load(path)
    opened: dict[str, str] = {}  # fault name -> id, as the runner pairs them
    events: list[JournalEvent] = []
    for part in _PARTS:
        activities = journal.get(part) or []
        if not isinstance(activities, list):
            raise RunDirError(f"{path}: field {part!r}: expected a list, got {shown(activities)}")
        for position, activity in enumerate(activities):
            where = f"{path}: {part}[{position}]"
            if not isinstance(activity, dict):
                raise RunDirError(f"{where}: expected an activity object, got {shown(activity)}")
            output = activity.get("output")
            if activity.get("status") != "succeeded" or not isinstance(output, dict):
                continue
            kind = output.get("event")
            if kind not in ("fault_started", "fault_stopped"):
                continue
            try:
                ts, fault = _ended(activity), text(output, "fault")
                if not fault.strip():
                    raise RecordError("field 'fault': expected a fault name, got ''")
                fields: dict[str, Any] = {"fault": fault, "experiment": experiment}
                if kind == "fault_started":
                    opened[fault] = fields["id"] = fault_id(output)
                    fields["expires_ts"] = maybe_unix_time(output, "expires_ts")
                elif fault in opened:
                    fields["id"] = opened.pop(fault)
                else:
                    continue  # a rollback's heal of a fault already stopped
            except RecordError as err:
                raise RunDirError(f"{where} ({_name(activity)}): {err}") from err
            events.append((ts, kind, fields))
    return events


def _load(path: Path) -> Mapping[str, Any]:
    try:
        journal = json.loads(path.read_bytes())
    except OSError as err:
        raise RunDirError(f"{path}: cannot read: {err.strerror or err}") from err
    except (ValueError, RecursionError) as err:  # not JSON (its runner killed mid-write)
        raise RunDirError(f"{path}: corrupt chaos journal: {err}") from err
    if not isinstance(journal, dict):
        raise RunDirError(f"{path}: corrupt chaos journal: expected a JSON object")
    return journal


def _ended(activity: Mapping[str, Any]) -> float:
    """When the activity ended (Unix seconds); a time without a zone is UTC."""
    value = activity.get("end")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise RecordError(f"field 'end': expected an ISO 8601 time, got {shown(value)}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ts = moment.timestamp()
    if not 0 <= ts <= 1e11:
        raise RecordError(f"field 'end': expected a time after 1970, got {shown(value)}")
    return ts


def fault_id(output: Mapping[str, Any]) -> str:
    """A fault's ``id`` (a number reads as its text)."""
    value = output.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    fault_id = text(output, "id")
    if not fault_id:
        raise RecordError(f"field 'id': expected a fault id, got {shown(value)}")
    return fault_id


def _name(activity: Mapping[str, Any]) -> str:
    inner = activity.get("activity")
    name = inner.get("name") if isinstance(inner, dict) else None
    return name if isinstance(name, str) else "?"
