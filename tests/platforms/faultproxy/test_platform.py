"""LocalPlatform with a fault proxy on orders -> inventory: wiring, supervision, real latency."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from platforms.faultproxy.client import FaultProxyClient, LeasedFault
from platforms.local import LocalPlatform, OmsConfig
from tests.platforms.conftest import REPO
from tests.platforms.helpers import EventRecorder, alive, healthz, wait_until

pytestmark = pytest.mark.integration  # every test runs the stand-in OMS as processes

LINK = "orders-inventory"


@pytest.fixture
def standin(standin_env: None, tmp_path: Path, events: EventRecorder) -> Iterator[LocalPlatform]:
    config = OmsConfig(replicas=1, module="standin_oms", fault_proxy=True)
    with LocalPlatform(config, tmp_path, on_event=events, poll_interval_s=0.05) as platform:
        yield platform


def _listen_port(control_url: str) -> int:
    with FaultProxyClient(control_url) as client:
        return int(client.state()["listen"].rsplit(":", 1)[1])


def test_orders_reach_inventory_through_the_proxy(
    standin: LocalPlatform, events: EventRecorder, tmp_path: Path
) -> None:
    proxies = standin.fault_proxies()
    assert list(proxies) == [LINK]
    control = proxies[LINK]
    assert control.startswith("http://127.0.0.1:")
    assert healthz(control) == {"status": "ok", "name": LINK}
    listen = _listen_port(control)
    inventory_port = int(standin.inventory_url.rsplit(":", 1)[1])
    with FaultProxyClient(control) as client:
        assert client.state()["upstream"] == f"127.0.0.1:{inventory_port}"
    assert f"--inventory-url http://127.0.0.1:{listen} " in (tmp_path / "orders-1.log").read_text()
    assert healthz(f"http://127.0.0.1:{listen}") == {"status": "ok"}  # the stand-in inventory
    assert events.of("platform_started")[0]["fault_proxies"] == proxies
    assert (tmp_path / f"faultproxy-{LINK}.log").read_text().count("forwarding") == 1


def test_a_killed_proxy_is_restarted_on_the_same_ports_without_its_faults(
    standin: LocalPlatform, events: EventRecorder
) -> None:
    control = standin.fault_proxies()[LINK]
    listen = _listen_port(control)
    with FaultProxyClient(control) as client:
        client.add("off", "down", lease_s=30)
        assert healthz(f"http://127.0.0.1:{listen}") is None

        standin.kill_replica(f"faultproxy-{LINK}", signal.SIGKILL)

        wait_until(lambda: events.of("replica_restarted", f"faultproxy-{LINK}"))
        wait_until(lambda: healthz(control), timeout_s=15)
        assert client.state()["toxics"] == []  # a restart reverts every fault
    assert healthz(f"http://127.0.0.1:{listen}") == {"status": "ok"}


def test_stop_takes_the_proxy_down_with_everything_else(standin_env: None, tmp_path: Path) -> None:
    config = OmsConfig(replicas=1, module="standin_oms", fault_proxy=True)
    with LocalPlatform(config, tmp_path) as platform:
        pids = [c.pid for c in psutil.Process().children()]
        assert len(alive(pids)) == 3  # inventory, the proxy, one replica
        assert platform.fault_proxies()
    assert alive(pids) == []


def test_without_fault_proxy_orders_talk_to_inventory_directly(
    standin_env: None, tmp_path: Path
) -> None:
    with LocalPlatform(OmsConfig(replicas=1, module="standin_oms"), tmp_path) as platform:
        assert platform.fault_proxies() == {}
        log = (tmp_path / "orders-1.log").read_text()
        assert f"--inventory-url {platform.inventory_url} " in log


# -- the real reference OMS ---------------------------------------------------------------


def _place(client: httpx.Client, sku: int) -> float:
    order = {
        "idempotency_key": str(uuid.uuid4()),
        "channel": "web",
        "location": None,
        "lines": [{"sku": f"SKU-{sku:05d}", "qty": 1}],
    }
    began = time.monotonic()
    response = client.post("/orders", json=order)
    elapsed = time.monotonic() - began
    assert response.status_code == 201, response.text
    return elapsed


@pytest.mark.skipif(
    not (REPO / "reference_oms" / "__main__.py").exists(), reason="no reference_oms"
)
def test_latency_on_orders_to_inventory_slows_placement_until_removed(tmp_path: Path) -> None:
    config = OmsConfig(replicas=2, skus=20, fault_proxy=True)
    with (
        LocalPlatform(config, tmp_path) as platform,
        httpx.Client(base_url=platform.base_url, trust_env=False, timeout=10) as orders,
        FaultProxyClient(platform.fault_proxies()[LINK]) as proxy,
    ):
        before = [_place(orders, sku) for sku in range(1, 6)]
        with LeasedFault(proxy, "slow-inventory", "latency", {"latency_ms": 300}, lease_s=5):
            during = [_place(orders, sku) for sku in range(6, 9)]
        after = [_place(orders, sku) for sku in range(9, 14)]
    print(
        "placement seconds, through the proxy:"
        f" before {[round(t, 4) for t in before]}"
        f" with 300 ms latency {[round(t, 4) for t in during]}"
        f" after {[round(t, 4) for t in after]}"
    )
    assert min(during) >= 0.3
    assert min(before) < 0.3 and min(after) < 0.3  # the best of five: fast without the toxic
