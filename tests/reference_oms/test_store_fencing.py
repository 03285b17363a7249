"""Store locations: seeded apart from warehouses, and fenced off from online orders by default."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from reference_oms.__main__ import build_parser, main
from reference_oms.catalog import CatalogSpec, is_store_location, seed_stock
from reference_oms.inventory_app import InventorySettings, create_inventory_app
from reference_oms.orders_app import OrdersSettings, create_orders_app

from .conftest import asgi_client, wait_until_async

SKU = "SKU-00001"
# store-1 holds the most units, so an unfenced replica would choose it.
SNAPSHOT = {
    "stock": {
        SKU: {
            "loc-1": {"on_hand": 5, "available": 5, "reserved": 0, "committed": 0},
            "store-1": {"on_hand": 9, "available": 9, "reserved": 0, "committed": 0},
        }
    },
    "seq": 3,
}
FENCED = (
    "location 'store-1' is store stock, sold only by the store "
    "(start orders with --ship-from-store to sell it online)"
)


def test_stores_leave_the_warehouse_stock_of_a_seed_unchanged() -> None:
    without = seed_stock(CatalogSpec(skus=20, locations=3, seed=9))
    with_stores = seed_stock(CatalogSpec(skus=20, locations=3, seed=9, stores=2))
    assert {k: v for k, v in with_stores.items() if k[1].startswith("loc-")} == without
    stores = {k: v for k, v in with_stores.items() if is_store_location(k[1])}
    assert {loc for _, loc in stores} == {"store-1", "store-2"}
    assert len(stores) == 40
    assert all(20 <= qty <= 200 for qty in stores.values())


def test_only_store_prefixed_names_are_store_locations() -> None:
    assert is_store_location("store-3")
    assert not is_store_location("loc-1")
    with pytest.raises(ValueError):
        CatalogSpec(stores=-1)


@pytest.mark.anyio
async def test_inventory_lists_store_locations(tmp_path: Path) -> None:
    spec = CatalogSpec(skus=2, locations=2, stores=1)
    app = create_inventory_app(InventorySettings(str(tmp_path / "inv.db"), spec))
    async with asgi_client(app) as client:
        assert (await client.get("/skus")).json()["locations"] == ["loc-1", "loc-2", "store-1"]
        assert set((await client.get(f"/stock/{SKU}")).json()["locations"]) == {
            "loc-1",
            "loc-2",
            "store-1",
        }


def recording_inventory(seen: list[dict[str, Any]]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/stock":
            return httpx.Response(200, json=SNAPSHOT)
        if request.url.path == "/events":
            return httpx.Response(
                200, text=": stream open\n\n", headers={"content-type": "text/event-stream"}
            )
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"status": "reserved", "seq": 4})

    return httpx.MockTransport(handle)


@asynccontextmanager
async def replica(
    tmp_path: Path, ship_from_store: bool, seen: list[dict[str, Any]]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = OrdersSettings(
        "http://inventory.test", str(tmp_path / "orders.db"), ship_from_store=ship_from_store
    )
    app = create_orders_app(settings, transport=recording_inventory(seen))
    async with asgi_client(app) as client:

        async def healthy() -> bool:
            return (await client.get("/healthz")).status_code == 200

        assert await wait_until_async(healthy)
        yield client


def order(key: str, location: str | None, channel: str = "web") -> dict[str, Any]:
    lines = [{"sku": SKU, "qty": 1}]
    return {"idempotency_key": key, "channel": channel, "location": location, "lines": lines}


@pytest.mark.anyio
@pytest.mark.parametrize("channel", ["web", "store"], ids=["web", "the store channel online"])
async def test_orders_never_choose_a_store_location(tmp_path: Path, channel: str) -> None:
    seen: list[dict[str, Any]] = []
    async with replica(tmp_path, False, seen) as client:
        response = await client.post("/orders", json=order("auto", None, channel))
        stock = (await client.get(f"/stock/{SKU}", params={"channel": channel})).json()
    assert response.status_code == 201
    assert response.json()["location"] == "loc-1"
    assert [call["location"] for call in seen] == ["loc-1"]
    assert stock["locations"] == {"loc-1": 5}


@pytest.mark.anyio
async def test_orders_refuse_an_explicit_store_location(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    async with replica(tmp_path, False, seen) as client:
        response = await client.post("/orders", json=order("explicit", "store-1"))
    assert response.status_code == 422
    assert response.json() == {"status": "invalid", "error": FENCED}
    assert seen == []


@pytest.mark.anyio
async def test_ship_from_store_sells_store_stock_online(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    async with replica(tmp_path, True, seen) as client:
        chosen = await client.post("/orders", json=order("auto", None))
        explicit = await client.post("/orders", json=order("explicit", "store-1"))
        stock = (await client.get(f"/stock/{SKU}")).json()
    assert (chosen.status_code, chosen.json()["location"]) == (201, "store-1")
    assert explicit.status_code == 201
    assert stock["locations"] == {"loc-1": 5, "store-1": 9}


STORE = ["store", "--port", "1", "--db", "s.db", "--inventory-url", "http://127.0.0.1:9"]


def test_the_store_command_line_has_safe_defaults() -> None:
    args = build_parser().parse_args([*STORE, "--location", "store-2"])
    assert (args.location, args.host, args.inventory_timeout, args.retry_interval) == (
        "store-2",
        "127.0.0.1",
        0.5,
        0.25,
    )
    assert build_parser().parse_args(["inventory", "--port", "1", "--db", "x"]).stores == 0
    orders = ["orders", "--port", "1", "--admin-port", "2", "--db", "x", "--version", "v1"]
    orders += ["--inventory-url", "http://127.0.0.1:9"]
    assert build_parser().parse_args(orders).ship_from_store is False
    assert build_parser().parse_args([*orders, "--ship-from-store"]).ship_from_store is True


@pytest.mark.parametrize(
    "extra",
    [
        ["--location", "loc-1"],
        ["--location", "store-1", "--host", "0.0.0.0"],
        ["--location", "store-1", "--inventory-timeout", "0"],
    ],
    ids=["a warehouse location", "a non-loopback bind address", "a zero timeout"],
)
def test_the_store_refuses_bad_settings_with_a_usage_error(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*STORE, *extra])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_warehouse_location_is_named_in_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*STORE, "--location", "loc-1"])
    assert "store location (store-N), got 'loc-1'" in capsys.readouterr().err
