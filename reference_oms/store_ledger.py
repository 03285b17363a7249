"""A store's local availability: the stock view plus the moves inventory has not shown it yet.

Each move (a queued op, or a call in flight) is held under a key with its signed units.
A move is forgotten only once inventory has acknowledged it *and* the view has applied
the seq inventory returned for it, so while offline the count is exact and during
catch-up nothing is counted twice: before the view reaches that seq the move is held
here, after it the view shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .stock_view import StockView

__all__ = ["Ledger"]


@dataclass
class _Move:
    units: dict[str, int]
    seq: int | None = None  # inventory's seq, once it has acknowledged the move
    in_flight: bool = False  # an online call whose answer has not come back


class Ledger:
    """Signed unit moves per key, layered over a `StockView`."""

    def __init__(self) -> None:
        self._moves: dict[str, _Move] = {}

    def hold(self, key: str, units: Mapping[str, int], *, in_flight: bool = False) -> None:
        """Count `units` (negative: taken, positive: given back) until acknowledged and seen.

        An `in_flight` move (an online call not answered yet) counts when deciding an
        offline sale, but not in the availability shown to shoppers: it may still fail.
        """
        self._moves[key] = _Move(dict(units), in_flight=in_flight)

    def acknowledge(self, key: str, seq: int | None) -> None:
        """Inventory has the move at `seq`; with no seq there is nothing to wait for."""
        move = self._moves.get(key)
        if move is None:
            return
        if seq is None:
            del self._moves[key]
        else:
            move.seq = seq
            move.in_flight = False

    def drop(self, key: str) -> None:
        """Forget a move that will never reach inventory (or whose key is reused)."""
        self._moves.pop(key, None)

    def available(
        self,
        view: StockView,
        sku: str,
        location: str,
        without: str | None = None,
        *,
        settled: bool = False,
    ) -> int:
        """Units of `sku` the store may sell at `location`, not counting move `without`.

        `settled`: leave out moves still in flight (what the store shows, not what it
        may promise while offline).
        """
        self._forget_seen(view.seq)
        held = sum(
            m.units.get(sku, 0)
            for k, m in self._moves.items()
            if k != without and not (settled and m.in_flight)
        )
        return view.available(sku, location) + held

    def __len__(self) -> int:
        return len(self._moves)

    def _forget_seen(self, view_seq: int) -> None:
        seen = [k for k, m in self._moves.items() if m.seq is not None and m.seq <= view_seq]
        for key in seen:
            del self._moves[key]
