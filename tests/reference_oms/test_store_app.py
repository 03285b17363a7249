"""The store node in-process, in front of the real inventory app behind a link that can be cut."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reference_oms.catalog import CatalogSpec
from reference_oms.inventory_app import InventorySettings, create_inventory_app
from reference_oms.store_app import StoreSettings, create_store_app

from .conftest import asgi_client, wait_until_async
from .inventory_link import InventoryLink

pytestmark = pytest.mark.anyio

SPEC = CatalogSpec(skus=3, locations=1, stores=1, min_stock=5, max_stock=5)
SKU = "SKU-00001"


def sale(key: str, qty: int = 1, **overrides: Any) -> dict[str, Any]:
    body = {"idempotency_key": key, "channel": "store", "location": None}
    return {**body, "lines": [{"sku": SKU, "qty": qty}], **overrides}


@dataclass
class Rig:
    """A store app, the inventory app it talks to, and the link between them."""

    tmp_path: Path
    inventory: httpx.AsyncClient
    link: InventoryLink
    store: httpx.AsyncClient

    async def truth(self, sku: str = SKU) -> int:
        """Inventory's available units of `sku` at store-1."""
        stock = (await self.inventory.get(f"/stock/{sku}")).json()
        return int(stock["locations"]["store-1"]["available"])

    async def local(self, sku: str = SKU) -> int:
        """The store's own count of `sku`."""
        return int((await self.store.get(f"/stock/{sku}")).json()["locations"]["store-1"])

    async def outbox(self) -> dict[str, Any]:
        return dict((await self.store.get("/outbox")).json())

    async def drained(self) -> bool:
        outbox = await self.outbox()
        return outbox["pending"] == 0 and bool(outbox["online"])


@asynccontextmanager
async def store_app(tmp_path: Path, link: InventoryLink) -> AsyncIterator[httpx.AsyncClient]:
    settings = StoreSettings(
        "http://inventory.test", str(tmp_path / "store.db"), "store-1",
        retry_interval_seconds=0.02,
    )  # fmt: skip
    async with asgi_client(create_store_app(settings, transport=link)) as client:
        yield client


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    inventory_app = create_inventory_app(InventorySettings(str(tmp_path / "inv.db"), SPEC))
    async with asgi_client(inventory_app) as inventory:
        link = InventoryLink(inventory_app, tmp_path / "inv.db", SPEC)
        async with store_app(tmp_path, link) as store:

            async def healthy() -> bool:
                return (await store.get("/healthz")).status_code == 200

            assert await wait_until_async(healthy)
            yield Rig(tmp_path, inventory, link, store)


async def test_health_names_the_store_and_its_mode(rig: Rig) -> None:
    assert (await rig.store.get("/healthz")).json() == {
        "status": "ok",
        "service": "store",
        "location": "store-1",
        "online": True,
        "outbox": 0,
    }


async def test_an_online_sale_is_reserved_at_inventory_at_once(rig: Rig) -> None:
    response = await rig.store.post("/orders", json=sale("k1", qty=2))
    assert response.status_code == 201
    order = response.json()
    assert (order["status"], order["channel"], order["location"]) == (
        "confirmed",
        "store",
        "store-1",
    )
    assert order["forwarded"] is True
    assert await rig.truth() == 3
    assert rig.link.posts() == ["POST /reservations"]
    assert (await rig.outbox())["pending"] == 0
    assert (await rig.store.get(f"/orders/{order['order_id']}")).json() == order
    found = await rig.store.get("/orders", params={"idempotency_key": "k1"})
    assert found.json() == order


