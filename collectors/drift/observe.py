"""The stock side of the stock-drift checker: judge every observation against the interval.

``Observer`` takes ``stock.jsonl`` records: truth observations (the source of truth)
and channel views. Each is compared with the expected interval of its SKU x location
over the span it was taken in (views: widened by ``view_staleness_s``), once the
operations in flight at that moment have an outcome. Views also measure convergence
lag: the change point a view reflects tells which acknowledgements it has caught up
with, and the channel's previous look (which had not) bounds when. The start snapshot
sets each cell's baseline.
"""

from __future__ import annotations

from typing import Any

from collectors.drift.faults import Faults
from collectors.drift.model import (
    Cell,
    ChannelCursor,
    DriftConfig,
    Op,
    Pending,
    Sku,
    get_sku,
)
from collectors.drift.report import ViolationLog
from collectors.drift.tally import ChannelTally

__all__ = ["Observer"]

Record = dict[str, Any]
UNNAMED_CHANNEL = "unknown"


class Observer:
    """Judges stock observations (see the module docstring)."""

    def __init__(
        self,
        config: DriftConfig,
        skus: dict[str, Sku],
        log: ViolationLog,
        faults: Faults,
        flying: dict[str, Op],
    ) -> None:
        self._staleness = config.view_staleness_s
        self._resolution = config.lag_resolution_s
        self._flying = flying  # operations in flight (the tracker's)
        self._skus = skus
        self._log = log
        self._faults = faults
        self.channels: dict[str, ChannelTally] = {}
        self.records = 0
        self.truth_observations = 0
        self.truth_outside = 0
        self.truth_drift_min = 0
        self.truth_drift_max = 0
        self.view_observations = 0
        self.views_outside = 0
        self.unjudged = 0
        self.negative = 0
        self.conservation_checked = 0
        self.conservation_broken = 0

    def stock(self, record: Record) -> None:
        """Take one stock observation (in time order)."""
        self.records += 1
        t = record["t"]
        t0 = record.get("t0")
        if t0 is None:
            t0 = t
        value = record["available"]
        cell = get_sku(self._skus, record["sku"]).cell(record["location"])
        kind = record["kind"]
        if kind == "truth":
            self.truth_observations += 1
            self._truth_checks(record, cell, value, t)
            if cell.base is None and record.get("phase") == "start":
                cell.base = value + cell.dec - cell.inc
                return
            channel = None
            since = t0
        elif kind == "view":
            channel = record.get("channel") or UNNAMED_CHANNEL
            self.view_observations += 1
            self._tally(channel).observations += 1
            if cell.base is not None:
                self._converge(cell, channel, value, t0, t)
            since = t0 - self._staleness
        else:
            raise ValueError(f"unknown observation kind {kind!r}")
        bounds = cell.window(since) if cell.base is not None else None
        if bounds is None:  # no baseline, or a probe slower than the history held
            self.unjudged += 1
            return
        self._wait(Pending(cell, channel, value, bounds, t, self._faults.at(t)))

    def _truth_checks(self, record: Record, cell: Cell, value: int, t: float) -> None:
        """Checks that need no interval: negative stock, on hand = available + held."""
        faults = self._faults.at(t)
        if value < 0:
            self.negative += 1
            self._log.add(
                "negative_stock", faults, t, cell.sku.name, cell.location,
                observed=value, bounds=(0, None),
            )  # fmt: skip
        on_hand, reserved, committed = (
            record.get("on_hand"),
            record.get("reserved"),
            record.get("committed"),
        )
        if on_hand is None or reserved is None or committed is None:
            return
        self.conservation_checked += 1
        held = value + reserved + committed
        if on_hand != held:
            self.conservation_broken += 1
            self._log.add(
                "conservation", faults, t, cell.sku.name, cell.location,
                observed=on_hand, bounds=(held, held),
            )  # fmt: skip

    def _wait(self, pending: Pending) -> None:
        """Settle now, or once every operation in flight on the cell has an outcome."""
        cell = pending.cell
        if not cell.fly_n and not cell.sku.fly_null_n:
            self.settle(pending)
            return
        for op in self._flying.values():
            if op.touches(cell):
                if op.waiters is None:
                    op.waiters = [pending]
                else:
                    op.waiters.append(pending)
                pending.waiting += 1

    def settle(self, pending: Pending) -> None:
        """Compare an observation with its (final) interval."""
        value = pending.value
        if value < pending.lo:
            drift = value - pending.lo
        elif value > pending.hi:
            drift = value - pending.hi
        else:
            return
        cell, channel = pending.cell, pending.channel
        if channel is None:
            self.truth_outside += 1
            self.truth_drift_min = min(self.truth_drift_min, drift)
            self.truth_drift_max = max(self.truth_drift_max, drift)
            kind = "truth_outside_interval"
        else:
            self.views_outside += 1
            tally = self._tally(channel)
            tally.outside += 1
            tally.max_abs = max(tally.max_abs, abs(drift))
            kind = "view_outside_interval"
        self._log.add(
            kind, pending.faults, pending.t, cell.sku.name, cell.location,
            channel=channel, observed=value, bounds=(pending.lo, pending.hi),
        )  # fmt: skip

    def _converge(self, cell: Cell, channel: str, value: int, t0: float, t: float) -> None:
        """Acknowledgements this view reflects for the first time converge now."""
        views = cell.views
        if views is None:
            views = cell.views = {}
        cursor = views.get(channel)
        if cursor is None:
            cursor = views[channel] = ChannelCursor(cell.acks_floor)
        previous = cursor.last_t0  # the last look at this view, which had not caught up
        if t0 > cursor.last_t0:
            cursor.last_t0 = t0
        seen = cursor.acks_seen
        if cell.acks <= seen:
            return
        slack = (cell.fly_dec + cell.sku.fly_null, cell.fly_inc)
        index = cell.staleness_point(value, t0, seen, slack)
        if index is None:
            return
        tally = self._tally(channel)
        if seen < cell.acks_floor:  # caught up, but their times fell off the history
            tally.untimed += cell.acks_floor - seen
        lags = tally.lags
        resolution = self._resolution
        for acked in cell.acks_through(index, seen):
            # The change reached the view somewhere in (max(previous, acked), t]: time it,
            # as both ends of that bracket, only when it is narrow enough to mean something.
            since = previous if previous > acked else acked
            if t - since <= resolution:
                lags.add(since - acked, t - acked)
            else:
                tally.untimed += 1
        cursor.acks_seen = cell.acks_at(index)

    def _tally(self, channel: str) -> ChannelTally:
        tally = self.channels.get(channel)
        if tally is None:
            tally = self.channels[channel] = ChannelTally()
        return tally

    def finish(self) -> None:
        """Acknowledgements a channel never reflected, though it looked again after them.

        "After" means beyond the staleness allowance: a view taken within
        ``view_staleness_s`` of an acknowledgement is not expected to show it yet.
        """
        for sku in self._skus.values():
            for cell in sku.cells.values():
                for channel, cursor in (cell.views or {}).items():
                    before = cursor.last_t0 - self._staleness
                    self._tally(channel).never += cell.unseen_acks(cursor.acks_seen, before)

    @property
    def views_drift_max_abs(self) -> int:
        return max((tally.max_abs for tally in self.channels.values()), default=0)
