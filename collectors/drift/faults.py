"""What the checker knows of the run besides orders and stock: fault windows (from
``events.jsonl``) and which locations each channel may sell."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

__all__ = ["ChannelLocations", "Faults"]

Record = dict[str, Any]


class Faults:
    """The fault windows open now (``events.jsonl``), by id; a fault never stopped lasts.

    A fault is still blamed for ``recovery_s`` after it stopped: the system is allowed
    that long to catch up (a store forwarding what it sold offline, views reconnecting).
    """

    __slots__ = ("active", "by_id", "records", "recovering", "recovery_s", "seen")

    def __init__(self, recovery_s: float = 0.0) -> None:
        self.records = 0
        self.recovery_s = recovery_s
        self.by_id: dict[str, str] = {}
        self.active: tuple[str, ...] = ()  # sorted names; empty: no fault
        self.recovering: dict[str, float] = {}  # name -> blamed until (Unix seconds)
        self.seen: set[str] = set()

    def event(self, record: Record) -> None:
        self.records += 1
        kind = record.get("type")
        if kind == "fault_started":
            name = str(record["fault"])
            self.by_id[str(record["id"])] = name
            self.seen.add(name)
        elif kind == "fault_stopped":
            stopped = self.by_id.pop(str(record["id"]), None)
            if stopped is not None and self.recovery_s > 0:
                until = float(record.get("ts", 0.0)) + self.recovery_s
                self.recovering[stopped] = max(until, self.recovering.get(stopped, until))
        else:
            return
        self.active = tuple(sorted(set(self.by_id.values())))

    def at(self, t: float) -> tuple[str, ...]:
        """The faults to blame for something seen at ``t``: active or still recovering."""
        if not self.recovering:
            return self.active
        for name in [n for n, until in self.recovering.items() if until < t]:
            del self.recovering[name]
        if not self.recovering:
            return self.active
        return tuple(sorted({*self.active, *self.recovering}))


class ChannelLocations:
    """Which locations a channel may sell, from ``(channel, pattern)`` pairs (fnmatch).

    A channel without a pattern may sell anywhere (so may an operation without a
    channel). Answers are cached: this is asked for every cell of every sold-out.
    """

    def __init__(self, patterns: Sequence[tuple[str, str]]) -> None:
        self._patterns = dict(patterns)
        self._known: dict[tuple[str | None, str], bool] = {}

    def __call__(self, channel: str | None, location: str) -> bool:
        key = (channel, location)
        known = self._known.get(key)
        if known is None:
            pattern = self._patterns.get(channel) if channel is not None else None
            known = self._known[key] = pattern is None or fnmatchcase(location, pattern)
        return known
