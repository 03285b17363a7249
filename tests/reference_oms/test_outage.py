"""What orders does while inventory is down, and how it recovers when inventory restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Cluster, start_cluster, wait_until

pytestmark = pytest.mark.integration

ORDER = {
    "idempotency_key": "during-outage",
    "channel": "app",
    "location": "loc-2",
    "lines": [{"sku": "SKU-00009", "qty": 1}],
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path, "v1", replicas=1)
    yield cluster
    cluster.stop()


def test_an_order_during_an_outage_is_an_error_and_its_retry_succeeds(cluster: Cluster) -> None:
    before = {**ORDER, "idempotency_key": "before-outage", "location": "loc-1"}
    assert httpx.post(f"{cluster.public_url}/orders", json=before).status_code == 201
    start = httpx.get(f"{cluster.inventory_url}/stock/SKU-00009").json()
    cluster.inventory.stop()

    failed = httpx.post(f"{cluster.public_url}/orders", json=ORDER, timeout=10)
    assert failed.status_code == 503
    assert failed.json()["status"] == "error"
    found = httpx.get(f"{cluster.public_url}/orders", params={"idempotency_key": "during-outage"})
    assert found.json()["status"] == "error"

    cluster.restart_inventory()
    retried = httpx.post(f"{cluster.public_url}/orders", json=ORDER, timeout=10)
    assert retried.status_code == 201
    assert retried.json()["order_id"] == failed.json()["order_id"]
    truth = httpx.get(f"{cluster.inventory_url}/stock/SKU-00009").json()
    # State survived the restart (loc-1 keeps the earlier order) and the retry applied once.
    assert truth["locations"]["loc-1"] == start["locations"]["loc-1"]
    assert truth["locations"]["loc-2"]["available"] == start["locations"]["loc-2"]["available"] - 1
    assert truth["seq"] == start["seq"] + 1

    # The replica's feed reconnected and resumed from its last seq.
    assert wait_until(
        lambda: httpx.get(f"{cluster.admin_url(0)}/healthz").json()["view_seq"] == truth["seq"]
    )
