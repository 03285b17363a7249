"""Idempotency memory: which keys (or cancelled orders) were applied, as which ids.

The OMS must apply a key at most once. To tell a retry's idempotent replay (same order
id) from a duplicate application (a new order id), the checker remembers each key for
at least ``horizon_s`` after its last use (two generations of dicts, rotated every
``horizon_s``), and for as long as an operation on it has an unknown outcome (pinned),
so that an end-of-run resolution still finds it. Memory is bounded by the key rate
times the horizon, not by the run's length. Most keys are applied once: their entry is
the id itself; a key applied as several ids (or pinned) gets a ``KeyEntry``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DUPLICATE", "FIRST_DUPLICATE", "NEW", "REPLAY", "KeyEntry", "KeyMemory"]

NEW, REPLAY, DUPLICATE, FIRST_DUPLICATE = 0, 1, 2, 3
_MISSING = object()


class KeyEntry:
    """A key applied as several ids, or pinned by operations with unknown outcomes."""

    __slots__ = ("ids", "pins")

    def __init__(self, ids: list[Any]) -> None:
        self.ids = ids
        self.pins = 0

    def add(self, ident: Any) -> int:
        if not self.ids:
            self.ids.append(ident)
            return NEW
        if ident in self.ids:
            return REPLAY
        self.ids.append(ident)
        return FIRST_DUPLICATE if len(self.ids) == 2 else DUPLICATE


class KeyMemory:
    """Keys used within the last one or two ``horizon_s``, and pinned keys."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self._current: dict[str, Any] = {}
        self._previous: dict[str, Any] = {}
        self._pinned: dict[str, KeyEntry] = {}
        self._rotated = float("-inf")

    def apply(self, key: str, ident: Any) -> int:
        """Record that ``key`` was applied as ``ident``: NEW, REPLAY or (FIRST_)DUPLICATE."""
        entry = self._current.get(key, _MISSING)
        if entry is _MISSING:
            entry = self._previous.pop(key, _MISSING)
            if entry is _MISSING:
                pinned = self._pinned.get(key)
                if pinned is None:
                    self._current[key] = ident
                    return NEW
                return pinned.add(ident)
            self._current[key] = entry
        if type(entry) is KeyEntry:
            return entry.add(ident)
        if entry == ident:
            return REPLAY
        self._current[key] = KeyEntry([entry, ident])
        return FIRST_DUPLICATE

    def ids(self, key: str) -> list[Any]:
        """The ids ``key`` was applied as (for reports)."""
        entry = self._pinned.get(key) or self._current.get(key, self._previous.get(key))
        if type(entry) is KeyEntry:
            return list(entry.ids)
        return [] if entry is None else [entry]

    def pin(self, key: str) -> None:
        """An operation on ``key`` has an unknown outcome: keep the key until unpinned."""
        entry = self._pinned.get(key)
        if entry is None:
            found = self._current.pop(key, self._previous.pop(key, _MISSING))
            if type(found) is KeyEntry:
                entry = found
            else:
                entry = KeyEntry([] if found is _MISSING else [found])
            self._pinned[key] = entry
        entry.pins += 1

    def unpin(self, key: str) -> None:
        entry = self._pinned.get(key)
        if entry is None:
            return
        entry.pins -= 1
        if entry.pins <= 0:
            del self._pinned[key]
            self._current[key] = entry

    def expire(self, now: float) -> None:
        """Every ``horizon_s``, forget the keys not used for a whole generation."""
        if now - self._rotated >= self.horizon_s:
            self._previous = self._current
            self._current = {}
            self._rotated = now

    def __len__(self) -> int:
        return len(self._current) + len(self._previous) + len(self._pinned)
