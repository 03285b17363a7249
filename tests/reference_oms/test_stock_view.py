"""Channel views apply the change feed in order and the marketplace reads a lagging copy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from reference_oms.schemas import Channel, order_id_for
from reference_oms.stock_feed import parse_sse
from reference_oms.stock_view import ChannelViews, StockView, choose_location

SNAPSHOT = {
    "SKU-00001": {
        "loc-1": {"on_hand": 5, "available": 5, "reserved": 0, "committed": 0},
        "loc-2": {"on_hand": 9, "available": 7, "reserved": 0, "committed": 2},
    }
}


def loaded_view() -> StockView:
    view = StockView()
    view.load(SNAPSHOT, seq=10)
    return view


def test_a_snapshot_loads_available_units_and_its_seq() -> None:
    view = loaded_view()
    assert view.loaded
    assert view.seq == 10
    assert view.locations("SKU-00001") == {"loc-1": 5, "loc-2": 7}
    assert view.locations("SKU-99999") is None


def test_changes_newer_than_the_view_apply_and_older_ones_are_ignored() -> None:
    view = loaded_view()
    assert view.apply({"seq": 11, "sku": "SKU-00001", "location": "loc-1", "available": 4})
    assert not view.apply({"seq": 9, "sku": "SKU-00001", "location": "loc-1", "available": 0})
    assert view.available("SKU-00001", "loc-1") == 4
    assert view.seq == 11


def test_the_marketplace_reads_a_copy_until_it_is_refreshed() -> None:
    views = ChannelViews(marketplace_sync_seconds=1.0)
    views.live.load(SNAPSHOT, seq=10)
    views.refresh_marketplace()
    views.live.apply({"seq": 11, "sku": "SKU-00001", "location": "loc-1", "available": 0})
    assert views.for_channel(Channel.WEB).available("SKU-00001", "loc-1") == 0
    assert views.for_channel(Channel.MARKETPLACE).available("SKU-00001", "loc-1") == 5
    views.refresh_marketplace()
    assert views.for_channel(Channel.MARKETPLACE).available("SKU-00001", "loc-1") == 0


def test_with_no_sync_interval_the_marketplace_reads_live_data() -> None:
    views = ChannelViews(marketplace_sync_seconds=0)
    assert views.for_channel(Channel.MARKETPLACE) is views.live


def test_orders_are_sourced_from_the_location_with_most_stock() -> None:
    assert choose_location(loaded_view(), "SKU-00001") == "loc-2"
    assert choose_location(loaded_view(), "SKU-99999") is None


def test_order_ids_are_derived_from_the_idempotency_key() -> None:
    assert order_id_for("k1") == order_id_for("k1") != order_id_for("k2")
    assert order_id_for("k1").startswith("ord-") and len(order_id_for("k1")) == 20


def test_sse_parsing_yields_payloads_and_skips_comments() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [
            ": stream open",
            "",
            "id: 1",
            'data: {"seq": 1}',
            "",
            ": ping",
            "",
            'data: {"seq": 2}',
            "",
        ]:
            yield line

    async def collect() -> list[dict[str, int]]:
        return [event async for event in parse_sse(lines())]

    assert asyncio.run(collect()) == [{"seq": 1}, {"seq": 2}]
