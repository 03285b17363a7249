"""``peakops collect`` against the real reference OMS over HTTP: orders move the lag
histograms without any drift; a frozen stock feed (the fault proxy between orders and
inventory blackholes it) makes every channel view drift beyond its allowance while the
truth moves, and the lag of the changes it finally shows is bounded from above by the
freeze; the canary orders and cleans up; SIGTERM exits 143.

Excerpts of what was scraped are printed (``pytest -s``)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from platforms.faultproxy.client import FaultProxyClient
from platforms.local import LocalPlatform, OmsConfig

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = ("web", "app", "store", "marketplace")

PLAN = """\
apiVersion: peakops/v1
name: collect-e2e
target:
  kind: url
  baseUrl: {base}
  truthUrl: {truth}
  probes: {{rate: 20, hotSkus: 2, viewStaleness: 2s}}
load: {{profile: constant, duration: 10s, baseline: 60}}
slos:
  objectives:
    - {{id: no-oversell, kind: oversell, max: 0}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def oms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    config = OmsConfig(replicas=1, skus=4, locations=1, fault_proxy=True, min_stock=500,
                       max_stock=600)  # fmt: skip
    with LocalPlatform(config, tmp_path_factory.mktemp("oms")) as platform:
        yield platform


class Scraper:
    def __init__(self, url: str) -> None:
        self.url = url
        self.text = ""

    def __call__(self) -> Scraper:
        self.text = httpx.get(self.url, timeout=5).text
        return self

    def value(self, name: str, **labels: str) -> float:
        for line in self.text.splitlines():
            if line.startswith(name + "{" if labels else name + " "):
                found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
                if not labels or found == labels:
                    return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name}{labels} not in the scrape")

    def excerpt(self, *names: str) -> str:
        return "\n".join(
            line for line in self.text.splitlines()
            if line.split("{")[0].split(" ")[0] in names
        )  # fmt: skip

    def until(self, ok: Callable[[Scraper], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not ok(self()):
            assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s\n{self.text}"
            time.sleep(0.2)


def start(plan: Path, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Scraper, Path]:
    port = free_port()
    err = tmp_path / "collect.stderr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "collect", "--plan", str(plan),
         "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err.open("wb"),
    )  # fmt: skip
    scrape = Scraper(f"http://127.0.0.1:{port}/metrics")
    deadline = time.monotonic() + 15
    while True:
        try:
            scrape()
            return proc, scrape, err
        except httpx.HTTPError:
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], err: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 143
    assert "Traceback" not in err.read_text()


def plan_for(oms: LocalPlatform, tmp_path: Path, extra: str = "") -> Path:
    plan = tmp_path / "peak.yaml"
    plan.write_text(PLAN.format(base=oms.base_url, truth=oms.inventory_url) + extra)
    return plan


def per_channel(scrape: Scraper, name: str, **labels: str) -> dict[str, float]:
    return {ch: scrape.value(name, channel=ch, **labels) for ch in CHANNELS}


def reserve(inventory: httpx.Client, sku: str, qty: int) -> None:
    body = {"order_id": f"e2e-{uuid.uuid4().hex[:8]}", "location": "loc-1",
            "lines": [{"sku": sku, "qty": qty}]}  # fmt: skip
    assert inventory.post("/reservations", json=body).raise_for_status().status_code == 200


LAG = "peakops_collect_convergence_lag_seconds"
OUTSIDE = "peakops_collect_view_outside_allowance_total"
DRIFT = "peakops_collect_view_drift_units"
PENDING = "peakops_collect_convergence_pending_seconds"


