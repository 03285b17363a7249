"""The inventory HTTP API in-process (ASGI transport, real lifespan and SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from reference_oms.catalog import CatalogSpec
from reference_oms.inventory_app import InventorySettings, create_inventory_app

from .conftest import asgi_client

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = InventorySettings(str(tmp_path / "inv.db"), CatalogSpec(skus=3, locations=2))
    async with asgi_client(create_inventory_app(settings)) as client:
        yield client


async def test_health_and_catalog(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "service": "inventory"}
    assert (await client.get("/skus")).json() == {
        "skus": ["SKU-00001", "SKU-00002", "SKU-00003"],
        "locations": ["loc-1", "loc-2"],
    }


async def test_a_reservation_moves_units_to_committed(client: httpx.AsyncClient) -> None:
    before = (await client.get("/stock/SKU-00001")).json()["locations"]["loc-1"]
    response = await client.post(
        "/reservations",
        json={"order_id": "o1", "location": "loc-1", "lines": [{"sku": "SKU-00001", "qty": 2}]},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "reserved"
    after = (await client.get("/stock")).json()
    assert after["seq"] == 1
    assert after["stock"]["SKU-00001"]["loc-1"]["available"] == before["available"] - 2
    assert after["stock"]["SKU-00001"]["loc-1"]["committed"] == 2


@pytest.mark.parametrize(
    "payload",
    [
        {"order_id": "o1", "location": "loc-1", "lines": []},
        {"order_id": "o1", "location": "loc-1", "lines": [{"sku": "SKU-00001", "qty": 0}]},
        {"order_id": "o1", "location": "loc-7", "lines": [{"sku": "SKU-00001", "qty": 1}]},
        {"order_id": "o1", "location": "loc-1", "lines": [{"sku": "SKU-12345", "qty": 1}]},
    ],
    ids=["no lines", "zero quantity", "unknown location", "unknown sku"],
)
async def test_invalid_reservations_are_a_422(
    client: httpx.AsyncClient, payload: dict[str, object]
) -> None:
    assert (await client.post("/reservations", json=payload)).status_code == 422


async def test_unknown_things_are_a_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/stock/SKU-99999")).status_code == 404
    assert (await client.post("/reservations/nope/release")).status_code == 404


async def test_a_bad_resume_point_is_a_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/events", params={"after": "x"})).status_code == 422


async def test_metrics_label_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/stock/SKU-00002")
    await client.get("/no/such/path")
    text = (await client.get("/metrics")).text
    assert 'route="/stock/{sku}"' in text
    assert 'route="unmatched"' in text
    assert "SKU-00002" not in text


async def test_inventory_says_whether_an_order_took_stock(client: httpx.AsyncClient) -> None:
    line = {"sku": "SKU-00001", "qty": 1}
    await client.post(
        "/reservations", json={"order_id": "o7", "location": "loc-1", "lines": [line]}
    )
    taken = await client.get("/reservations/o7")
    assert taken.status_code == 200
    assert taken.json() == {"order_id": "o7", "status": "reserved", "location": "loc-1",
                            "lines": {"SKU-00001": 1}}  # fmt: skip
    await client.post("/reservations/o7/release")
    assert (await client.get("/reservations/o7")).json()["status"] == "released"
    assert (await client.get("/reservations/never")).status_code == 404
