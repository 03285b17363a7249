"""What the checker knows of the run besides orders and stock: fault windows (from
``events.jsonl``, a fault lasting until stopped or until its lease expiry) and which
locations each channel may sell."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

__all__ = ["ChannelLocations", "Faults"]

Record = dict[str, Any]
_NEVER = float("inf")


class Faults:
    """The fault windows open now (``events.jsonl``), by id.

    A fault is still blamed for ``recovery_s`` after it stopped: the system is allowed
    that long to catch up (a store forwarding what it sold offline, views reconnecting).
    A fault never stopped (its injector was killed) stops at its lease expiry, the
    ``expires_ts`` of its ``fault_started`` event: the latest moment it can still be in
    place. One started without ``expires_ts`` (older runs) lasts to the end. Events and
    the times asked arrive in time order.
    """

    __slots__ = (
        "active", "by_id", "expiry", "records", "recovering", "recovery_s", "seen", "soonest",
    )  # fmt: skip

    def __init__(self, recovery_s: float = 0.0) -> None:
        self.records = 0
        self.recovery_s = recovery_s
        self.by_id: dict[str, str] = {}
        self.active: tuple[str, ...] = ()  # sorted names; empty: no fault
        self.recovering: dict[str, float] = {}  # name -> blamed until (Unix seconds)
        self.seen: set[str] = set()
        self.expiry: dict[str, float] = {}  # id -> expires_ts, of open faults that have one
        self.soonest = _NEVER  # no open fault expires before this (may be earlier: stopped)

    def event(self, record: Record) -> None:
        self.records += 1
        ts = record.get("ts")
        if ts is not None and ts > self.soonest:
            self._expire(float(ts))  # a lease ran out before this event
        kind = record.get("type")
        if kind == "fault_started":
            fault_id, name = str(record["id"]), str(record["fault"])
            self.by_id[fault_id] = name
            self.seen.add(name)
            expires = record.get("expires_ts")
            if expires is None:
                self.expiry.pop(fault_id, None)
            else:
                self.expiry[fault_id] = float(expires)
                self.soonest = min(self.soonest, float(expires))
        elif kind == "fault_stopped":
            self._stop(str(record["id"]), float(record.get("ts", 0.0)))
        else:
            return
        self.active = tuple(sorted(set(self.by_id.values())))

    def at(self, t: float) -> tuple[str, ...]:
        """The faults to blame for something seen at ``t``: active or still recovering."""
        if t > self.soonest:
            self._expire(t)
        if not self.recovering:
            return self.active
        for name in [n for n, until in self.recovering.items() if until < t]:
            del self.recovering[name]
        if not self.recovering:
            return self.active
        return tuple(sorted({*self.active, *self.recovering}))

    def _stop(self, fault_id: str, ts: float) -> None:
        """Fault ``fault_id`` stopped at ``ts`` (nothing if it was not open)."""
        stopped = self.by_id.pop(fault_id, None)
        self.expiry.pop(fault_id, None)
        if stopped is not None and self.recovery_s > 0:
            until = ts + self.recovery_s
            self.recovering[stopped] = max(until, self.recovering.get(stopped, until))

    def _expire(self, t: float) -> None:
        """Stop, at their expiry, the open faults whose lease ran out before ``t``.

        Only called once ``t`` passes the soonest expiry, so the common case (nothing
        expires) costs one comparison per call.
        """
        for fault_id, expires in [(i, e) for i, e in self.expiry.items() if e < t]:
            self._stop(fault_id, expires)
        self.soonest = min(self.expiry.values(), default=_NEVER)
        self.active = tuple(sorted(set(self.by_id.values())))


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