def test_orders_move_the_lag_and_a_frozen_view_drifts_beyond_its_allowance(
    oms: LocalPlatform, tmp_path: Path
) -> None:
    proc, scrape, err = start(plan_for(oms, tmp_path), tmp_path)
    proxy = FaultProxyClient(oms.fault_proxies()["orders-inventory"])
    try:
        # 1. orders through the OMS: every view converges, timed, and nothing drifts
        with httpx.Client(base_url=oms.base_url, timeout=5) as orders:
            for _ in range(6):
                body = {"idempotency_key": uuid.uuid4().hex, "channel": "web",
                        "lines": [{"sku": "SKU-00001", "qty": 1}]}  # fmt: skip
                assert orders.post("/orders", json=body).status_code == 201
                time.sleep(0.15)
        scrape.until(lambda s: min(per_channel(s, LAG + "_count", bound="upper").values()) >= 3,
                     8, "every channel timed the lag of the orders")  # fmt: skip
        print("\n-- after 6 orders --\n" + scrape.excerpt(LAG + "_count", LAG + "_sum", OUTSIDE))
        assert set(per_channel(scrape, OUTSIDE).values()) == {0.0}
        lags_before = per_channel(scrape, LAG + "_count", bound="upper")
        # 2. the stock feed freezes; the truth moves at inventory, under every view
        frozen_at = time.monotonic()
        proxy.add("freeze", "timeout", {"timeout_ms": 0}, stream="both", lease_s=15)
        with httpx.Client(base_url=oms.inventory_url, timeout=5) as inventory:
            for _ in range(5):
                reserve(inventory, "SKU-00002", 3)
                time.sleep(0.2)
            scrape.until(lambda s: min(per_channel(s, OUTSIDE).values()) > 0, 8,
                         "every frozen channel counted drift beyond its 2 s allowance")  # fmt: skip
            scrape.until(lambda s: min(per_channel(s, DRIFT).values()) >= 15, 4,
                         "the drift gauge shows the 15 units the views miss")  # fmt: skip
            print("\n-- frozen --\n" + scrape.excerpt(DRIFT, OUTSIDE, PENDING))
            assert min(per_channel(scrape, PENDING).values()) >= 2.0
            # 3. the feed heals; the next change makes the OMS reload its snapshot
            proxy.remove("freeze")
            frozen_s = time.monotonic() - frozen_at
            reserve(inventory, "SKU-00002", 1)
        scrape.until(lambda s: max(per_channel(s, PENDING).values()) == 0, 8,
                     "every view caught up")  # fmt: skip
        healed = scrape.excerpt(DRIFT, PENDING, LAG + "_bucket", LAG + "_count")
        print("\n-- healed --\n" + "\n".join(
            line for line in healed.splitlines()
            if "_bucket" not in line or re.search(r'le="(2.0|2.5|5.0)"', line)
        ))  # fmt: skip
        for channel in CHANNELS:
            count = scrape.value(LAG + "_count", channel=channel, bound="upper")
            assert count > lags_before[channel]
            # the freeze's changes: an upper bound beyond 2.5 s (the 5 s bucket or above)
            within = scrape.value(LAG + "_bucket", channel=channel, bound="upper", le="2.5")
            assert count - within >= 1, channel
            assert scrape.value(DRIFT, channel=channel) == 0
        assert frozen_s < 15
    finally:
        proxy.remove("freeze")
        stop(proc, err)


def test_the_canary_orders_cancels_and_leaves_the_stock_as_it_was(
    oms: LocalPlatform, tmp_path: Path
) -> None:
    def stock() -> int:
        data = httpx.get(f"{oms.inventory_url}/stock/SKU-00004", timeout=5).json()
        return int(data["locations"]["loc-1"]["available"])

    before = stock()
    extra = "collect: {canary: {every: 1s, sku: SKU-00004}}\n"
    proc, scrape, err = start(plan_for(oms, tmp_path, extra), tmp_path)
    ops = "peakops_collect_canary_operations_total"
    try:
        scrape.until(lambda s: s.value(ops, op="cancel", outcome="ok") >= 2, 10,
                     "two canary orders placed and cancelled")  # fmt: skip
        print(
            "\n-- canary --\n"
            + scrape.excerpt(
                ops,
                "peakops_collect_canary_open_orders",
                "peakops_collect_canary_duration_seconds_count",
            )
        )
        assert scrape.value(ops, op="place", outcome="fail") == 0
        assert scrape.value(ops, op="place", outcome="info") == 0
    finally:
        stop(proc, err)
    assert stock() == before  # every order it placed was cancelled
