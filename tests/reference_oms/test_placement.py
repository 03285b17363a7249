"""v1 trusts inventory's atomic check; v2 trusts the channel view and decrements blindly."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest

from reference_oms.inventory_client import InventoryClient
from reference_oms.placement import Placement, V1Placer, V2Placer
from reference_oms.schemas import Line
from reference_oms.stock_view import StockView

LINES = [Line(sku="SKU-00001", qty=2)]


def fake_inventory(
    status: int, body: dict[str, Any], seen: list[dict[str, Any]]
) -> InventoryClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(status, json=body)

    client = httpx.AsyncClient(
        base_url="http://inventory.test", transport=httpx.MockTransport(handle)
    )
    return InventoryClient(client)


def view_with(available: int) -> StockView:
    view = StockView()
    view.load({"SKU-00001": {"loc-1": {"available": available}}}, seq=1)
    return view


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"status": "reserved"}, Placement("confirmed")),
        (
            409,
            {"status": "out_of_stock", "sku": "SKU-00001"},
            Placement("rejected", "out_of_stock", "SKU-00001"),
        ),
    ],
    ids=["inventory reserved it", "inventory is out of stock"],
)
def test_v1_follows_the_inventory_answer(
    status: int, body: dict[str, Any], expected: Placement
) -> None:
    seen: list[dict[str, Any]] = []
    placer = V1Placer(fake_inventory(status, body, seen))
    result = asyncio.run(placer.place("ord-1", "loc-1", LINES, view_with(0)))
    assert result == expected
    assert seen[0]["atomic"] is True


def test_v1_reports_an_error_when_inventory_fails() -> None:
    placer = V1Placer(fake_inventory(500, {"oops": 1}, []))
    result = asyncio.run(placer.place("ord-1", "loc-1", LINES, view_with(9)))
    assert (result.status, result.reason) == ("error", "inventory_unavailable")


def test_v2_confirms_on_a_stale_view_and_decrements_unconditionally() -> None:
    seen: list[dict[str, Any]] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    placer = V2Placer(fake_inventory(200, {"status": "reserved"}, seen), random.Random(1), sleep)
    result = asyncio.run(placer.place("ord-1", "loc-1", LINES, view_with(2)))
    assert result == Placement("confirmed")
    assert seen[0]["atomic"] is False
    assert 0.2 <= slept[0] <= 0.45


def test_v2_rejects_without_calling_inventory_when_the_view_is_short() -> None:
    seen: list[dict[str, Any]] = []

    async def sleep(_: float) -> None:
        return None

    placer = V2Placer(fake_inventory(200, {}, seen), random.Random(1), sleep)
    result = asyncio.run(placer.place("ord-1", "loc-1", LINES, view_with(1)))
    assert result == Placement("rejected", "out_of_stock", "SKU-00001")
    assert seen == []
