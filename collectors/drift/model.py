"""The stock-drift checker's state per SKU x location: the expected interval and its history.

A ``Cell`` holds, for one SKU at one location, the definite effect of acknowledged
operations (cumulative decrements and increments, in acknowledgement order), the
widening owed to operations whose outcome is unknown, and a short history of change
points. The history answers two questions about the past without keeping the whole
run: "what could the available stock have been over [w, now]?" (observations span a
request, and views may be stale) and "which change point does this view reflect?"
(convergence lag). Everything here is pure and per SKU x location; memory is bounded
by the number of cells times ``history_points``, plus what changed within the horizon.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Cell",
    "ChannelCursor",
    "DriftConfig",
    "Op",
    "Pending",
    "Sku",
    "get_sku",
]

# One change point is eight doubles in ``Cell.hist``: time, cumulative decrements and
# increments, unknown widening down (<= 0) and up (>= 0), cumulative acknowledgements,
# and the quantities then in flight down (places) and up (cancels).
_W = 8
_T, _DEC, _INC, _ULO, _UHI, _ACKS, _FDN, _FUP = range(_W)
_INITIAL = (float("-inf"), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
_SLACK = 8  # change points appended between two trims (trimming is the costly part)

Record = dict[str, Any]


@dataclass(frozen=True)
class DriftConfig:
    """Checker parameters.

    ``view_staleness_s``: how far behind the truth a channel view may lag.
    ``reorder_window_s``: how far out of time order records may arrive.
    ``history_points``: change points kept per SKU x location beyond the horizon, for
    convergence lag (also the cap on acknowledgements awaiting a channel).
    ``keep_violations``: violations kept in detail. ``inflight_timeout_s``: an operation
    without a completion for this long is treated as unknown until it completes.
    ``key_memory_s``: how long an idempotency key (or cancelled order) is remembered
    after its last use, to recognise a retry as a replay or a duplicate.
    ``lag_resolution_s``: a convergence lag is timed only when the view was observed
    within this long before the observation that showed the change (or after the
    change): probes are samples, and a SKU probed every 40 s would otherwise report a
    40 s "lag" for a view that caught up in milliseconds. Changes caught up with but
    not timed this closely are counted as ``converged_untimed``.
    ``fault_recovery_s``: a violation this long after a fault stopped is still
    attributed to it (the system catching up), as well as to any fault still active.
    ``channel_locations``: ``(channel, fnmatch pattern)`` of the locations a channel
    may sell (``("web", "loc-*")``); a sold-out is judged only against those. A channel
    not listed may sell anywhere.
    """

    view_staleness_s: float = 2.0
    reorder_window_s: float = 10.0
    history_points: int = 64
    keep_violations: int = 200
    inflight_timeout_s: float = 60.0
    key_memory_s: float = 60.0
    lag_resolution_s: float = 1.0
    fault_recovery_s: float = 2.0
    channel_locations: tuple[tuple[str, str], ...] = ()

    @property
    def horizon_s(self) -> float:
        """How far back interval lookups may reach: staleness plus the slowest probe."""
        return self.view_staleness_s + self.reorder_window_s


class ChannelCursor:
    """How far one channel's view of one cell has caught up (in acknowledgements)."""

    __slots__ = ("acks_seen", "last_t0")

    def __init__(self, acks_seen: int) -> None:
        self.acks_seen = acks_seen
        self.last_t0 = float("-inf")


