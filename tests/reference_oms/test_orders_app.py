"""The orders app in-process, against a fake inventory on httpx.MockTransport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from reference_oms.orders_app import OrdersSettings, create_orders_app

from .conftest import asgi_client, wait_until_async

pytestmark = pytest.mark.anyio

SNAPSHOT = {
    "stock": {
        "SKU-00001": {"loc-1": {"on_hand": 5, "available": 5, "reserved": 0, "committed": 0}}
    },
    "seq": 3,
}
Reserve = Callable[[httpx.Request], httpx.Response]


def fake_inventory(reserve: Reserve) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/stock":
            return httpx.Response(200, json=SNAPSHOT)
        if request.url.path == "/events":
            return httpx.Response(
                200, text=": stream open\n\n", headers={"content-type": "text/event-stream"}
            )
        return reserve(request)

    return httpx.MockTransport(handle)


@asynccontextmanager
async def orders(tmp_path: Path, reserve: Reserve) -> AsyncIterator[httpx.AsyncClient]:
    settings = OrdersSettings("http://inventory.test", str(tmp_path / "orders.db"))
    async with asgi_client(create_orders_app(settings, transport=fake_inventory(reserve))) as c:

        async def healthy() -> bool:
            return (await c.get("/healthz")).status_code == 200

        assert await wait_until_async(healthy)
        yield c


def body(key: str = "k1", qty: int = 1) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "channel": "web",
        "location": None,
        "lines": [{"sku": "SKU-00001", "qty": qty}],
    }


async def test_health_reports_version_replica_and_view_seq(tmp_path: Path) -> None:
    async with orders(tmp_path, lambda _: httpx.Response(200, json={})) as client:
        assert (await client.get("/healthz")).json() == {
            "status": "ok",
            "service": "orders",
            "version": "v1",
            "replica": 1,
            "view_seq": 3,
        }


async def test_an_inventory_failure_stores_an_error_order_and_answers_503(
    tmp_path: Path,
) -> None:
    async with orders(tmp_path, lambda _: httpx.Response(500, json={"boom": 1})) as client:
        response = await client.post("/orders", json=body())
        assert response.status_code == 503
        assert response.json()["status"] == "error"
        found = await client.get("/orders", params={"idempotency_key": "k1"})
        assert found.json()["status"] == "error"
        metrics = (await client.get("/metrics")).text
        assert 'oms_orders_total{channel="web",outcome="error"} 1.0' in metrics


async def test_a_confirmed_order_is_returned_again_for_its_key(tmp_path: Path) -> None:
    calls: list[httpx.Request] = []

    def reserve(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"status": "reserved"})

    async with orders(tmp_path, reserve) as client:
        first = await client.post("/orders", json=body())
        again = await client.post("/orders", json=body())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["location"] == "loc-1"
    assert len(calls) == 1


async def test_a_malformed_body_is_a_422_with_a_reason(tmp_path: Path) -> None:
    async with orders(tmp_path, lambda _: httpx.Response(200, json={})) as client:
        response = await client.post("/orders", content=b"{not json")
    assert response.status_code == 422
    assert "not valid json" in response.json()["error"]


async def test_the_stock_view_answers_per_channel(tmp_path: Path) -> None:
    async with orders(tmp_path, lambda _: httpx.Response(200, json={})) as client:
        response = await client.get("/stock/SKU-00001", params={"channel": "marketplace"})
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("sku", "channel", "locations", "seq", "replica")} == {
        "sku": "SKU-00001",
        "channel": "marketplace",
        "locations": {"loc-1": 5},
        "seq": 3,
        "replica": 1,
    }
