"""What the peak-day collector judges per SKU x location: view drift and convergence lag.

Without the order ledger of a rehearsal, the collector knows the truth only at its own
reads. Two rules follow, both conservative (docs/collect.md):

* **Drift beyond the staleness allowance.** A view read over ``[v0, v]`` may show any
  value the truth held within ``[v0 - staleness, v]``. The truth between two reads of
  it is taken to move monotonically (an excursion and its return between two reads is
  invisible to any sampler), so the allowance is the range of: the last truth read that
  ended by ``v0 - staleness`` (the anchor), and every truth read after it, up to the one
  that closes the probe (read after the view: a change the view already shows but the
  truth read before it missed is not drift). Drift is the distance from that range (0
  inside). A view with no anchor yet, or whose closing truth read went unanswered, is
  not judged.
* **Convergence lag.** A truth read that differs from the previous read of the cell is
  an observed change, made within ``(previous read's t0, this read's t]``. A channel's
  look that shows the value of a pending change converges it and every older pending
  change. The lag is known as a bracket: **lower** = the last look that did not show it
  (its ``t0``) minus the latest the change can have happened (0 if that look came
  first); **upper** = the first look that showed it (its ``t``) minus the earliest. A
  bracket wider than ``resolution_s`` is counted as untimed (a SKU looked at once a
  minute says nothing of a lag of seconds). Reads are sequential in one thread, so a
  look before the read that observed a change always gives a lower bound of 0.

A change is tracked for a channel only at a cell that channel has shown at least once
(a web view that never lists a store's stock does not wait for it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Lag", "LagTracker", "Read", "default_resolution_s"]

Cell = tuple[str, str]  # (sku, location)

MAX_TRUTH_READS = 256
"""Truth reads kept per cell at most (normally: the anchor and those within staleness)."""

MAX_PENDING = 64
"""Unconverged changes kept per channel and cell; beyond it the middle ones are dropped
(the oldest stays: it is what the pending age reports)."""


@dataclass(frozen=True, slots=True)
class Read:
    """One adapter read of a cell: sent at ``t0``, answered at ``t``, showing ``value``."""

    t0: float
    t: float
    value: int


@dataclass(frozen=True, slots=True)
class Lag:
    """A convergence lag's bracket (seconds); ``timed`` if narrower than the resolution."""

    lower: float
    upper: float
    timed: bool


@dataclass(frozen=True, slots=True)
class _Change:
    lo: float  # the change happened after this ...
    hi: float  # ... and no later than this
    value: int


@dataclass(slots=True)
class _Cursor:
    """What one channel has shown of one cell: its last look, and changes not yet shown."""

    last_t0: float
    pending: list[_Change] = field(default_factory=list)


def default_resolution_s(hot: int, rest: int, rate: float) -> float:
    """Four times the planned time between two probes of a hot SKU (of any SKU without
    hot ones), at least 2 s. A bracket spans about two revisits (the truth read before
    the change, the look before the view showed it); the slack keeps hot SKUs timed when
    a slow OMS holds the probes back, while a SKU of the rotating rest (looked at once a
    minute) is not."""
    revisit = 2 * hot / rate if hot and rest else max(hot, rest, 1) / rate
    return max(2.0, 4 * revisit)


class LagTracker:
    """Truth reads, view looks and the two rules above, for every cell (not thread-safe)."""

    def __init__(self, channels: Sequence[str], *, staleness_s: float, resolution_s: float):
        self.channels = tuple(channels)
        self.staleness_s = staleness_s
        self.resolution_s = resolution_s
        self._truth: dict[Cell, deque[Read]] = {}
        self._cursors: dict[str, dict[Cell, _Cursor]] = {c: {} for c in self.channels}
        # per channel: cell -> the oldest pending change's ``hi`` (for the pending age)
        self._oldest: dict[str, dict[Cell, float]] = {c: {} for c in self.channels}
        # per channel: cell -> its drift at its last judged look, where not 0
        self._drifting: dict[str, dict[Cell, int]] = {c: {} for c in self.channels}

    def truth(self, cell: Cell, read: Read) -> bool:
        """Record a truth read; True if it shows a change since the previous one."""
        reads = self._truth.get(cell)
        if reads is None:
            self._truth[cell] = deque([read], maxlen=MAX_TRUTH_READS)
            return False
        previous = reads[-1]
        reads.append(read)
        if read.value == previous.value:
            return False
        change = _Change(previous.t0, read.t, read.value)
        for channel in self.channels:
            cursor = self._cursors[channel].get(cell)
            if cursor is not None:
                if not cursor.pending:
                    self._oldest[channel][cell] = change.hi
                cursor.pending.append(change)
                if len(cursor.pending) > MAX_PENDING:
                    del cursor.pending[1]
        return True

    def look(self, channel: str, cell: Cell, read: Read) -> list[Lag]:
        """Record a view look; the lags of the changes it shows for the first time."""
        cursors = self._cursors[channel]
        cursor = cursors.get(cell)
        if cursor is None:
            cursors[cell] = _Cursor(read.t0)
            return []
        shown = -1
        for index in range(len(cursor.pending) - 1, -1, -1):
            if cursor.pending[index].value == read.value:
                shown = index
                break
        lags = []
        for change in cursor.pending[: shown + 1]:
            lower = max(0.0, cursor.last_t0 - change.hi)
            upper = max(lower, read.t - change.lo)
            lags.append(Lag(lower, upper, upper - lower <= self.resolution_s))
        if shown >= 0:
            del cursor.pending[: shown + 1]
            if cursor.pending:
                self._oldest[channel][cell] = cursor.pending[0].hi
            else:
                self._oldest[channel].pop(cell, None)
        cursor.last_t0 = read.t0
        return lags

    def pending_s(self, channel: str, now: float) -> float:
        """How long ago, at least, the oldest change this channel has not shown was made."""
        oldest = self._oldest[channel]
        return max(0.0, now - min(oldest.values())) if oldest else 0.0

    def drift(self, channel: str, cell: Cell, view: Read) -> int | None:
        """Units by which ``view`` lies outside the allowance (0 inside); None: unjudged.

        Call it after the truth read that closes the probe, in the order of the looks:
        truth reads older than this view's anchor are dropped.
        """
        reads = self._truth.get(cell)
        start = view.t0 - self.staleness_s
        if not reads or reads[0].t > start:
            return None
        while len(reads) > 1 and reads[1].t <= start:
            reads.popleft()  # reads[0] is the anchor: the last to end by ``start``
        low = min(r.value for r in reads)
        high = max(r.value for r in reads)
        drift = low - view.value if view.value < low else max(0, view.value - high)
        if drift:
            self._drifting[channel][cell] = drift
        else:
            self._drifting[channel].pop(cell, None)
        return drift

    def worst_drift(self, channel: str) -> int:
        """The largest drift of any cell at its last judged look by this channel."""
        drifting = self._drifting[channel]
        return max(drifting.values()) if drifting else 0