class Cell:
    """One SKU x location: definite net, unknown widening, oversell tracker, history."""

    __slots__ = (
        "acks",
        "base",
        "conf",
        "conf_min",
        "dec",
        "floor",
        "fly_dec",
        "fly_inc",
        "fly_n",
        "head",
        "hist",
        "inc",
        "location",
        "oldest",
        "placed",
        "sku",
        "trim_len",
        "uhi",
        "ulo",
        "views",
    )

    def __init__(self, sku: Sku, location: str) -> None:
        self.sku = sku
        self.location = location
        self.base: int | None = None  # available at the start snapshot
        self.dec = 0  # definite decrements so far (acknowledged places)
        self.inc = 0  # definite increments so far (acknowledged cancels)
        self.ulo = 0  # unknown places that may have applied (<= 0)
        self.uhi = 0  # unknown cancels that may have applied (>= 0)
        self.acks = 0  # acknowledged changes so far
        # Oversell: confirmed places out, cancels that may have returned stock in.
        self.conf = 0
        self.conf_min = 0
        self.fly_dec = 0  # qty of places in flight here
        self.fly_inc = 0  # qty of cancels in flight here
        self.placed = 0  # qty of every place invoked here (for undersell spans)
        self.fly_n = 0  # operations in flight here
        self.hist = array("d")
        self.head = 0  # index of the first retained change point
        # Trim once ``hist`` is this long (doubles) and its oldest point is this old; both
        # kept here, so that appending touches the buffer's end only.
        self.trim_len = _SLACK * _W
        self.oldest = float("-inf")
        self.floor: tuple[float, ...] = _INITIAL  # the last change point dropped
        self.views: dict[str, ChannelCursor] | None = None

    @property
    def net(self) -> int:
        """Definite available now (the start baseline plus acknowledged effects)."""
        return (self.base or 0) - self.dec + self.inc

    @property
    def oversold(self) -> int:
        """Units confirmed beyond what existed, at the worst moment so far."""
        return 0 if self.base is None else max(0, -(self.base + self.conf_min))

    def record(self, t: float, horizon_start: float, cap: int) -> None:
        """Append the current state as a change point at ``t``; drop what is no longer needed."""
        hist = self.hist
        down = self.fly_dec + self.sku.fly_null
        hist.extend((t, self.dec, self.inc, self.ulo, self.uhi, self.acks, down, self.fly_inc))
        if len(hist) >= self.trim_len and self.oldest < horizon_start:
            self._trim(horizon_start, cap)

    def _trim(self, horizon_start: float, cap: int) -> None:
        hist, head = self.hist, self.head
        count = len(hist) // _W - head
        pinned = self._least_seen()
        while count > 1:
            i = head * _W
            if hist[i + _W] >= horizon_start:
                break  # the oldest point is the state at the horizon: keep it
            if hist[i + _ACKS] > pinned and count <= cap:
                break  # a channel has not seen this acknowledgement yet
            head += 1
            count -= 1
        if head != self.head:
            self.floor = tuple(hist[(head - 1) * _W : head * _W])
            if head >= 32 and head * 2 >= count:
                del hist[: head * _W]
                head = 0
            self.head = head
        self.oldest = hist[head * _W]
        self.trim_len = len(hist) + _SLACK * _W

    def _least_seen(self) -> float:
        if not self.views:
            return float("inf")
        return min(cursor.acks_seen for cursor in self.views.values())

    @property
    def acks_floor(self) -> int:
        """Acknowledgements older than every retained change point."""
        return int(self.floor[_ACKS])

    def window(self, w: float) -> tuple[int, int] | None:
        """Bounds of the available stock over [w, now], or None if [w, ...) is forgotten.

        Effects acknowledged before ``w`` are definite; every change since is uncertain
        (a decrement may or may not show yet, likewise an increment), and unknown
        operations widen as they did at any time in the window.
        """
        hist = self.hist
        i, stop = len(hist) - _W, self.head * _W
        ulo, uhi = self.ulo, self.uhi
        while i >= stop and hist[i] >= w:
            if hist[i + _ULO] < ulo:
                ulo = int(hist[i + _ULO])
            if hist[i + _UHI] > uhi:
                uhi = int(hist[i + _UHI])
            i -= _W
        if i >= stop:
            anchor: Any = hist[i : i + _W]
        elif self.floor[_T] < w:
            anchor = self.floor
        else:
            return None
        a_dec, a_inc = int(anchor[_DEC]), int(anchor[_INC])
        ulo = min(ulo, int(anchor[_ULO]))
        uhi = max(uhi, int(anchor[_UHI]))
        net_w = (self.base or 0) - a_dec + a_inc
        return net_w + ulo - (self.dec - a_dec), net_w + uhi + (self.inc - a_inc)

    def staleness_point(
        self, value: int, t0: float, acks_seen: int, slack: tuple[int, int]
    ) -> int | None:
        """Index of the latest change point at or before ``t0`` whose interval holds ``value``.

        Only points with acknowledgements the channel has not seen are candidates. A
        view may show operations applied but not yet acknowledged, so each point's
        interval is widened by what was in flight at it and at the next point (``slack``:
        in flight now, for the latest). None if no candidate matches.
        """
        hist, base = self.hist, self.base or 0
        i, stop = len(hist) - _W, self.head * _W
        next_down, next_up = float(slack[0]), float(slack[1])
        while i >= stop and hist[i + _ACKS] > acks_seen:
            down, up = hist[i + _FDN], hist[i + _FUP]
            if hist[i] <= t0:
                net = base - hist[i + _DEC] + hist[i + _INC]
                lo = net + hist[i + _ULO] - down - next_down
                if lo <= value <= net + hist[i + _UHI] + up + next_up:
                    return i
            next_down, next_up = down, up
            i -= _W
        return None

    def acks_through(self, index: int, acks_seen: int) -> list[float]:
        """Times of the acknowledgements after ``acks_seen`` up to change point ``index``."""
        hist, stop = self.hist, self.head * _W
        times: list[float] = []
        i = index
        while i >= stop and hist[i + _ACKS] > acks_seen:
            before = hist[i - _W + _ACKS] if i > stop else self.floor[_ACKS]
            if hist[i + _ACKS] > before:
                times.append(hist[i])
            i -= _W
        return times

    def acks_at(self, index: int) -> int:
        return int(self.hist[index + _ACKS])

    def unseen_acks(self, acks_seen: int, before: float) -> int:
        """Acknowledgements after ``acks_seen`` made before ``before``.

        Those that fell off the history count only if the last one to fall was made
        before ``before`` too (their times are gone; an acknowledgement is not held
        against a channel that may not have looked after it).
        """
        hist = self.hist
        count = 0
        if acks_seen < self.acks_floor and self.floor[_T] < before:
            count = self.acks_floor - acks_seen
        previous = max(self.floor[_ACKS], float(acks_seen))
        for i in range(self.head * _W, len(hist), _W):
            acks = hist[i + _ACKS]
            if acks > previous:
                if hist[i] < before:
                    count += int(acks - previous)
                previous = acks
        return count


