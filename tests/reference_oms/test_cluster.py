"""End-to-end behaviour of the reference OMS, run as real processes on loopback."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from .conftest import Cluster, wait_until

pytestmark = pytest.mark.integration

BURST = 40


def truth(cluster: Cluster, sku: str) -> dict[str, dict[str, int]]:
    """Inventory's counts per location for `sku`."""
    response = httpx.get(f"{cluster.inventory_url}/stock/{sku}")
    response.raise_for_status()
    return dict(response.json()["locations"])


def order_body(
    key: str, sku: str, qty: int = 1, location: str | None = "loc-1", channel: str = "web"
) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "channel": channel,
        "location": location,
        "lines": [{"sku": sku, "qty": qty}],
    }


def place(cluster: Cluster, body: dict[str, Any]) -> httpx.Response:
    """POST an order on a fresh connection, so the kernel picks any replica."""
    with httpx.Client(timeout=10) as client:
        return client.post(f"{cluster.public_url}/orders", json=body)


def burst(cluster: Cluster, prefix: str, sku: str) -> list[httpx.Response]:
    """Send BURST single-unit orders for `sku` at loc-1 all at once."""
    bodies = [order_body(f"{prefix}-{i}", sku) for i in range(BURST)]
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        return list(pool.map(lambda body: place(cluster, body), bodies))


def view(cluster: Cluster, replica: int, sku: str, channel: str = "web") -> dict[str, Any]:
    response = httpx.get(f"{cluster.admin_url(replica)}/stock/{sku}", params={"channel": channel})
    response.raise_for_status()
    return dict(response.json())


def test_v1_burst_on_a_scarce_sku_never_oversells(v1_cluster: Cluster) -> None:
    before = truth(v1_cluster, "SKU-00001")["loc-1"]
    codes = [r.status_code for r in burst(v1_cluster, "v1-burst", "SKU-00001")]
    after = truth(v1_cluster, "SKU-00001")["loc-1"]
    assert set(codes) <= {201, 409}
    assert codes.count(201) == before["available"]
    assert after["available"] == 0
    assert after["on_hand"] == after["available"] + after["reserved"] + after["committed"]


def test_v2_burst_on_a_scarce_sku_oversells(v2_cluster: Cluster) -> None:
    before = truth(v2_cluster, "SKU-00001")["loc-1"]
    codes = [r.status_code for r in burst(v2_cluster, "v2-burst", "SKU-00001")]
    after = truth(v2_cluster, "SKU-00001")["loc-1"]
    assert codes.count(201) > before["available"]
    assert after["available"] < 0
    assert after["on_hand"] == after["available"] + after["reserved"] + after["committed"]


def test_the_same_idempotency_key_places_one_order(v1_cluster: Cluster) -> None:
    before = truth(v1_cluster, "SKU-00002")["loc-1"]["available"]
    body = order_body("dup-key", "SKU-00002", qty=2)
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: place(v1_cluster, body), range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert {r.json()["order_id"] for r in responses} == {responses[0].json()["order_id"]}
    assert truth(v1_cluster, "SKU-00002")["loc-1"]["available"] == before - 2


def test_orders_are_found_by_id_and_by_key_on_every_replica(v1_cluster: Cluster) -> None:
    created = place(v1_cluster, order_body("lookup-key", "SKU-00007", location=None)).json()
    for replica in (0, 1):
        by_id = httpx.get(f"{v1_cluster.admin_url(replica)}/orders/{created['order_id']}")
        by_key = httpx.get(
            f"{v1_cluster.admin_url(replica)}/orders", params={"idempotency_key": "lookup-key"}
        )
        assert by_id.json() == by_key.json() == created
    assert httpx.get(f"{v1_cluster.public_url}/orders/ord-nope").status_code == 404
    missing = httpx.get(f"{v1_cluster.public_url}/orders", params={"idempotency_key": "nope"})
    assert missing.status_code == 404


def test_cancel_releases_stock_and_is_idempotent(v1_cluster: Cluster) -> None:
    before = truth(v1_cluster, "SKU-00003")["loc-1"]["available"]
    order = place(v1_cluster, order_body("cancel-me", "SKU-00003", qty=2)).json()
    assert truth(v1_cluster, "SKU-00003")["loc-1"]["available"] == before - 2
    url = f"{v1_cluster.public_url}/orders/{order['order_id']}/cancel"
    first, second = httpx.post(url), httpx.post(url)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"order_id": order["order_id"], "status": "cancelled"}
    assert truth(v1_cluster, "SKU-00003")["loc-1"]["available"] == before
    assert httpx.get(f"{v1_cluster.public_url}/orders/{order['order_id']}").json()["status"] == (
        "cancelled"
    )


def test_cancel_refuses_unknown_and_rejected_orders(v1_cluster: Cluster) -> None:
    rejected = place(v1_cluster, order_body("too-many", "SKU-00003", qty=1000))
    assert rejected.status_code == 409
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reason"] == "out_of_stock"
    assert rejected.json()["sku"] == "SKU-00003"
    url = f"{v1_cluster.public_url}/orders/{rejected.json()['order_id']}/cancel"
    assert httpx.post(url).status_code == 409
    assert httpx.post(f"{v1_cluster.public_url}/orders/ord-nope/cancel").status_code == 404


