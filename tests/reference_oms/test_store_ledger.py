"""A store's local availability counts each move once: held until inventory's view shows it."""

from __future__ import annotations

from reference_oms.stock_view import StockView
from reference_oms.store_ledger import Ledger

SKU = "SKU-00001"


def view_at(seq: int, available: int) -> StockView:
    view = StockView()
    view.load({SKU: {"store-1": {"available": available}}}, seq=seq)
    return view


def test_a_held_move_counts_until_acknowledged_and_seen() -> None:
    ledger = Ledger()
    ledger.hold("op-1", {SKU: -2})
    assert ledger.available(view_at(10, 5), SKU, "store-1") == 3
    ledger.acknowledge("op-1", 12)
    assert ledger.available(view_at(11, 5), SKU, "store-1") == 3  # view has not applied 12
    assert ledger.available(view_at(12, 3), SKU, "store-1") == 3  # the view shows it now
    assert len(ledger) == 0


def test_a_move_acknowledged_without_a_seq_is_forgotten_at_once() -> None:
    ledger = Ledger()
    ledger.hold("op-1", {SKU: -2})
    ledger.acknowledge("op-1", None)
    assert ledger.available(view_at(10, 5), SKU, "store-1") == 5


def test_releases_add_and_a_move_can_be_left_out() -> None:
    ledger = Ledger()
    ledger.hold("op-1", {SKU: -3})
    ledger.hold("op-2", {SKU: 1, "SKU-00002": 4})
    assert ledger.available(view_at(1, 5), SKU, "store-1") == 3
    assert ledger.available(view_at(1, 5), SKU, "store-1", without="op-1") == 6
    ledger.drop("op-2")
    assert ledger.available(view_at(1, 5), SKU, "store-1") == 2


def test_a_sale_in_flight_is_promised_away_but_not_shown_as_gone() -> None:
    """Seen in a rehearsal: the last unit's online sale in flight showed shoppers -1."""
    ledger = Ledger()
    ledger.hold("call-1", {SKU: -1}, in_flight=True)
    view = view_at(10, 0)  # inventory has none left: the call will be refused
    assert ledger.available(view, SKU, "store-1") == -1  # an offline sale may not take it
    assert ledger.available(view, SKU, "store-1", settled=True) == 0  # shoppers see 0
    ledger.acknowledge("call-1", 11)  # had it been reserved, it is settled now
    assert ledger.available(view, SKU, "store-1", settled=True) == -1
