"""A store node cut off from inventory, as real processes: it keeps selling, then catches up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Proc, free_port, start_process, wait_healthy, wait_until
from .tcp_link import TcpLink, tcp_link

pytestmark = pytest.mark.integration

SKU = "SKU-00002"
STOCK = 5  # every (sku, location) starts with this many units


def order(key: str, channel: str, qty: int) -> dict[str, Any]:
    lines = [{"sku": SKU, "qty": qty}]
    return {"idempotency_key": key, "channel": channel, "location": "store-1", "lines": lines}


@dataclass
class Outage:
    """Inventory, and a store node reaching it only through `link`."""

    workdir: Path
    inventory_port: int
    link: TcpLink
    store_port: int
    procs: list[Proc] = field(default_factory=list)

    @property
    def inventory_url(self) -> str:
        return f"http://127.0.0.1:{self.inventory_port}"

    @property
    def store_url(self) -> str:
        return f"http://127.0.0.1:{self.store_port}"

    def start_store(self) -> Proc:
        args = ["store", "--port", str(self.store_port), "--inventory-url", self.link.url]
        args += ["--db", str(self.workdir / "store.db"), "--location", "store-1"]
        proc = start_process(self.workdir, "store", args, f"{self.store_url}/healthz")
        self.procs.append(proc)
        return proc

    def truth(self) -> dict[str, int]:
        stock = httpx.get(f"{self.inventory_url}/stock/{SKU}").json()
        return dict(stock["locations"]["store-1"])

    def sell(self, key: str, qty: int = 1) -> httpx.Response:
        return httpx.post(f"{self.store_url}/orders", json=order(key, "store", qty), timeout=10)

    def outbox(self) -> dict[str, Any]:
        try:
            return dict(httpx.get(f"{self.store_url}/outbox", timeout=2).json())
        except httpx.HTTPError:
            return {}

    def drained(self) -> bool:
        outbox = self.outbox()
        return outbox.get("pending") == 0 and outbox.get("online") is True


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Outage]:
    port = free_port()
    args = ["inventory", "--port", str(port), "--db", str(tmp_path / "inventory.db")]
    args += ["--skus", "5", "--stores", "1", "--min-stock", str(STOCK), "--max-stock", str(STOCK)]
    inventory = start_process(tmp_path, "inventory", args, f"http://127.0.0.1:{port}/healthz")
    with tcp_link(port) as link:
        outage = Outage(tmp_path, port, link, free_port(), [inventory])
        try:
            wait_healthy([inventory])
            wait_healthy([outage.start_store()])
            yield outage
        finally:
            for proc in reversed(outage.procs):
                proc.stop()


def test_a_cut_off_store_sells_locally_then_forwards_every_sale_once(outage: Outage) -> None:
    assert outage.sell("before").status_code == 201  # online: inventory knows at once
    assert outage.truth()["available"] == STOCK - 1
    outage.link.cut()

    replies = [outage.sell(f"cut-{i}") for i in range(3)]
    assert [r.status_code for r in replies] == [201] * 3
    assert {(r.json()["status"], r.json()["forwarded"]) for r in replies} == {("confirmed", False)}
    outbox = outage.outbox()
    assert (outbox["online"], outbox["pending"], outbox["pending_units"]) == (False, 3, 3)
    assert outage.truth()["available"] == STOCK - 1
    assert outage.sell("cut-too-many", qty=2).status_code == 409  # 1 unit left locally

    outage.link.heal()
    assert wait_until(outage.drained, timeout=10), outage.outbox()
    after = outage.truth()
    assert after["available"] == STOCK - 4
    assert after["on_hand"] == after["available"] + after["reserved"] + after["committed"]
    repeat = outage.sell("cut-0")
    assert (repeat.status_code, repeat.json()["forwarded"]) == (200, True)
    assert outage.truth() == after


def test_a_store_restarted_during_the_outage_keeps_its_outbox(outage: Outage) -> None:
    outage.link.cut()
    assert [outage.sell(f"restart-{i}").status_code for i in range(2)] == [201, 201]
    outage.procs[-1].stop()
    restarted = outage.start_store()
    assert wait_until(lambda: outage.outbox().get("pending") == 2, timeout=10)
    assert outage.outbox()["online"] is False
    assert outage.truth()["available"] == STOCK

    outage.link.heal()
    assert wait_until(outage.drained, timeout=10), outage.outbox()
    assert outage.truth()["available"] == STOCK - 2
    wait_healthy([restarted])


def test_store_stock_sold_online_during_the_outage_is_oversold(outage: Outage) -> None:
    admin, public = free_port(), free_port()
    args = ["orders", "--port", str(public), "--admin-port", str(admin), "--version", "v1"]
    args += ["--inventory-url", outage.inventory_url, "--db", str(outage.workdir / "orders.db")]
    replica = start_process(
        outage.workdir, "orders", [*args, "--ship-from-store"], f"http://127.0.0.1:{admin}/healthz"
    )
    outage.procs.append(replica)
    wait_healthy([replica])
    outage.link.cut()

    assert outage.sell("till", qty=STOCK).status_code == 201
    online = httpx.post(f"http://127.0.0.1:{public}/orders", json=order("web", "web", STOCK))
    assert online.status_code == 201
    assert outage.truth()["available"] == 0  # drift during the outage: the queued units

    outage.link.heal()
    assert wait_until(outage.drained, timeout=10), outage.outbox()
    after = outage.truth()
    assert after["available"] == -STOCK
    assert after["on_hand"] == after["available"] + after["reserved"] + after["committed"]
