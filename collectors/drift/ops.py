"""The ledger side of the stock-drift checker: order operations from invoke to outcome.

``OpTracker`` follows each operation of ``ledger.jsonl`` (invoke → ok / fail / info,
and end-of-run ``resolved`` records), applies definite effects to the cells, widens
them for unknown outcomes, and finds the violations that need only the ledger:
oversell (confirmed beyond what existed), false sold-outs, and keys applied twice.
Its state is the operations in flight or unknown (bounded by concurrency) and the
idempotency keys used within ``key_memory_s``. This is the checker's hot path (two
records per operation), hence the inlined lookups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collectors.drift.faults import ChannelLocations, Faults
from collectors.drift.keys import FIRST_DUPLICATE, NEW, REPLAY, KeyMemory
from collectors.drift.model import Cell, DriftConfig, Op, Pending, Sku, get_sku
from collectors.drift.report import ViolationLog
from collectors.drift.tally import MAX_DUPLICATE_EXAMPLES, UNKNOWN_COUNTS

__all__ = ["OpTracker"]

Record = dict[str, Any]


class OpTracker:
    """Applies ledger records to the cells (see the module docstring)."""

    def __init__(
        self,
        config: DriftConfig,
        skus: dict[str, Sku],
        log: ViolationLog,
        faults: Faults,
        settle: Callable[[Pending], None],
        flying: dict[str, Op],
    ) -> None:
        self.config = config
        self._sells = ChannelLocations(config.channel_locations)
        self._skus = skus
        self._log = log
        self._faults = faults
        self._settle = settle
        self._horizon = config.horizon_s
        self._staleness = config.view_staleness_s
        self._cap = config.history_points
        self._flying = flying  # in invoke order; shared with the observer
        self._unknown: dict[str, Op] = {}
        self._keys = KeyMemory(config.key_memory_s)
        self._cancelled = KeyMemory(config.key_memory_s)
        self._next_sweep = float("-inf")
        self.last_t = float("-inf")
        self.records = 0
        self.place_invokes = 0
        self.sold_out = 0
        self.false_sold_out = 0
        self.duplicates = 0
        self.duplicate_applications = 0
        self.duplicate_examples: list[dict[str, Any]] = []
        self.skipped = 0
        self.unknown = {kind: dict.fromkeys(UNKNOWN_COUNTS, 0) for kind in ("place", "cancel")}

    def ledger(self, record: Record) -> None:
        """Take one ledger record (in time order)."""
        self.records += 1
        t = self.last_t = record["t"]
        phase = record["phase"]
        if phase == "invoke":
            self._register(record, t, True)
        elif record.get("resolved"):
            self._resolve(record, phase, t)
        elif phase == "ok" or phase == "fail" or phase == "info":
            self._complete(record, phase, t)
        else:
            raise ValueError(f"unknown phase {phase!r}")
        if t >= self._next_sweep:
            self._sweep(t)

    def finish(self) -> None:
        """End of history: operations never completed count as unknown from their invoke."""
        t = self.last_t
        for op in list(self._flying.values()):
            self._leave(op)
            self._to_unknown(op, t, "timeout")
        for op in self._unknown.values():
            if op.state == "timeout":
                self.unknown[_kind(op)]["never_completed"] += 1

    # -- invoke -----------------------------------------------------------------------

    def _register(self, record: Record, t: float, invoked: bool) -> Op:
        kind = record["type"]
        if kind != "place" and kind != "cancel":
            raise ValueError(f"unknown operation type {kind!r}")
        sku = self._skus.get(record["sku"]) or get_sku(self._skus, record["sku"])
        location = record.get("location")
        cell = None if location is None else (sku.cells.get(location) or sku.cell(location))
        qty = record["qty"]
        op = self._flying[record["op"]] = Op(
            record["op"], kind == "place", record["key"], sku, cell, qty, t
        )
        op.channel = record.get("channel")
        if kind == "cancel":
            if cell is None:
                raise ValueError("a cancel needs its order's location")
            op.order_id = record.get("order_id")
            cell.fly_inc += qty
            cell.conf += qty  # it may have returned the stock already
            cell.fly_n += 1
        elif cell is None:
            self.place_invokes += invoked
            self._snapshot_any(op, sku, qty)
            sku.fly_null += qty
            sku.fly_null_n += 1
            sku.placed_null += qty
        else:
            self.place_invokes += invoked
            if cell.base is not None:  # undersell: the lower bound now, see _undersell
                op.low = self._sold_out_floor(cell, sku, t)
                op.placed0 = cell.placed + qty
                op.null0 = sku.placed_null
            cell.fly_dec += qty
            cell.fly_n += 1
            cell.placed += qty
        return op

    def _snapshot_any(self, op: Op, sku: Sku, qty: int) -> None:
        """Lower bound of each cell a location-less place may take from, as it is invoked."""
        t = op.t
        snap = [
            (c, self._sold_out_floor(c, sku, t), c.placed, sku.placed_null + qty)
            for c in sku.cells.values()
            if c.base is not None
        ]
        if snap:
            op.snap = snap

    def _sold_out_floor(self, cell: Cell, sku: Sku, t: float) -> int:
        """The least stock a channel may have seen at ``t``: the truth's lower bound over the
        view staleness allowance (a view may not show a return yet), less what is in flight.

        A channel deciding on a view ``view_staleness_s`` behind the truth may answer
        "sold out" while units came back within that time: not a false sold-out.
        """
        bounds = cell.window(t - self._staleness) if self._staleness > 0 else None
        now = (cell.base or 0) - cell.dec + cell.inc + cell.ulo  # callers check the baseline
        return (bounds[0] if bounds is not None else now) - cell.fly_dec - sku.fly_null

    def _leave(self, op: Op) -> None:
        """``op`` is no longer in flight (its outcome is known, or unknown for good)."""
        self._flying.pop(op.id, None)
        cell = op.cell
        if cell is None:
            op.sku.fly_null -= op.qty
            op.sku.fly_null_n -= 1
            return
        if op.is_place:
            cell.fly_dec -= op.qty
        else:
            cell.fly_inc -= op.qty
        cell.fly_n -= 1

    # -- outcomes ---------------------------------------------------------------------

    def _complete(self, record: Record, phase: str, t: float) -> None:
        op = self._flying.pop(record["op"], None)
        if op is None:
            self._complete_late(record, phase, t)
            return
        cell, qty = op.cell, op.qty  # no longer in flight (inlined _leave: the hot path)
        if cell is None:
            op.sku.fly_null -= qty
            op.sku.fly_null_n -= 1
        else:
            cell.fly_n -= 1
            if op.is_place:
                cell.fly_dec -= qty
            else:
                cell.fly_inc -= qty
        self._outcome(op, record, phase, t, _NONE)

    def _complete_late(self, record: Record, phase: str, t: float) -> None:
        """A completion of an operation that timed out in flight, or was never invoked."""
        op = self._unknown.pop(record["op"], None)
        touched: list[Cell] = _NONE
        if op is None:  # a completion whose invoke we never saw
            op = self._register(record, t, False)
            self._leave(op)
        else:  # timed out in flight, completed after all
            self.unknown[_kind(op)]["late"] += 1
            touched = self._forget_unknown(op)
        self._outcome(op, record, phase, t, touched)
        self._record(touched, t)

    def _outcome(self, op: Op, record: Record, phase: str, t: float, touched: list[Cell]) -> None:
        if phase == "ok":
            self._ok(op, record, t, touched)
        elif phase == "fail":
            if not op.is_place:
                self._confirm(op.home, op.qty, t, op)
            elif record.get("reason") == "out_of_stock":
                self.sold_out += 1
                self._undersell(op, t)
            if op.waiters is not None:
                self._notify(op, None, applied=False)
        else:
            self.unknown[_kind(op)]["info"] += 1
            self._to_unknown(op, t, "info")

    def _resolve(self, record: Record, phase: str, t: float) -> None:
        if phase != "ok" and phase != "fail":
            raise ValueError(f"a resolution must be ok or fail, not {phase!r}")
        op = self._unknown.pop(record["op"], None)
        touched: list[Cell] = []
        if op is not None:
            touched = self._forget_unknown(op)
        else:
            op = self._flying.get(record["op"]) or self._register(record, t, False)
            self._leave(op)
        counts = self.unknown[_kind(op)]
        if op.state != "info":
            counts["never_completed"] += 1
        counts["resolved_" + phase] += 1
        if phase == "ok":
            self._ok(op, record, t, touched)
        else:
            if not op.is_place:
                self._confirm(op.home, op.qty, t, op)
            self._notify(op, None, applied=False)
        self._record(touched, t)

    def _ok(self, op: Op, record: Record, t: float, touched: list[Cell]) -> None:
        """A definite application: the cell's definite net moves, at ``t``."""
        qty = op.qty
        if op.is_place:
            location = record.get("location")
            if location is None:
                cell = op.cell
            else:
                cell = op.sku.cells.get(location) or op.sku.cell(location)
            if cell is None:  # an acknowledged place must say where it reserved
                self.skipped += 1
                self._notify(op, None, applied=True)
                return
            status = self._keys.apply(op.key, record.get("order_id"))
            if status != REPLAY:
                cell.dec += qty
                cell.acks += 1
                conf = cell.conf = cell.conf - qty
                if conf < cell.conf_min:
                    cell.conf_min = conf
                    if cell.base is not None and cell.base + conf < 0:
                        self._oversold(cell, t, op)
                if status != NEW:
                    self._duplicate(op, cell, status == FIRST_DUPLICATE, t)
        else:
            cell = op.home
            status = self._cancelled.apply(_order(op), None)
            if status == NEW:
                cell.inc += qty
                cell.acks += 1
            else:  # a replayed cancel: the provisional return did not happen
                self._confirm(cell, qty, t, op)
        if status != REPLAY:
            if touched:
                if cell not in touched:
                    touched.append(cell)
            else:
                cell.record(t, t - self._horizon, self._cap)
        if op.waiters is not None:
            self._notify(op, cell, applied=status != REPLAY)

    def _confirm(self, cell: Cell, qty: int, t: float, op: Op) -> None:
        """``qty`` units left ``cell`` for good (for oversell)."""
        cell.conf -= qty
        if cell.conf < cell.conf_min:
            cell.conf_min = cell.conf
            if cell.base is not None and cell.base + cell.conf < 0:
                self._oversold(cell, t, op)

    def _oversold(self, cell: Cell, t: float, op: Op) -> None:
        """A new low of confirmed stock below zero: units were sold that did not exist."""
        self._log.add(
            "oversell", self._faults.at(t), t, cell.sku.name, cell.location,
            observed=cell.base + cell.conf if cell.base is not None else None,
            bounds=(0, None), op=op.id,
        )  # fmt: skip

    def _undersell(self, op: Op, t: float) -> None:
        """A sold-out answer is false if stock remained whatever the concurrent places did.

        The bound at invoke already counts places in flight or unknown; places invoked
        since (at the cell, or location-less) may have taken the stock first.
        """
        placed_null = op.sku.placed_null
        snap = op.snap
        if op.cell is not None and op.low is not None:
            snap = [(op.cell, op.low, op.placed0, op.null0)]
        for cell, low, placed, null in snap or ():
            if not self._sells(op.channel, cell.location):
                continue  # stock this channel cannot sell (a store's) does not excuse it
            bound = low - (cell.placed - placed) - (placed_null - null)
            if bound >= op.qty:
                self.false_sold_out += 1
                self._log.add(
                    "undersell", self._faults.at(t), t, op.sku.name, cell.location,
                    observed=op.qty, bounds=(bound, None), op=op.id,
                )  # fmt: skip
                return

    def _duplicate(self, op: Op, cell: Cell, first: bool, t: float) -> None:
        """The key of ``op`` was applied again under a new order id."""
        self.duplicate_applications += 1
        ids = self._keys.ids(op.key)
        if first:
            self.duplicates += 1
            if len(self.duplicate_examples) < MAX_DUPLICATE_EXAMPLES:
                self.duplicate_examples.append(
                    {"key": op.key, "order_ids": ids, "t": t, "sku": op.sku.name}
                )
        self._log.add(
            "duplicate", self._faults.at(t), t, op.sku.name, cell.location,
            observed=len(ids), bounds=(None, 1), op=op.id,
        )  # fmt: skip

    # -- unknown outcomes ---------------------------------------------------------------

    def _to_unknown(self, op: Op, t: float, state: str) -> None:
        """``op`` may or may not have applied, at any time from its invoke on: widen."""
        op.state = state
        self._unknown[op.id] = op
        qty = op.qty
        if op.is_place:
            self._keys.pin(op.key)
            cells = [op.cell] if op.cell is not None else list(op.sku.cells.values())
            for cell in cells:
                cell.ulo -= qty
        else:
            self._cancelled.pin(_order(op))
            cells = [op.home]
            op.home.uhi += qty
        self._record(cells, t)
        self._notify(op, op.cell, applied=True)

    def _forget_unknown(self, op: Op) -> list[Cell]:
        """Undo ``op``'s widening (its outcome is known now); returns the cells changed."""
        qty = op.qty
        if op.is_place:
            self._keys.unpin(op.key)
            cells = [op.cell] if op.cell is not None else list(op.sku.cells.values())
            for cell in cells:
                cell.ulo += qty
            return cells
        self._cancelled.unpin(_order(op))
        op.home.uhi -= qty
        return [op.home]

    def _notify(self, op: Op, cell: Cell | None, *, applied: bool) -> None:
        """Observations waiting on ``op`` learn its effect; the last one settles them."""
        waiters = op.waiters
        if waiters is None:
            return
        op.waiters = None
        for pending in waiters:
            if applied:
                pending.widen(op, cell)
            pending.waiting -= 1
            if pending.waiting == 0:
                self._settle(pending)

    def _record(self, cells: list[Cell], t: float) -> None:
        start = t - self._horizon
        for cell in cells:
            cell.record(t, start, self._cap)

    def _sweep(self, t: float) -> None:
        """Once a second: operations in flight too long turn unknown; old keys go."""
        self._next_sweep = t + 1.0
        limit = t - self.config.inflight_timeout_s
        flying = self._flying
        while flying:
            op = next(iter(flying.values()))
            if op.t >= limit:
                break
            self._leave(op)
            self._to_unknown(op, t, "timeout")
        self._keys.expire(t)
        self._cancelled.expire(t)


_NONE: list[Cell] = []  # shared empty "cells touched": never appended to


def _order(op: Op) -> str:
    """What identifies a cancel for de-duplication: its order (else its key)."""
    return op.order_id or op.key


def _kind(op: Op) -> str:
    return "place" if op.is_place else "cancel"