async def test_an_online_sale_beyond_the_stock_is_rejected_by_inventory(rig: Rig) -> None:
    response = await rig.store.post("/orders", json=sale("big", qty=6))
    assert response.status_code == 409
    assert {k: response.json()[k] for k in ("status", "reason", "sku")} == {
        "status": "rejected",
        "reason": "out_of_stock",
        "sku": SKU,
    }
    assert await rig.truth() == 5


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"channel": "web"}, "channel 'store'"),
        ({"location": "store-2"}, "its own location 'store-1'"),
        ({"location": "loc-1"}, "its own location 'store-1'"),
        ({"lines": [{"sku": "SKU-99999", "qty": 1}]}, "unknown sku"),
        ({"lines": []}, "invalid request body"),
    ],
    ids=[
        "another channel",
        "another store's location",
        "a warehouse",
        "an unknown sku",
        "no lines",
    ],
)
async def test_the_store_refuses_what_it_does_not_sell(
    rig: Rig, overrides: dict[str, Any], complaint: str
) -> None:
    response = await rig.store.post("/orders", json=sale("bad", **overrides))
    assert response.status_code == 422
    assert complaint in response.json()["error"]
    assert rig.link.posts() == []


async def test_stock_answers_only_for_the_store_channel(rig: Rig) -> None:
    stock = (await rig.store.get(f"/stock/{SKU}")).json()
    assert {k: stock[k] for k in ("sku", "channel", "locations", "online")} == {
        "sku": SKU,
        "channel": "store",
        "locations": {"store-1": 5},
        "online": True,
    }
    assert (await rig.store.get(f"/stock/{SKU}", params={"channel": "web"})).status_code == 422
    assert (await rig.store.get("/stock/SKU-99999")).status_code == 404
    assert (await rig.store.get("/orders/ord-nope")).json() == {
        "status": "not_found",
        "error": "no order 'ord-nope'",
    }


async def test_offline_sales_are_decided_locally_then_forwarded_once(rig: Rig) -> None:
    rig.link.cut()
    replies = [await rig.store.post("/orders", json=sale(f"off-{i}")) for i in range(3)]
    assert [r.status_code for r in replies] == [201] * 3
    assert {r.json()["forwarded"] for r in replies} == {False}
    outbox = await rig.outbox()
    assert (outbox["online"], outbox["pending"], outbox["pending_units"]) == (False, 3, 3)
    assert outbox["offline_since"] is not None
    assert await rig.local() == 2
    assert await rig.truth() == 5
    too_many = await rig.store.post("/orders", json=sale("off-big", qty=3))
    assert (too_many.status_code, too_many.json()["reason"]) == (409, "out_of_stock")

    rig.link.heal()
    assert await wait_until_async(rig.drained)
    assert await rig.truth() == 2
    assert await rig.local() == 2
    assert (await rig.outbox())["forwarded_total"] == 3
    again = await rig.store.post("/orders", json=sale("off-0"))
    assert (again.status_code, again.json()["forwarded"]) == (200, True)
    assert await rig.truth() == 2


async def test_a_sale_whose_reply_was_lost_counts_once(rig: Rig) -> None:
    rig.link.lose_replies = True
    response = await rig.store.post("/orders", json=sale("lost", qty=2))
    assert (response.status_code, response.json()["forwarded"]) == (201, False)
    assert await rig.truth() == 3  # it did reach inventory
    rig.link.lose_replies = False
    assert await wait_until_async(rig.drained)
    assert await rig.truth() == 3


async def test_a_return_of_a_queued_sale_never_reaches_inventory(rig: Rig) -> None:
    rig.link.cut()
    order = (await rig.store.post("/orders", json=sale("ret", qty=2))).json()
    assert await rig.local() == 3
    cancel = await rig.store.post(f"/orders/{order['order_id']}/cancel")
    assert cancel.json() == {"order_id": order["order_id"], "status": "cancelled"}
    assert (await rig.outbox())["pending"] == 0
    assert await rig.local() == 5
    rig.link.heal()
    assert await wait_until_async(rig.drained)
    assert rig.link.posts() == []
    assert await rig.truth() == 5
    again = await rig.store.post(f"/orders/{order['order_id']}/cancel")
    assert again.status_code == 200