def test_channel_views_on_every_replica_converge_to_inventory(v1_cluster: Cluster) -> None:
    assert place(v1_cluster, order_body("converge", "SKU-00004", qty=2)).status_code == 201
    expected = {loc: c["available"] for loc, c in truth(v1_cluster, "SKU-00004").items()}
    for replica in (0, 1):
        for channel in ("web", "app", "store"):

            def converged(replica: int = replica, channel: str = channel) -> bool:
                return bool(
                    view(v1_cluster, replica, "SKU-00004", channel)["locations"] == expected
                )

            assert wait_until(converged), (replica, channel)


def test_marketplace_view_lags_behind_the_web_view(v1_cluster: Cluster) -> None:
    sku = "SKU-00005"
    first = view(v1_cluster, 0, sku, "marketplace")
    # Start right after a marketplace refresh, so the next one is ~1 s away.
    assert wait_until(lambda: view(v1_cluster, 0, sku, "marketplace")["as_of"] != first["as_of"])
    stale = view(v1_cluster, 0, sku, "marketplace")["locations"]
    assert place(v1_cluster, order_body("mkt", sku)).status_code == 201
    fresh = {loc: c["available"] for loc, c in truth(v1_cluster, sku).items()}
    assert wait_until(lambda: view(v1_cluster, 0, sku, "web")["locations"] == fresh)
    assert view(v1_cluster, 0, sku, "marketplace")["locations"] == stale != fresh
    assert wait_until(lambda: view(v1_cluster, 0, sku, "marketplace")["locations"] == fresh)


def test_both_replicas_answer_on_the_one_public_port(v1_cluster: Cluster) -> None:
    seen = set()
    for _ in range(40):
        with httpx.Client() as client:  # a new connection each time
            seen.add(client.get(f"{v1_cluster.public_url}/healthz").json()["replica"])
    assert seen == {1, 2}


def _median_placement_seconds(cluster: Cluster, prefix: str) -> float:
    durations = []
    for i in range(5):
        start = time.perf_counter()
        place(cluster, order_body(f"{prefix}-{i}", f"SKU-{10 + i:05d}", location=None))
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def test_v2_places_orders_slower_than_v1(v1_cluster: Cluster, v2_cluster: Cluster) -> None:
    v1 = _median_placement_seconds(v1_cluster, "speed")
    v2 = _median_placement_seconds(v2_cluster, "speed")
    assert v2 >= 0.2
    assert v1 < 0.15
    assert v2 > v1 + 0.1


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (
            {"idempotency_key": "b1", "channel": "fax", "lines": [{"sku": "SKU-00001", "qty": 1}]},
            "channel",
        ),
        (
            {"idempotency_key": "b2", "channel": "web", "lines": [{"sku": "SKU-00001", "qty": 0}]},
            "lines.0.qty",
        ),
        ({"idempotency_key": "b3", "channel": "web", "lines": []}, "lines"),
        ({"channel": "web", "lines": [{"sku": "SKU-00001", "qty": 1}]}, "idempotency_key"),
        (
            {"idempotency_key": "b5", "channel": "web", "lines": [{"sku": "SKU-99999", "qty": 1}]},
            "unknown sku",
        ),
        (
            {
                "idempotency_key": "b6",
                "channel": "web",
                "location": "loc-9",
                "lines": [{"sku": "SKU-00001", "qty": 1}],
            },
            "unknown location",
        ),
    ],
    ids=[
        "an unknown channel",
        "a zero quantity",
        "no lines",
        "no idempotency key",
        "an unknown sku",
        "an unknown location",
    ],
)
def test_invalid_orders_are_refused_with_422(
    v1_cluster: Cluster, body: dict[str, Any], complaint: str
) -> None:
    response = place(v1_cluster, body)
    assert response.status_code == 422
    assert complaint in response.text


def test_stock_endpoint_rejects_unknown_channel_and_sku(v1_cluster: Cluster) -> None:
    base = v1_cluster.admin_url(0)
    assert httpx.get(f"{base}/stock/SKU-00001", params={"channel": "fax"}).status_code == 422
    assert httpx.get(f"{base}/stock/SKU-99999").status_code == 404
    assert httpx.get(f"{v1_cluster.inventory_url}/stock/SKU-99999").status_code == 404


def test_metrics_use_route_templates(v1_cluster: Cluster) -> None:
    text = (
        httpx.get(f"{v1_cluster.admin_url(0)}/metrics").text
        + httpx.get(f"{v1_cluster.admin_url(1)}/metrics").text
    )
    assert 'route="/orders"' in text
    assert 'route="/stock/{sku}"' in text
    assert "oms_orders_total{" in text
    assert "oms_stock_view_seq " in text
    assert "oms_stock_view_lag_seconds_bucket" in text
    inventory = httpx.get(f"{v1_cluster.inventory_url}/metrics").text
    assert 'route="/stock/{sku}"' in inventory
    assert 'service="inventory"' in inventory


def test_the_event_stream_resumes_from_any_seq_without_gaps(v1_cluster: Cluster) -> None:
    seqs: list[int] = []
    with httpx.stream(
        "GET", f"{v1_cluster.inventory_url}/events", params={"after": 2}, timeout=5
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                seqs.append(int(line.split('"seq":')[1].split(",")[0]))
            if len(seqs) == 5:
                break
    assert seqs == [3, 4, 5, 6, 7]