class Sku:
    """A SKU's cells, and its places with no requested location (they may hit any cell)."""

    __slots__ = ("cells", "fly_null", "fly_null_n", "name", "placed_null")

    def __init__(self, name: str) -> None:
        self.name = name
        self.cells: dict[str, Cell] = {}
        self.fly_null = 0  # qty of location-less places in flight
        self.fly_null_n = 0  # how many
        self.placed_null = 0  # qty of every location-less place invoked

    def cell(self, location: str) -> Cell:
        cell = self.cells.get(location)
        if cell is None:
            cell = self.cells[location] = Cell(self, location)
        return cell


def get_sku(skus: dict[str, Sku], name: str) -> Sku:
    sku = skus.get(name)
    if sku is None:
        sku = skus[name] = Sku(name)
    return sku


class Op:
    """An order operation between its invoke and a definite outcome."""

    __slots__ = (
        "cell",
        "channel",
        "id",
        "is_place",
        "key",
        "low",
        "null0",
        "order_id",
        "placed0",
        "qty",
        "sku",
        "snap",
        "state",
        "t",
        "waiters",
    )

    def __init__(
        self, op_id: str, is_place: bool, key: str, sku: Sku, cell: Cell | None, qty: int, t: float
    ) -> None:
        self.id = op_id
        self.is_place = is_place
        self.key = key
        self.sku = sku
        self.cell = cell  # None: a place that lets the OMS choose the location
        self.qty = qty
        self.t = t  # invoke time
        self.order_id: str | None = None
        self.channel: str | None = None  # who sent it (undersell: where it may sell)
        self.state = "flying"  # flying | info | timeout
        # Undersell: the lower bound of the cell at invoke, and the placed counters
        # then (cell, location-less; own qty included), so places invoked later,
        # which may have taken the stock first, can be subtracted. ``low`` is None
        # without a baseline; ``snap`` holds the same per cell for a location-less place.
        self.low: int | None = None
        self.placed0 = 0
        self.null0 = 0
        self.snap: list[tuple[Cell, int, int, int]] | None = None
        self.waiters: list[Pending] | None = None

    @property
    def home(self) -> Cell:
        """The cell of a located operation (every cancel has one)."""
        if self.cell is None:
            raise ValueError(f"operation {self.id} has no location")
        return self.cell

    def touches(self, cell: Cell) -> bool:
        return self.cell is cell or (self.cell is None and self.sku is cell.sku)


class Pending:
    """An observation waiting for operations that were in flight when it was taken."""

    __slots__ = ("cell", "channel", "faults", "hi", "lo", "t", "value", "waiting")

    def __init__(
        self,
        cell: Cell,
        channel: str | None,
        value: int,
        bounds: tuple[int, int],
        t: float,
        faults: tuple[str, ...],
    ) -> None:
        self.cell = cell
        self.channel = channel  # None: the source of truth
        self.value = value
        self.lo, self.hi = bounds
        self.t = t
        self.faults = faults
        self.waiting = 0

    def widen(self, op: Op, applied_at: Cell | None) -> None:
        """``op`` may have applied at ``applied_at`` (None: at any cell of its SKU)."""
        if applied_at is self.cell or (applied_at is None and op.touches(self.cell)):
            if op.is_place:
                self.lo -= op.qty
            else:
                self.hi += op.qty