async def test_a_return_while_offline_is_forwarded_as_a_release(rig: Rig) -> None:
    order = (await rig.store.post("/orders", json=sale("sold", qty=2))).json()
    rig.link.cut()
    assert (await rig.store.post(f"/orders/{order['order_id']}/cancel")).status_code == 200
    outbox = await rig.outbox()
    assert (outbox["pending"], outbox["pending_units"]) == (1, 0)
    assert await rig.local() == 5
    rig.link.heal()
    assert await wait_until_async(rig.drained)
    assert await rig.truth() == 5
    assert rig.link.posts()[-1] == f"POST /reservations/{order['order_id']}/release"


async def test_cancel_refuses_unknown_and_rejected_sales(rig: Rig) -> None:
    rejected = (await rig.store.post("/orders", json=sale("no", qty=9))).json()
    assert (await rig.store.post(f"/orders/{rejected['order_id']}/cancel")).status_code == 409
    assert (await rig.store.post("/orders/ord-nope/cancel")).status_code == 404


async def test_the_outbox_survives_a_restart(rig: Rig) -> None:
    rig.link.cut()
    for i in range(2):
        assert (await rig.store.post("/orders", json=sale(f"keep-{i}"))).status_code == 201
    async with store_app(rig.tmp_path, rig.link) as restarted:
        outbox = (await restarted.get("/outbox")).json()
        assert (outbox["pending"], outbox["pending_units"], outbox["online"]) == (2, 2, False)
        rig.link.heal()

        async def drained() -> bool:
            return (await restarted.get("/outbox")).json()["online"] is True

        assert await wait_until_async(drained)
    assert await rig.truth() == 3


async def test_metrics_show_the_mode_the_outbox_and_forwarding(rig: Rig) -> None:
    rig.link.cut()
    await rig.store.post("/orders", json=sale("m1", qty=2))
    offline = (await rig.store.get("/metrics")).text
    assert "oms_store_online 0.0" in offline
    assert "oms_store_outbox_ops 1.0" in offline
    assert "oms_store_outbox_units 2.0" in offline
    assert 'oms_orders_total{channel="store",outcome="confirmed"} 1.0' in offline
    rig.link.heal()
    assert await wait_until_async(rig.drained)
    online = (await rig.store.get("/metrics")).text
    assert "oms_store_online 1.0" in online
    assert "oms_store_outbox_units 0.0" in online
    assert "oms_store_forwarded_total 1.0" in online
    assert "oms_store_forward_delay_seconds_count 1.0" in online


async def test_a_return_whose_reply_was_lost_is_not_counted_twice(rig: Rig) -> None:
    order = (await rig.store.post("/orders", json=sale("ret-lost", qty=2))).json()
    rig.link.lose_replies = True
    assert (await rig.store.post(f"/orders/{order['order_id']}/cancel")).status_code == 200
    assert await rig.truth() == 5  # it did reach inventory
    outbox = await rig.outbox()
    assert (outbox["online"], outbox["pending"], outbox["pending_units"]) == (False, 1, 0)

    async def local_caught_up() -> bool:
        return await rig.local() == 5

    assert await wait_until_async(local_caught_up)
    rig.link.lose_replies = False
    assert await wait_until_async(rig.drained)
    assert await rig.truth() == await rig.local() == 5


async def test_a_lost_sale_rejected_locally_is_voided_at_inventory(rig: Rig) -> None:
    rig.link.lose_replies = True
    response = await rig.store.post("/orders", json=sale("lost-big", qty=6))
    assert (response.status_code, response.json()["status"]) == (409, "rejected")
    rig.link.lose_replies = False
    assert await wait_until_async(rig.drained)
    assert rig.link.posts()[-1] == f"POST /reservations/{response.json()['order_id']}/release"
    assert await rig.truth() == 5


async def test_concurrent_offline_sales_never_exceed_the_local_stock(rig: Rig) -> None:
    rig.link.cut()
    await rig.store.post("/orders", json=sale("first"))  # the one that finds the link down
    replies = await asyncio.gather(
        *(rig.store.post("/orders", json=sale(f"rush-{i}")) for i in range(10))
    )
    assert sorted(r.status_code for r in replies) == [201] * 4 + [409] * 6
    assert await rig.local() == 0
    rig.link.heal()
    assert await wait_until_async(rig.drained)
    assert await rig.truth() == 0
